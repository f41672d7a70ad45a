"""POST /api/v2/signingCert: both request shapes, the leaf profile, CT logging, and every
bad token and bad request (4xx, no certificate, nothing logged)."""

from __future__ import annotations

import base64
import json
from typing import Any

import jwt
import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from ca.core import oids
from ca.models import IssuedCertificate
from tlog.models import Entry, Log

URL = "/api/v2/signingCert"


def csr_body(key: ec.EllipticCurvePrivateKey, *, ca: bool = False) -> dict[str, Any]:
    """What sigstore-python sends: base64 of the PEM of a CSR with an empty subject."""
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    pem = csr.public_bytes(serialization.Encoding.PEM)
    return {"certificateSigningRequest": base64.b64encode(pem).decode()}


def pop_body(key: ec.EllipticCurvePrivateKey, token: str, over: str) -> dict[str, Any]:
    """What sigstore-js sends: the public key and a signature over `email` or `sub`."""
    pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    proof = key.sign(over.encode(), ec.ECDSA(hashes.SHA256()))
    return {
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": pem.decode()},
            "proofOfPossession": base64.b64encode(proof).decode(),
        },
    }


def post(client, body: Any, token: str | None = None, **extra: Any):
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(URL, data=data, content_type="application/json", **headers, **extra)


def chain_of(response) -> list[x509.Certificate]:
    pems = response.json()["signedCertificateEmbeddedSct"]["chain"]["certificates"]
    for pem in pems:
        assert pem.endswith("-----END CERTIFICATE-----\n") and "\r" not in pem
    return [x509.load_pem_x509_certificate(p.encode()) for p in pems]


def ct_size() -> int:
    return Log.objects.get(kind=Log.Kind.CT, state="active").tree_size


def test_csr_request_issues_a_logged_leaf(client, ca_instance, leaf_key):
    r = post(
        client,
        csr_body(leaf_key),
        ca_instance.token(),
        HTTP_ACCEPT="application/pem-certificate-chain",
    )
    assert r.status_code == 201, r.content
    leaf, intermediate, root = chain_of(r)
    assert leaf.public_key() == leaf_key.public_key()
    assert leaf.subject == x509.Name([])
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical and san.value.get_values_for_type(x509.RFC822Name) == ["alice@example.test"]
    assert leaf.extensions.get_extension_for_oid(oids.ISSUER_V1).value.value == (
        ca_instance.url.encode()
    )
    lifetime = leaf.not_valid_after_utc - leaf.not_valid_before_utc
    assert lifetime.total_seconds() == 600
    assert leaf.issuer == intermediate.subject and intermediate.issuer == root.subject
    # Logged in the CT log before it was returned, and recorded for search.
    record = IssuedCertificate.objects.get(serial_hex=format(leaf.serial_number, "x"))
    assert record.san_value == "alice@example.test" and record.ct_entry.log.kind == "ct"
    scts = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    assert len(scts.value) == 1
    ct_log = Log.objects.get(kind="ct")
    assert scts.value[0].log_id == ct_log.log_id


def test_sigstore_python_accepts_the_sct(client, ca_instance, leaf_key):
    from sigstore._internal.sct import verify_sct
    from sigstore._internal.trust import CTKeyring, Keyring
    from sigstore_models.common import v1 as common_v1

    leaf, intermediate, _root = chain_of(post(client, csr_body(leaf_key), ca_instance.token()))
    ct_log = Log.objects.get(kind="ct")
    keyring = CTKeyring(
        Keyring(
            [
                common_v1.PublicKey(
                    raw_bytes=base64.b64encode(bytes(ct_log.public_key_der)),
                    key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
                )
            ]
        )
    )
    verify_sct(leaf, [intermediate], keyring)


@pytest.mark.parametrize("over", ["email", "sub"])
def test_js_request_with_proof_over_email_or_sub(client, ca_instance, leaf_key, over):
    token = ca_instance.token()
    claim = ca_instance.claims()[over]
    r = post(client, pop_body(leaf_key, token, claim))
    assert r.status_code == 201, r.content
    assert chain_of(r)[0].public_key() == leaf_key.public_key()


def test_proof_of_possession_by_another_key_is_refused(client, ca_instance, leaf_key):
    token = ca_instance.token()
    body = pop_body(leaf_key, token, "alice@example.test")
    other = ec.generate_private_key(ec.SECP256R1())
    body["publicKeyRequest"]["proofOfPossession"] = base64.b64encode(
        other.sign(b"alice@example.test", ec.ECDSA(hashes.SHA256()))
    ).decode()
    before = (IssuedCertificate.objects.count(), ct_size())
    r = post(client, body)
    assert r.status_code == 400 and r.json()["code"] == "invalid_proof"
    assert (IssuedCertificate.objects.count(), ct_size()) == before


def test_csr_asking_for_ca_gets_a_plain_leaf(client, ca_instance, leaf_key):
    r = post(client, csr_body(leaf_key, ca=True), ca_instance.token())
    leaf = chain_of(r)[0]
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    usage = leaf.extensions.get_extension_for_class(x509.KeyUsage).value
    assert usage.digital_signature and not usage.key_cert_sign


