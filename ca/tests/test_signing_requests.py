"""Parsing POST /api/v2/signingCert bodies and checking proof of possession."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from cryptography.x509.oid import NameOID

from ca.core.sct import UnloggedPrecertSigner, public_key_sha256
from ca.core.signing_requests import (
    RequestError,
    SigningRequest,
    check_proof_of_possession,
    parse_signing_request,
)
from ca.core.x509 import Identity, KeyCertSigner, create_intermediate, create_root, issue_leaf

TOKEN = "header.payload.signature"
CLAIMS = {"sub": "user-123", "email": "alice@example.test", "email_verified": True}
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)


@pytest.fixture(scope="module")
def key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def csr_pem(key: Any, *, subject: x509.Name | None = None, ca: bool = False) -> bytes:
    """A CSR like sigstore-python's `_build_csr`, optionally with a greedy request."""
    builder = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(subject or x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True)
    )
    if ca:
        san = x509.SubjectAlternativeName([x509.RFC822Name("root@evil.test")])
        builder = builder.add_extension(san, critical=False)
    return builder.sign(key, hashes.SHA256()).public_bytes(serialization.Encoding.PEM)


def python_body(pem: bytes) -> dict[str, Any]:
    return {"certificateSigningRequest": base64.b64encode(pem).decode()}


def js_body(key: ec.EllipticCurvePrivateKey, signed: str, token: str = TOKEN) -> dict[str, Any]:
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    proof = key.sign(signed.encode(), ec.ECDSA(hashes.SHA256()))
    return {
        "credentials": {"oidcIdentityToken": token},
        "publicKeyRequest": {
            "publicKey": {"algorithm": "ECDSA", "content": public_pem.decode()},
            "proofOfPossession": base64.b64encode(proof).decode(),
        },
    }


def refused(body: object, header: str | None = f"Bearer {TOKEN}") -> str:
    with pytest.raises(RequestError) as info:
        request = parse_signing_request(body, header)
        check_proof_of_possession(request, CLAIMS)
    return info.value.code


# --- sigstore-python: CSR ---------------------------------------------------------


def test_csr_happy_path(key: ec.EllipticCurvePrivateKey) -> None:
    request = parse_signing_request(python_body(csr_pem(key)), f"Bearer {TOKEN}")

    assert request.unverified_token == TOKEN
    assert public_key_sha256(request.public_key) == public_key_sha256(key.public_key())
    assert request.csr is not None and request.proof_of_possession is None
    check_proof_of_possession(request, CLAIMS)


def test_csr_as_base64_der_is_accepted_too(key: ec.EllipticCurvePrivateKey) -> None:
    der = x509.load_pem_x509_csr(csr_pem(key)).public_bytes(serialization.Encoding.DER)

    request = parse_signing_request(python_body(der), f"bearer {TOKEN}")

    check_proof_of_possession(request, CLAIMS)


def test_csr_with_a_bad_signature(key: ec.EllipticCurvePrivateKey) -> None:
    der = bytearray(x509.load_pem_x509_csr(csr_pem(key)).public_bytes(serialization.Encoding.DER))
    der[-5] ^= 0x01  # inside the ECDSA signature's integers

    assert refused(python_body(bytes(der))) == "invalid_proof"


def test_csr_naming_another_key_than_it_was_signed_with(key: ec.EllipticCurvePrivateKey) -> None:
    def spki(k: ec.EllipticCurvePrivateKey) -> bytes:
        return k.public_key().public_bytes(
            serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    other = ec.generate_private_key(ec.SECP256R1())
    der = x509.load_pem_x509_csr(csr_pem(key)).public_bytes(serialization.Encoding.DER)
    # P-256 SPKIs all have the same length, so the swap keeps the DER well formed.
    swapped = der.replace(spki(key), spki(other))
    assert swapped != der

    assert refused(python_body(swapped)) == "invalid_proof"


def test_csr_asking_for_ca_true_gets_an_ordinary_leaf(key: ec.EllipticCurvePrivateKey) -> None:
    greedy = csr_pem(
        key, subject=x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "evil CA")]), ca=True
    )
    request = parse_signing_request(python_body(greedy), f"Bearer {TOKEN}")
    check_proof_of_possession(request, CLAIMS)

    leaf = issue_for(request)

    assert leaf.subject == x509.Name([])
    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.BasicConstraints)
    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    assert list(san) == [x509.RFC822Name("alice@example.test")]
    assert public_key_sha256(leaf.public_key()) == public_key_sha256(key.public_key())  # type: ignore[arg-type]


