"""POST /api/v2/signingCert bodies: parsing and proof of possession (INTEROP §2.2).

Two shapes arrive:

* sigstore-python: `{"certificateSigningRequest": b64(PEM CSR)}` with the token in
  `Authorization: Bearer`. The CSR's self-signature is the proof of possession;
  its subject and requested extensions are ignored (a CSR asking for CA:TRUE
  gets the same leaf as any other).
* sigstore-js: `{"credentials": {"oidcIdentityToken": jwt}, "publicKeyRequest":
  {"publicKey": {"algorithm": "ECDSA", "content": PEM}, "proofOfPossession":
  b64(DER ECDSA-SHA256 signature)}}`. JS 3.x signs the `sub` claim for most
  issuers and JS 4.x signs `email` when it exists, so either is accepted.

Parsing never trusts the token: it is carried as `unverified_token` until the
caller has verified it, and only then is the proof checked against its claims.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Final, Literal

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

MAX_CSR_CHARS: Final = 16 * 1024
MAX_PUBLIC_KEY_CHARS: Final = 4 * 1024
MAX_PROOF_CHARS: Final = 1024
MAX_TOKEN_CHARS: Final = 16 * 1024
_CURVES: Final = (ec.SECP256R1, ec.SECP384R1)

RequestErrorCode = Literal[
    "malformed_request", "missing_token", "unsupported_key", "invalid_csr", "invalid_proof"
]


class RequestError(Exception):
    """A signing request was refused; `code` is stable, `message` is for people."""

    def __init__(self, code: RequestErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: RequestErrorCode = code
        self.message = message


@dataclass(frozen=True)
class SigningRequest:
    """A parsed request; exactly one of `csr` and `proof_of_possession` is set."""

    unverified_token: str
    public_key: ec.EllipticCurvePublicKey
    csr: x509.CertificateSigningRequest | None = None
    proof_of_possession: bytes | None = None


def parse_signing_request(body: object, authorization_header: str | None) -> SigningRequest:
    """Parse either request shape; raises RequestError. Verifies nothing yet."""
    if not isinstance(body, Mapping):
        raise RequestError("malformed_request", "the body must be a JSON object")
    unverified_token = _token(body, authorization_header)
    if "certificateSigningRequest" in body:
        csr = _csr(body["certificateSigningRequest"])
        return SigningRequest(unverified_token, _ec_key(csr.public_key()), csr=csr)
    if "publicKeyRequest" in body:
        public_key, proof = _public_key_request(body["publicKeyRequest"])
        return SigningRequest(unverified_token, public_key, proof_of_possession=proof)
    raise RequestError("malformed_request", "send certificateSigningRequest or publicKeyRequest")


def check_proof_of_possession(request: SigningRequest, verified_claims: Mapping[str, Any]) -> None:
    """Check that the requester holds the private key; raises RequestError.

    Call only after the token is verified: the PoP signs one of its claims.
    """
    if request.csr is not None:
        if not request.csr.is_signature_valid:
            raise RequestError("invalid_proof", "the CSR's signature does not verify")
        return
    proof = request.proof_of_possession or b""
    for claim in ("email", "sub"):
        value = verified_claims.get(claim)
        if isinstance(value, str) and value and _verifies(request.public_key, proof, value):
            return
    raise RequestError(
        "invalid_proof", "proofOfPossession must sign the token's email or sub claim"
    )


def _token(body: Mapping[str, Any], authorization_header: str | None) -> str:
    from_body = _body_token(body.get("credentials"))
    from_header = _bearer(authorization_header)
    if from_body and from_header and from_body != from_header:
        raise RequestError("malformed_request", "two different identity tokens were sent")
    token = from_body or from_header
    if not token:
        raise RequestError(
            "missing_token",
            "send the identity token as Authorization: Bearer or credentials.oidcIdentityToken",
        )
    if len(token) > MAX_TOKEN_CHARS:
        raise RequestError("malformed_request", "the identity token is too long")
    return token


def _body_token(credentials: object) -> str | None:
    if credentials is None:
        return None
    token = credentials.get("oidcIdentityToken") if isinstance(credentials, Mapping) else None
    if not isinstance(token, str):
        raise RequestError("malformed_request", "credentials.oidcIdentityToken must be a string")
    return token


def _bearer(header: str | None) -> str | None:
    if not header:
        return None
    scheme, _, token = header.strip().partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise RequestError("malformed_request", "Authorization must be 'Bearer <token>'")
    return token.strip()


def _csr(value: object) -> x509.CertificateSigningRequest:
    raw = _b64(value, "certificateSigningRequest", MAX_CSR_CHARS)
    try:
        if raw.lstrip().startswith(b"-----BEGIN"):
            return x509.load_pem_x509_csr(raw)
        return x509.load_der_x509_csr(raw)
    except ValueError:
        raise RequestError(
            "invalid_csr", "certificateSigningRequest is not a PKCS#10 CSR"
        ) from None


def _public_key_request(value: object) -> tuple[ec.EllipticCurvePublicKey, bytes]:
    if not isinstance(value, Mapping) or not isinstance(value.get("publicKey"), Mapping):
        raise RequestError("malformed_request", "publicKeyRequest.publicKey is missing")
    content = value["publicKey"].get("content")
    if not isinstance(content, str) or len(content) > MAX_PUBLIC_KEY_CHARS:
        raise RequestError("malformed_request", "publicKey.content must be a PEM public key")
    try:
        public_key = serialization.load_pem_public_key(content.encode("ascii"))
    except (ValueError, UnicodeEncodeError):
        raise RequestError("unsupported_key", "publicKey.content is not a PEM public key") from None
    proof = _b64(value.get("proofOfPossession"), "proofOfPossession", MAX_PROOF_CHARS)
    return _ec_key(public_key), proof


def _ec_key(key: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _CURVES):
        # Verifiers treat the leaf key as EC (INTEROP §1.5); refuse the rest early.
        raise RequestError("unsupported_key", "the key must be ECDSA P-256 or P-384")
    return key


def _b64(value: object, name: str, max_chars: int) -> bytes:
    if not isinstance(value, str) or not value or len(value) > max_chars:
        raise RequestError("malformed_request", f"{name} must be a base64 string")
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise RequestError("malformed_request", f"{name} is not valid base64") from None


def _verifies(key: ec.EllipticCurvePublicKey, signature: bytes, message: str) -> bool:
    try:
        key.verify(signature, message.encode("utf-8"), ec.ECDSA(hashes.SHA256()))
    except (InvalidSignature, ValueError):
        return False
    return True
