"""Keys, certificates and request builders for the entry-kind tests.

Keys are made once per test run (RSA generation is the slow part). The
certificates follow the Fulcio leaf shape the parser cares about: an email or
URI SAN and the OIDC issuer in extension .1.1 (raw bytes) or .1.8 (DER).
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
from functools import cache

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import Prehashed
from cryptography.x509.oid import NameOID

from ca.core.oids import ISSUER_V1, ISSUER_V2

PrivateKey = ec.EllipticCurvePrivateKey | rsa.RSAPrivateKey | ed25519.Ed25519PrivateKey

ISSUER = "https://issuer.example"
EMAIL = "Alice@Example.com"
WORKFLOW = "https://github.com/org/repo/.github/workflows/release.yml@refs/heads/main"
INTOTO = "application/vnd.in-toto+json"
# RFC 8032 section 7.3, the Ed25519ph test vector ("abc").
RFC8032_PH_SEED = bytes.fromhex("833fe62409237b9d62ec77587520911e9a759cec1d19755b7da901b96dca3d42")
RFC8032_PH_PUBLIC = bytes.fromhex(
    "ec172b93ad5e563bf4932c70e1245034c35467ef2efd4d64ebf819683467e2bf"
)
RFC8032_PH_SIGNATURE = bytes.fromhex(
    "98a70222f0b8121aa9d30f813d683f809e462b469c7ff87639499bb94e6dae41"
    "31f85042463c2a355a2003d062adf5aaa10b8c61e636062aaad11c2a26083406"
)


@cache
def ec_key(curve_name: str = "secp256r1", n: int = 0) -> ec.EllipticCurvePrivateKey:
    curve = {"secp256r1": ec.SECP256R1, "secp384r1": ec.SECP384R1, "secp256k1": ec.SECP256K1}
    return ec.generate_private_key(curve[curve_name]())


@cache
def rsa_key(bits: int = 2048) -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


@cache
def ed25519_key(n: int = 0) -> ed25519.Ed25519PrivateKey:
    return ed25519.Ed25519PrivateKey.generate()


def _name(common_name: str) -> x509.Name:
    return x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, common_name)])


def leaf_certificate(
    key: PrivateKey,
    *,
    email: str | None = EMAIL,
    uri: str | None = None,
    issuer_v1: str | None = ISSUER,
    issuer_v2: str | None = None,
    serial: int = 0x1A2B3C,
) -> x509.Certificate:
    """A leaf signed by a throwaway CA key, shaped like a Fulcio certificate."""
    names: list[x509.GeneralName] = []
    if email:
        names.append(x509.RFC822Name(email))
    if uri:
        names.append(x509.UniformResourceIdentifier(uri))
    start = datetime.datetime(2024, 1, 1, tzinfo=datetime.UTC)
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(_name("sigportal test CA"))
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(start)
        .not_valid_after(start + datetime.timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName(names), critical=True)
    )
    if issuer_v1:
        builder = builder.add_extension(
            x509.UnrecognizedExtension(ISSUER_V1, issuer_v1.encode()), critical=False
        )
    if issuer_v2:
        der = bytes([0x0C, len(issuer_v2)]) + issuer_v2.encode()
        builder = builder.add_extension(x509.UnrecognizedExtension(ISSUER_V2, der), critical=False)
    return builder.sign(ec_key("secp256r1", 99), hashes.SHA256())


def cert_pem(certificate: x509.Certificate) -> bytes:
    return certificate.public_bytes(serialization.Encoding.PEM)


def key_pem(key: PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def crlf(pem: bytes) -> bytes:
    """The same PEM with CRLF line ends, as some Fulcio deployments hand it to sigstore-js."""
    return pem.replace(b"\n", b"\r\n")


def b64(data: bytes | str) -> str:
    return base64.b64encode(data.encode() if isinstance(data, str) else data).decode()


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


_HASHES = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}


def sign_digest(key: PrivateKey, digest: bytes, algorithm: str = "sha256") -> bytes:
    """A hashedrekord signature: over the digest, prehashed with `algorithm`."""
    prehashed = Prehashed(_HASHES[algorithm])
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(digest, ec.ECDSA(prehashed))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(digest, padding.PKCS1v15(), prehashed)
    raise TypeError("Ed25519ph signing is not available in cryptography")


def pae(payload_type: str, payload: bytes) -> bytes:
    kind = payload_type.encode()
    return b"DSSEv1 %d %b %d %b" % (len(kind), kind, len(payload), payload)


def sign_message(key: PrivateKey, message: bytes) -> bytes:
    """A DSSE signature: SHA-256 ECDSA or RSA PKCS#1 v1.5, or pure Ed25519."""
    if isinstance(key, ec.EllipticCurvePrivateKey):
        return key.sign(message, ec.ECDSA(hashes.SHA256()))
    if isinstance(key, rsa.RSAPrivateKey):
        return key.sign(message, padding.PKCS1v15(), hashes.SHA256())
    return key.sign(message)