def issue_for(request: SigningRequest) -> x509.Certificate:
    root_signer = KeyCertSigner(ec.generate_private_key(ec.SECP256R1()))
    inter_key = ec.generate_private_key(ec.SECP256R1())
    window = {"not_before": NOW - timedelta(days=1), "not_after": NOW + timedelta(days=30)}
    root = create_root("root", "test", root_signer, **window)
    inter = create_intermediate(
        root, root_signer, "inter", "test", inter_key.public_key(), **window
    )
    return issue_leaf(
        Identity("email", "alice@example.test", "https://idp.example.test"),
        request.public_key,
        inter,
        KeyCertSigner(inter_key),
        UnloggedPrecertSigner(ec.generate_private_key(ec.SECP256R1())),
        now=NOW,
    )


def test_csr_with_an_rsa_key_is_refused() -> None:
    rsa_key = rsa.generate_private_key(65537, 2048)

    assert refused(python_body(csr_pem(rsa_key))) == "unsupported_key"


def test_garbage_csr() -> None:
    assert refused(python_body(b"-----BEGIN CERTIFICATE REQUEST-----\nAAAA\n")) == "invalid_csr"
    assert refused({"certificateSigningRequest": "%%%"}) == "malformed_request"


# --- sigstore-js: publicKeyRequest --------------------------------------------------


def test_pop_over_email(key: ec.EllipticCurvePrivateKey) -> None:
    request = parse_signing_request(js_body(key, "alice@example.test"), None)

    assert request.unverified_token == TOKEN
    assert request.csr is None
    check_proof_of_possession(request, CLAIMS)


def test_pop_over_sub(key: ec.EllipticCurvePrivateKey) -> None:
    request = parse_signing_request(js_body(key, "user-123"), None)

    check_proof_of_possession(request, CLAIMS)


def test_pop_over_sub_when_there_is_no_email(key: ec.EllipticCurvePrivateKey) -> None:
    request = parse_signing_request(js_body(key, "user-123"), None)

    check_proof_of_possession(request, {"sub": "user-123"})


def test_pop_by_another_key(key: ec.EllipticCurvePrivateKey) -> None:
    body = js_body(key, "alice@example.test")
    impostor = js_body(ec.generate_private_key(ec.SECP256R1()), "alice@example.test")
    body["publicKeyRequest"]["proofOfPossession"] = impostor["publicKeyRequest"][
        "proofOfPossession"
    ]

    assert refused(body, None) == "invalid_proof"


def test_pop_over_some_other_string(key: ec.EllipticCurvePrivateKey) -> None:
    assert refused(js_body(key, "mallory@example.test"), None) == "invalid_proof"


def test_pop_that_is_not_a_signature(key: ec.EllipticCurvePrivateKey) -> None:
    body = js_body(key, "user-123")
    body["publicKeyRequest"]["proofOfPossession"] = base64.b64encode(b"junk").decode()

    assert refused(body, None) == "invalid_proof"


def test_rsa_public_key_is_refused(key: ec.EllipticCurvePrivateKey) -> None:
    body = js_body(key, "user-123")
    rsa_pem = (
        rsa.generate_private_key(65537, 2048)
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    body["publicKeyRequest"]["publicKey"]["content"] = rsa_pem.decode()

    assert refused(body, None) == "unsupported_key"


def test_p384_public_key_is_accepted() -> None:
    key = ec.generate_private_key(ec.SECP384R1())

    check_proof_of_possession(parse_signing_request(js_body(key, "user-123"), None), CLAIMS)


# --- tokens and shapes --------------------------------------------------------------


def test_token_missing(key: ec.EllipticCurvePrivateKey) -> None:
    assert refused(python_body(csr_pem(key)), None) == "missing_token"


def test_two_different_tokens(key: ec.EllipticCurvePrivateKey) -> None:
    assert refused(js_body(key, "user-123"), "Bearer another.token.here") == "malformed_request"


def test_same_token_in_header_and_body_is_fine(key: ec.EllipticCurvePrivateKey) -> None:
    parse_signing_request(js_body(key, "user-123"), f"Bearer {TOKEN}")


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   "])
def test_bad_authorization_header(key: ec.EllipticCurvePrivateKey, header: str) -> None:
    assert refused(python_body(csr_pem(key)), header) == "malformed_request"


@pytest.mark.parametrize(
    "body",
    [
        [],
        "text",
        {},
        {"publicKeyRequest": "nope"},
        {"publicKeyRequest": {"publicKey": {"content": 7}}},
        {"credentials": "token", "certificateSigningRequest": "AAAA"},
    ],
)
def test_malformed_bodies(body: object) -> None:
    assert refused(body) == "malformed_request"


def test_oversized_token(key: ec.EllipticCurvePrivateKey) -> None:
    assert refused(python_body(csr_pem(key)), "Bearer " + "a" * 20_000) == "malformed_request"