def _hs256_with_public_key(issuer) -> str:
    """The classic algorithm-confusion attack: HMAC keyed with the public key PEM."""
    public_pem = issuer.rsa_key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    header = base64.urlsafe_b64encode(b'{"alg":"HS256","kid":"k1","typ":"JWT"}').rstrip(b"=")
    payload = base64.urlsafe_b64encode(json.dumps(issuer.claims()).encode()).rstrip(b"=")
    import hmac

    signature = hmac.new(public_pem, header + b"." + payload, "sha256").digest()
    return b".".join([header, payload, base64.urlsafe_b64encode(signature).rstrip(b"=")]).decode()


def _alg_none(issuer) -> str:
    return jwt.encode(issuer.claims(), key=None, algorithm="none")


def _other_key(issuer) -> str:
    from cryptography.hazmat.primitives.asymmetric import rsa

    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return jwt.encode(issuer.claims(), key, algorithm="RS256", headers={"kid": "k1"})


BAD_TOKENS = {
    "expired": (lambda i: i.token(iat=1_600_000_000, exp=1_600_000_300), 401),
    "future_iat": (lambda i: i.token(iat=4_000_000_000, exp=4_000_000_300), 401),
    "wrong_aud": (lambda i: i.token(aud="not-sigstore"), 401),
    "unknown_iss": (lambda i: i.token(iss="https://evil.example.test"), 401),
    "alg_none": (_alg_none, 401),
    "hs256_with_public_key": (_hs256_with_public_key, 401),
    "wrong_key_same_kid": (_other_key, 401),
    "unknown_kid": (lambda i: i.token(headers={"kid": "nope"}), 401),
    "email_unverified": (lambda i: i.token(email_verified=False), 400),
    "no_email": (lambda i: i.token(email=None), 400),
    "ten_thousand_dots": (lambda i: "." * 10_000, 401),
    "one_mebibyte": (lambda i: "a" * (1 << 20), None),
    "garbage": (lambda i: "not-a-jwt", 401),
}


@pytest.mark.parametrize("case", sorted(BAD_TOKENS))
def test_bad_tokens_get_4xx_and_no_certificate(client, ca_instance, leaf_key, case):
    make, status = BAD_TOKENS[case]
    before = (IssuedCertificate.objects.count(), ct_size(), Entry.objects.count())
    r = post(client, csr_body(leaf_key), make(ca_instance))
    assert 400 <= r.status_code < 500, r.content
    if status:
        assert r.status_code == status, r.content
    assert set(r.json()) == {"code", "message"}
    assert (IssuedCertificate.objects.count(), ct_size(), Entry.objects.count()) == before


@pytest.mark.parametrize(
    "body",
    [
        b"{not json",
        b"[]",
        {},
        {"certificateSigningRequest": "!!!"},
        {"certificateSigningRequest": base64.b64encode(b"not a csr").decode()},
        {"publicKeyRequest": {"publicKey": {"content": "x"}}},
    ],
)
def test_bad_requests_are_4xx(client, ca_instance, body):
    r = post(client, body, ca_instance.token())
    assert 400 <= r.status_code < 500
    assert set(r.json()) == {"code", "message"}


def test_missing_token_is_401_or_400(client, ca_instance, leaf_key):
    r = post(client, csr_body(leaf_key))
    assert r.status_code in (400, 401) and set(r.json()) == {"code", "message"}


def test_csr_with_a_bad_signature_is_refused(client, ca_instance, leaf_key):
    body = csr_body(leaf_key)
    pem = base64.b64decode(body["certificateSigningRequest"])
    der = x509.load_pem_x509_csr(pem).public_bytes(serialization.Encoding.DER)
    tampered = der[:-5] + bytes([der[-5] ^ 1]) + der[-4:]
    body["certificateSigningRequest"] = base64.b64encode(tampered).decode()
    r = post(client, body, ca_instance.token())
    assert r.status_code == 400


def test_jwks_is_not_refetched_for_every_unknown_kid(client, ca_instance, leaf_key):
    before = ca_instance.fetches
    for _ in range(5):
        post(client, csr_body(leaf_key), ca_instance.token(headers={"kid": "missing"}))
    assert ca_instance.fetches - before <= 1


def test_trust_bundle_and_configuration(client, ca_instance):
    bundle = client.get("/api/v2/trustBundle").json()
    (chain,) = [c["certificates"] for c in bundle["chains"]]
    certs = [x509.load_pem_x509_certificate(p.encode()) for p in chain]
    assert certs[0].issuer == certs[1].subject
    assert certs[1].subject.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
    issuers = client.get("/api/v2/configuration").json()["issuers"]
    assert {
        "issuerUrl": ca_instance.url,
        "audience": "sigstore",
        "challengeClaim": "email",
        "issuerType": "email",
    } in issuers


@pytest.mark.parametrize("iss", ["https://idp.test/\x00", "https://idp.test/\ud800", "x" * 600])
def test_an_unprintable_or_oversize_issuer_is_a_401(client, ca_instance, leaf_key, iss):
    """The token's (unverified) issuer is looked up before any signature check: text the
    database cannot take must be an unknown issuer, not a 500."""

    def b64(data: bytes) -> str:
        return base64.urlsafe_b64encode(data).rstrip(b"=").decode()

    payload = json.dumps({"iss": iss, "aud": "sigstore"}).encode()
    header = b64(json.dumps({"alg": "RS256", "typ": "JWT"}).encode())
    token = f"{header}.{b64(payload)}.{b64(b'sig')}"
    response = post(client, csr_body(leaf_key), token)
    assert response.status_code == 401, response.content
    assert response.json()["code"] == "unknown_issuer"
    assert not IssuedCertificate.objects.exists()