def statement(*digests: str) -> bytes:
    subjects = [{"name": f"artifact-{i}", "digest": {"sha256": d}} for i, d in enumerate(digests)]
    document = {
        "_type": "https://in-toto.io/Statement/v1",
        "subject": subjects,
        "predicateType": "https://example.com/predicate/v1",
        "predicate": {},
    }
    return json.dumps(document).encode()


def hashedrekord_request(
    signature: bytes, pem: bytes, hex_digest: str, algorithm: str = "sha256"
) -> dict[str, object]:
    return {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {"content": b64(signature), "publicKey": {"content": b64(pem)}},
            "data": {"hash": {"algorithm": algorithm, "value": hex_digest}},
        },
    }


def signed_hashedrekord(key: PrivateKey, pem: bytes, artifact: bytes = b"artifact") -> dict:
    digest = hashlib.sha256(artifact).digest()
    return hashedrekord_request(sign_digest(key, digest), pem, digest.hex())


def envelope(
    payload: bytes, signers: list[PrivateKey], payload_type: str = INTOTO, keyid: str | None = None
) -> dict[str, object]:
    signatures: list[dict[str, str]] = []
    for signer in signers:
        signature = {"sig": b64(sign_message(signer, pae(payload_type, payload)))}
        if keyid is not None:
            signature["keyid"] = keyid
        signatures.append(signature)
    return {"payload": b64(payload), "payloadType": payload_type, "signatures": signatures}


def dsse_request(envelope_text: str, verifiers: list[bytes]) -> dict[str, object]:
    return {
        "apiVersion": "0.0.1",
        "kind": "dsse",
        "spec": {
            "proposedContent": {"envelope": envelope_text, "verifiers": [b64(v) for v in verifiers]}
        },
    }


def intoto_request(
    payload: bytes,
    signed: list[tuple[bytes, bytes, str]],
    payload_type: str = INTOTO,
    envelope_hash: str = "ab" * 32,
) -> dict[str, object]:
    """What @sigstore/cli `attest` sends: payload and sigs base64 twice, keys base64 PEM.

    `signed` holds (raw signature, PEM, keyid) triples; an empty keyid is left out,
    as sigstore-js does.
    """
    signatures = []
    for raw, pem, keyid in signed:
        item = {"sig": b64(b64(raw)), "publicKey": b64(pem)}
        if keyid:
            item["keyid"] = keyid
        signatures.append(item)
    return {
        "apiVersion": "0.0.2",
        "kind": "intoto",
        "spec": {
            "content": {
                "envelope": {
                    "payloadType": payload_type,
                    "payload": b64(b64(payload)),
                    "signatures": signatures,
                },
                "hash": {"algorithm": "sha256", "value": envelope_hash},
                "payloadHash": {"algorithm": "sha256", "value": sha256_hex(payload)},
            }
        },
    }
