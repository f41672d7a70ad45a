"""Verification material in log entries: PEM certificates and public keys.

Rekor reads a verifier with `pkg/pki/x509.NewPublicKey`: whitespace trimmed, one
PEM block of type CERTIFICATE or PUBLIC KEY, and it stores `CanonicalValue()`,
the PEM that Go's encoder writes back (64-character lines, LF, final newline).
`cryptography` writes the same bytes, so storing its PEM makes the stored body
equal to what sigstore-python rebuilds (INTEROP.md section 4.3: a CRLF PEM stored
verbatim made sigstore-python reject sigstore-js bundles).

Deliberate narrowing against Rekor: a concatenated certificate chain (Rekor takes
up to 10 and checks it) is refused, since Sigstore clients send the leaf alone;
PEM headers are refused; only ECDSA P-256/P-384/P-521, RSA 2048 to 8192 bits and
Ed25519 keys are accepted.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from dataclasses import dataclass

from cryptography import x509
from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, padding, rsa
from cryptography.hazmat.primitives.asymmetric.utils import (
    Prehashed,
    decode_dss_signature,
    encode_dss_signature,
)

from ca.core.oids import ISSUER_V1, ISSUER_V2
from tlog.kinds import ed25519ph
from tlog.kinds.common import HASH_ALGORITHMS, EntryError, SearchKey, b64encode

SupportedKey = ec.EllipticCurvePublicKey | rsa.RSAPublicKey | ed25519.Ed25519PublicKey

_CURVES = frozenset({"secp256r1", "secp384r1", "secp521r1"})
_RSA_MIN_BITS, _RSA_MAX_BITS = 2048, 8192
# One block; body lines of base64 characters, each ending in LF or CRLF.
_PEM_BLOCK = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n"
    rb"(?P<body>(?:[A-Za-z0-9+/=]+\r?\n)+)"
    rb"-----END (?P=label)-----"
)
# Go's P1363 fallback in sigstore's ECDSA verifier accepts r||s up to this length.
_P1363_MAX_BYTES = 132


@dataclass(frozen=True)
class Verifier:
    """A parsed verifier: the key, its certificate if any, and the PEM Rekor would store."""

    public_key: SupportedKey
    certificate: x509.Certificate | None
    canonical_pem: bytes

    @property
    def canonical_b64(self) -> str:
        """base64 of the canonical PEM: the string stored in the log entry."""
        return b64encode(self.canonical_pem)


def parse_verifier(unverified_pem: bytes, path: str) -> Verifier:
    """Parse one PEM certificate or PKIX public key; refuse anything else."""
    label, der = _single_pem_block(unverified_pem, path)
    if label == b"CERTIFICATE":
        return _certificate_verifier(der, path)
    if label == b"PUBLIC KEY":
        return _public_key_verifier(der, path)
    raise EntryError(
        "bad_public_key",
        f"{path} holds a PEM {label.decode()!r} block; expected CERTIFICATE or PUBLIC KEY",
    )


def _single_pem_block(unverified_pem: bytes, path: str) -> tuple[bytes, bytes]:
    text = unverified_pem.strip()
    if text.count(b"-----BEGIN ") > 1:
        raise EntryError(
            "bad_public_key",
            f"{path} holds several PEM blocks; send only the signing (leaf) certificate",
        )
    match = _PEM_BLOCK.fullmatch(text)
    if match is None:
        raise EntryError(
            "bad_public_key",
            f"{path} must be base64 of one PEM certificate or public key (no PEM headers)",
        )
    label, body = match["label"], re.sub(rb"\s", b"", match["body"])
    try:
        return label, base64.b64decode(body, validate=True)
    except (binascii.Error, ValueError):
        code = "bad_certificate" if label == b"CERTIFICATE" else "bad_public_key"
        raise EntryError(code, f"{path}: the PEM body is not valid base64") from None


def _certificate_verifier(der: bytes, path: str) -> Verifier:
    try:
        certificate = x509.load_der_x509_certificate(der)
        # cryptography parses lazily; touch what we use so a bad certificate fails here.
        public_key = certificate.public_key()
        _ = certificate.extensions
    except (
        ValueError,
        UnsupportedAlgorithm,
        x509.DuplicateExtension,
        x509.UnsupportedGeneralNameType,
    ) as exc:
        raise EntryError(
            "bad_certificate", f"{path} is not a parseable X.509 certificate: {exc}"
        ) from None
    key = _supported_key(public_key, f"{path} (certificate key)")
    pem = certificate.public_bytes(serialization.Encoding.PEM)
    return Verifier(public_key=key, certificate=certificate, canonical_pem=pem)


def _public_key_verifier(der: bytes, path: str) -> Verifier:
    try:
        public_key = serialization.load_der_public_key(der)
    except (ValueError, UnsupportedAlgorithm) as exc:
        raise EntryError(
            "bad_public_key", f"{path} is not a parseable PKIX public key: {exc}"
        ) from None
    key = _supported_key(public_key, path)
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return Verifier(public_key=key, certificate=None, canonical_pem=pem)


def _supported_key(key: object, path: str) -> SupportedKey:
    if isinstance(key, ec.EllipticCurvePublicKey):
        if key.curve.name not in _CURVES:
            raise EntryError(
                "bad_public_key",
                f"{path}: curve {key.curve.name} is not supported; use P-256, P-384 or P-521",
            )
        return key
    if isinstance(key, rsa.RSAPublicKey):
        if not _RSA_MIN_BITS <= key.key_size <= _RSA_MAX_BITS:
            raise EntryError(
                "bad_public_key",
                f"{path}: RSA key of {key.key_size} bits; "
                f"use {_RSA_MIN_BITS} to {_RSA_MAX_BITS} bits",
            )
        return key
    if isinstance(key, ed25519.Ed25519PublicKey):
        return key
    raise EntryError(
        "bad_public_key",
        f"{path}: {type(key).__name__} keys are not supported; use ECDSA, RSA or Ed25519",
    )


def _ecdsa_der(signature: bytes) -> bytes | None:
    """The DER form of an ECDSA signature sent as DER or as IEEE P1363 r||s.

    sigstore's Go ECDSA verifier (used by Rekor) tries ASN.1 first and falls
    back to P1363 for an even length up to 132 bytes; we accept the same.
    """
    try:
        decode_dss_signature(signature)
        return signature
    except ValueError:
        pass
    if not signature or len(signature) > _P1363_MAX_BYTES or len(signature) % 2:
        return None
    half = len(signature) // 2
    r, s = int.from_bytes(signature[:half], "big"), int.from_bytes(signature[half:], "big")
    return encode_dss_signature(r, s)


def verify_prehashed(
    verifier: Verifier, signature: bytes, digest: bytes, algorithm: str, path: str
) -> None:
    """Check a hashedrekord signature over a digest, or raise signature_invalid.

    As in Rekor: ECDSA and RSA PKCS#1 v1.5 (never PSS) sign the digest with the
    entry's hash algorithm; an Ed25519 key means Ed25519ph, which only takes SHA-512.
    """
    key = verifier.public_key
    if isinstance(key, ed25519.Ed25519PublicKey):
        if algorithm != "sha512":
            raise EntryError(
                "malformed_entry",
                f"{path}: an Ed25519 key signs hashedrekord entries as Ed25519ph, "
                f"which needs a sha512 digest, not {algorithm}",
            )
        valid = ed25519ph.verify(key.public_bytes_raw(), signature, digest)
    else:
        valid = _verify_with_cryptography(
            key, signature, digest, Prehashed(HASH_ALGORITHMS[algorithm])
        )
    if not valid:
        raise EntryError(
            "signature_invalid",
            f"{path} does not verify the {algorithm} digest with the given key",
        )


def verify_message(verifier: Verifier, signature: bytes, message: bytes) -> bool:
    """Check a signature over a whole message (a DSSE PAE) as Rekor does.

    Rekor loads these verifiers with SHA-256 whatever the key: ECDSA-SHA256 on
    any curve, RSA PKCS#1 v1.5 with SHA-256, and pure Ed25519.
    """
    key = verifier.public_key
    if isinstance(key, ed25519.Ed25519PublicKey):
        try:
            key.verify(signature, message)
        except InvalidSignature:
            return False
        return True
    return _verify_with_cryptography(key, signature, message, hashes.SHA256())


def _verify_with_cryptography(
    key: ec.EllipticCurvePublicKey | rsa.RSAPublicKey,
    signature: bytes,
    data: bytes,
    algorithm: hashes.HashAlgorithm | Prehashed,
) -> bool:
    try:
        if isinstance(key, ec.EllipticCurvePublicKey):
            der = _ecdsa_der(signature)
            if der is None:
                return False
            key.verify(der, data, ec.ECDSA(algorithm))
        else:
            key.verify(signature, data, padding.PKCS1v15(), algorithm)
    except InvalidSignature:
        return False
    return True


def key_fingerprint(key: SupportedKey) -> str:
    """ "sha256:<hex>" of the DER SubjectPublicKeyInfo: the "key" search value."""
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return "sha256:" + hashlib.sha256(der).hexdigest()


def verifier_search_keys(verifier: Verifier) -> list[SearchKey]:
    """The key fingerprint, and for a certificate its serial and identities."""
    keys = [SearchKey("key", key_fingerprint(verifier.public_key))]
    if verifier.certificate is not None:
        keys.extend(certificate_search_keys(verifier.certificate))
    return keys


def certificate_search_keys(certificate: x509.Certificate) -> list[SearchKey]:
    """Serial, SAN emails (lowercased, as Rekor indexes them) and URIs, OIDC issuer."""
    keys = [SearchKey("cert_serial", format(certificate.serial_number, "x"))]
    try:
        san = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        san = None
    if san is not None:
        keys += [SearchKey("email", e.lower()) for e in san.get_values_for_type(x509.RFC822Name)]
        keys += [
            SearchKey("uri", u) for u in san.get_values_for_type(x509.UniformResourceIdentifier)
        ]
    issuer = certificate_issuer(certificate)
    if issuer:
        keys.append(SearchKey("issuer", issuer))
    return keys


def certificate_issuer(certificate: x509.Certificate) -> str | None:
    """The OIDC issuer: extension .1.8 (DER UTF8String), else .1.1 (raw UTF-8 bytes)."""
    der_value = _extension_bytes(certificate, ISSUER_V2)
    if der_value is not None:
        issuer = _der_utf8string(der_value)
        if issuer:
            return issuer
    raw_value = _extension_bytes(certificate, ISSUER_V1)
    if raw_value is None:
        return None
    try:
        return raw_value.decode("utf-8") or None
    except UnicodeDecodeError:
        return None


def _extension_bytes(certificate: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes | None:
    try:
        value = certificate.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    return value.value if isinstance(value, x509.UnrecognizedExtension) else None


def _der_utf8string(der: bytes) -> str | None:
    if len(der) < 2 or der[0] != 0x0C:
        return None
    length, offset = der[1], 2
    if length & 0x80:
        count = length & 0x7F
        if not 0 < count <= 4 or len(der) < 2 + count:
            return None
        length, offset = int.from_bytes(der[2 : 2 + count], "big"), 2 + count
    if offset + length != len(der):
        return None
    try:
        return der[offset:].decode("utf-8")
    except UnicodeDecodeError:
        return None
