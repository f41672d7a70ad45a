"""Published trust configuration (parsed by sigstore-python's own strict models) and
the RFC 6962 read API of the CT log."""

from __future__ import annotations

import base64
import json
import struct

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import load_der_public_key

from ca import services as ca_services
from ca.tests.test_api_signing import csr_body, post
from sigportal.tests.openapi_check import answer_checker
from tlog.core import merkle
from tlog.models import Log


def test_client_trust_config_parses_in_sigstore_python(client, ca_instance, leaf_key):
    from sigstore.models import ClientTrustConfig

    post(client, csr_body(leaf_key), ca_instance.token())
    text = client.get("/api/v1/trust/client_trust_config.json").content.decode()
    config = ClientTrustConfig.from_json(text)  # strict: unknown keys and bad types fail
    root = config.trusted_root
    assert len(list(root.get_fulcio_certs())) == 2
    doc = json.loads(text)
    assert doc["signingConfig"]["caUrls"][0]["url"] == "http://127.0.0.1:8000"
    assert doc["signingConfig"]["caUrls"][0]["majorApiVersion"] == 1
    tlog = doc["trustedRoot"]["tlogs"][0]
    assert tlog["publicKey"]["validFor"]["start"].endswith("Z")
    rekor = Log.objects.get(kind="rekor")
    assert base64.b64decode(tlog["logId"]["keyId"]) == rekor.log_id
    for name in ("trusted_root.json", "signing_config.json"):
        assert client.get(f"/api/v1/trust/{name}").status_code == 200


def test_rolled_intermediate_keeps_the_old_one_trusted(client, ca_instance, leaf_key):
    old_leaf_chain = post(client, csr_body(leaf_key), ca_instance.token()).json()
    ca_services.intermediate_roll(actor="test")
    new = post(client, csr_body(leaf_key), ca_instance.token()).json()
    old_int = old_leaf_chain["signedCertificateEmbeddedSct"]["chain"]["certificates"][1]
    new_int = new["signedCertificateEmbeddedSct"]["chain"]["certificates"][1]
    assert old_int != new_int
    root = json.loads(client.get("/api/v1/trust/trusted_root.json").content)
    cas = root["certificateAuthorities"]
    assert len(cas) == 2 and "end" in cas[0]["validFor"] and "end" not in cas[1]["validFor"]
    roots = {c["certChain"]["certificates"][1]["rawBytes"] for c in cas}
    assert len(roots) == 1, "same root"


def _ct_key() -> ec.EllipticCurvePublicKey:
    key = load_der_public_key(bytes(Log.objects.get(kind="ct").public_key_der))
    assert isinstance(key, ec.EllipticCurvePublicKey)
    return key


def test_ct_read_api(client, ca_instance, leaf_key):
    leaves = []
    for _ in range(3):
        r = post(client, csr_body(leaf_key), ca_instance.token())
        leaves.append(r.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"][0])
    check = answer_checker(client)  # every answer below has the shape /api/schema/ says
    check(r, "/api/v2/signingCert", "post")
    for path in ["/api/v2/trustBundle", "/api/v2/configuration", "/ct/v1/get-sth"]:
        check(client.get(path), path)
    check(client.get("/ct/v1/get-entries?start=0&end=10"), "/ct/v1/get-entries")
    check(client.get("/ct/v1/get-sth-consistency?first=1&second=3"), "/ct/v1/get-sth-consistency")
    check(client.get("/ct/v1/get-roots"), "/ct/v1/get-roots")
    sth = client.get("/ct/v1/get-sth").json()
    assert sth["tree_size"] == 3
    signed = struct.pack(">BBQQ", 0, 1, sth["timestamp"], 3) + base64.b64decode(
        sth["sha256_root_hash"]
    )
    ds = base64.b64decode(sth["tree_head_signature"])
    assert ds[:2] == b"\x04\x03"
    _ct_key().verify(ds[4:], signed, ec.ECDSA(hashes.SHA256()))
    entries = client.get("/ct/v1/get-entries?start=0&end=10").json()["entries"]
    assert len(entries) == 3
    root = merkle.root_from_leaf_hashes(
        [merkle.leaf_hash(base64.b64decode(e["leaf_input"])) for e in entries]
    )
    assert base64.b64encode(root).decode() == sth["sha256_root_hash"]
    # extra_data: the precertificate (with the poison extension), then its chain.
    extra = base64.b64decode(entries[1]["extra_data"])
    n = int.from_bytes(extra[:3], "big")
    precert = x509.load_der_x509_certificate(extra[3 : 3 + n])
    assert precert.extensions.get_extension_for_class(x509.PrecertPoison).critical
    leaf = x509.load_pem_x509_certificate(leaves[1].encode())
    assert precert.serial_number == leaf.serial_number
    leaf_hash = merkle.leaf_hash(base64.b64decode(entries[1]["leaf_input"]))
    answer = client.get(
        "/ct/v1/get-proof-by-hash",
        {"hash": base64.b64encode(leaf_hash).decode(), "tree_size": 3},
    )
    check(answer, "/ct/v1/get-proof-by-hash")
    proof = answer.json()
    merkle.verify_inclusion(
        leaf_hash,
        proof["leaf_index"],
        3,
        [base64.b64decode(h) for h in proof["audit_path"]],
        root,
    )
    consistency = client.get("/ct/v1/get-sth-consistency?first=1&second=3").json()
    assert len(consistency["consistency"]) >= 1
    roots = client.get("/ct/v1/get-roots").json()["certificates"]
    assert len(roots) == 1


@pytest.mark.parametrize(
    "path",
    [
        "/ct/v1/get-entries?start=5&end=1",
        "/ct/v1/get-entries?start=99&end=100",
        "/ct/v1/get-entries?start=-1&end=1",
        "/ct/v1/get-sth-consistency?first=3&second=1",
        "/ct/v1/get-sth-consistency?first=1",
        "/ct/v1/get-proof-by-hash?hash=notbase64!&tree_size=1",
        "/ct/v1/get-proof-by-hash?hash=AAAA&tree_size=1",
        "/ct/v1/get-proof-by-hash?hash=" + "A" * 43 + "=&tree_size=1",
    ],
)
def test_ct_bad_queries_are_4xx(client, ca_instance, leaf_key, path):
    post(client, csr_body(leaf_key), ca_instance.token())
    r = client.get(path)
    assert 400 <= r.status_code < 500, (r.status_code, r.content)
    assert set(r.json()) == {"code", "message"}


def test_issued_certificates_are_searchable(client, ca_instance, leaf_key):
    r = post(client, csr_body(leaf_key), ca_instance.token())
    leaf = x509.load_pem_x509_certificate(
        r.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"][0].encode()
    )
    serial = format(leaf.serial_number, "x")
    (found,) = client.get("/api/v1/certificates", {"serial": serial}).json()
    assert found["identity"] == "alice@example.test" and found["issuer_url"] == ca_instance.url
    by_identity = client.get("/api/v1/certificates", {"identity": "alice@example.test"}).json()
    assert serial in [c["serial"] for c in by_identity]
    by_key = client.get("/api/v1/certificates", {"fingerprint": found["key_fingerprint"]}).json()
    assert [c["serial"] for c in by_key] == [serial]
    for bad in ({}, {"serial": "xyz"}, {"fingerprint": "abc"}, {"limit": 0}):
        r = client.get("/api/v1/certificates", bad)
        assert r.status_code == 400 and set(r.json()) == {"code", "message"}
