"""RFC 6962 v1 signed certificate timestamps for precertificates.

Only what Sigstore clients verify is built here: v1 SCTs over a *precertificate*
entry, signed with ECDSA P-256 / SHA-256 (sigstore-python refuses any other hash),
embedded in the final certificate as the 1.3.6.1.4.1.11129.2.4.2 extension.

Byte layouts (RFC 6962 §3.2 and §3.4, INTEROP §2.6)::

    digitally-signed =  0x00 version | 0x00 signature_type (certificate_timestamp)
                      | uint64 timestamp_ms | uint16 entry_type = 1 (precert_entry)
                      | issuer_key_hash[32] | uint24 len | TBSCertificate
                      | uint16 len | extensions

    MerkleTreeLeaf   =  0x00 version | 0x00 leaf_type (timestamped_entry)
                      | uint64 timestamp_ms | uint16 entry_type = 1
                      | issuer_key_hash[32] | uint24 len | TBSCertificate
                      | uint16 len | extensions

Both enums that differ in name are zero, so for a precertificate the signed data and
the Merkle leaf are the same bytes: a CT log that stores the leaf has stored exactly
what its SCT signature covers.
"""

from __future__ import annotations

import hashlib
import struct
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

SCT_VERSION_V1: Final = 0
HASH_SHA256: Final = 4
SIGNATURE_ECDSA: Final = 3
ENTRY_TYPE_PRECERT: Final = 1

_MAX_U16: Final = 0xFFFF
_MAX_U24: Final = 0xFFFFFF


@dataclass(frozen=True)
class SignedCertificateTimestamp:
    """One RFC 6962 v1 SCT as it travels inside the certificate extension."""

    log_id: bytes  # SHA-256 of the CT log key's DER SubjectPublicKeyInfo
    timestamp_ms: int
    signature: bytes  # DER ECDSA signature
    extensions: bytes = b""
    hash_alg: int = HASH_SHA256
    sig_alg: int = SIGNATURE_ECDSA

    def __post_init__(self) -> None:
        if len(self.log_id) != 32:
            raise ValueError("SCT log_id must be 32 bytes")
        if not 0 <= self.timestamp_ms < 2**64:
            raise ValueError("SCT timestamp out of range")
        if len(self.extensions) > _MAX_U16 or len(self.signature) > _MAX_U16:
            raise ValueError("SCT field too long")

    def to_tls(self) -> bytes:
        """The TLS-encoded `SignedCertificateTimestamp` structure."""
        return b"".join(
            [
                bytes([SCT_VERSION_V1]),
                self.log_id,
                struct.pack("!Q", self.timestamp_ms),
                _u16_prefixed(self.extensions),
                bytes([self.hash_alg, self.sig_alg]),
                _u16_prefixed(self.signature),
            ]
        )

    @classmethod
    def from_tls(cls, data: bytes) -> SignedCertificateTimestamp:
        """Parse one TLS-encoded v1 SCT; raises ValueError on anything else."""
        reader = _Reader(data)
        if reader.take(1)[0] != SCT_VERSION_V1:
            raise ValueError("only v1 SCTs are supported")
        log_id = reader.take(32)
        (timestamp_ms,) = struct.unpack("!Q", reader.take(8))
        extensions = reader.take_u16_prefixed()
        hash_alg, sig_alg = reader.take(2)
        signature = reader.take_u16_prefixed()
        reader.expect_end()
        return cls(log_id, timestamp_ms, signature, extensions, hash_alg, sig_alg)


def public_key_sha256(public_key: ec.EllipticCurvePublicKey) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo: RFC 6962's issuer_key_hash and key id."""
    spki = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return hashlib.sha256(spki).digest()


def ct_log_id(spki_der: bytes) -> bytes:
    """The RFC 6962 LogID: SHA-256 of the log key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(spki_der).digest()


def precert_signed_data(
    timestamp_ms: int, issuer_key_hash: bytes, tbs_precert: bytes, extensions: bytes = b""
) -> bytes:
    """The bytes an SCT signature covers for a precertificate entry (RFC 6962 §3.2)."""
    # signature_type certificate_timestamp(0) happens to share its byte with
    # leaf_type timestamped_entry(0): see the module docstring.
    return _timestamped_precert_entry(timestamp_ms, issuer_key_hash, tbs_precert, extensions)


def precert_merkle_leaf(
    timestamp_ms: int, issuer_key_hash: bytes, tbs_precert: bytes, extensions: bytes = b""
) -> bytes:
    """The RFC 6962 §3.4 MerkleTreeLeaf for a precertificate entry (the log's leaf data)."""
    return _timestamped_precert_entry(timestamp_ms, issuer_key_hash, tbs_precert, extensions)


def sign_sct(
    ct_key: ec.EllipticCurvePrivateKey,
    log_id: bytes,
    tbs_precert: bytes,
    issuer_key_hash: bytes,
    timestamp_ms: int,
) -> SignedCertificateTimestamp:
    """Sign a precertificate SCT with a P-256 CT log key (ECDSA, SHA-256)."""
    if not isinstance(ct_key.curve, ec.SECP256R1):
        # sigstore-python hashes a P-384 trusted-root key with SHA-384 but only
        # accepts SHA-256 SCTs, so any other curve can never verify there.
        raise ValueError("the CT log key must be ECDSA P-256")
    data = precert_signed_data(timestamp_ms, issuer_key_hash, tbs_precert)
    signature = ct_key.sign(data, ec.ECDSA(hashes.SHA256()))
    return SignedCertificateTimestamp(log_id, timestamp_ms, signature)


def verify_sct(
    sct: SignedCertificateTimestamp,
    ct_public_key: ec.EllipticCurvePublicKey,
    tbs_precert: bytes,
    issuer_key_hash: bytes,
) -> None:
    """Check an SCT against a CT log key; raises InvalidSignature or ValueError."""
    if sct.log_id != public_key_sha256(ct_public_key):
        raise ValueError("SCT log_id does not match the CT log key")
    if (sct.hash_alg, sct.sig_alg) != (HASH_SHA256, SIGNATURE_ECDSA):
        raise ValueError("SCT is not ECDSA with SHA-256")
    data = precert_signed_data(sct.timestamp_ms, issuer_key_hash, tbs_precert, sct.extensions)
    ct_public_key.verify(sct.signature, data, ec.ECDSA(hashes.SHA256()))


def encode_sct_list(scts: Sequence[SignedCertificateTimestamp]) -> bytes:
    """The extnValue contents of the SCT-list extension.

    RFC 6962 §3.3: the TLS `SignedCertificateTimestampList` wrapped in a DER OCTET
    STRING (which the certificate then wraps once more as extnValue).
    """
    if not scts:
        raise ValueError("an SCT list needs at least one SCT")
    inner = b"".join(_u16_prefixed(sct.to_tls()) for sct in scts)
    return asn1.encode_der(_u16_prefixed(inner))


def decode_sct_list(extension_value: bytes) -> list[SignedCertificateTimestamp]:
    """Inverse of encode_sct_list; raises ValueError on malformed input."""
    reader = _Reader(asn1.decode_der(bytes, extension_value))
    items = _Reader(reader.take_u16_prefixed())
    reader.expect_end()
    scts = []
    while not items.at_end():
        scts.append(SignedCertificateTimestamp.from_tls(items.take_u16_prefixed()))
    return scts


class UnloggedPrecertSigner:
    """Signs SCTs with a local CT key WITHOUT logging the precertificate.

    An SCT is a promise that the entry is in the log. This class breaks that
    promise on purpose, for unit tests and offline development only; the service
    must use the transparency log's CT logger, which sequences the entry first.
    It satisfies `ca.core.x509.PrecertLogger`.
    """

    def __init__(self, ct_key: ec.EllipticCurvePrivateKey) -> None:
        self._key = ct_key
        self._log_id = public_key_sha256(ct_key.public_key())

    def log_precert(
        self,
        tbs_precert: bytes,
        issuer_key_hash: bytes,
        timestamp_ms: int,
        precertificate: x509.Certificate | None = None,
    ) -> SignedCertificateTimestamp:
        """Sign (and pretend to log) a precertificate at the suggested time."""
        return sign_sct(self._key, self._log_id, tbs_precert, issuer_key_hash, timestamp_ms)


def _timestamped_precert_entry(
    timestamp_ms: int, issuer_key_hash: bytes, tbs_precert: bytes, extensions: bytes
) -> bytes:
    if len(issuer_key_hash) != 32:
        raise ValueError("issuer_key_hash must be 32 bytes")
    if not 0 < len(tbs_precert) <= _MAX_U24:
        raise ValueError("TBSCertificate length out of range")
    return b"".join(
        [
            bytes([SCT_VERSION_V1, 0]),
            struct.pack("!QH", timestamp_ms, ENTRY_TYPE_PRECERT),
            issuer_key_hash,
            len(tbs_precert).to_bytes(3, "big"),
            tbs_precert,
            _u16_prefixed(extensions),
        ]
    )


def _u16_prefixed(data: bytes) -> bytes:
    if len(data) > _MAX_U16:
        raise ValueError("field longer than 65535 bytes")
    return struct.pack("!H", len(data)) + data


class _Reader:
    """A bounds-checked cursor over TLS-encoded bytes."""

    def __init__(self, data: bytes) -> None:
        self._data = data
        self._pos = 0

    def take(self, n: int) -> bytes:
        if self._pos + n > len(self._data):
            raise ValueError("truncated TLS structure")
        chunk = self._data[self._pos : self._pos + n]
        self._pos += n
        return chunk

    def take_u16_prefixed(self) -> bytes:
        (length,) = struct.unpack("!H", self.take(2))
        return self.take(length)

    def at_end(self) -> bool:
        return self._pos == len(self._data)

    def expect_end(self) -> None:
        if not self.at_end():
            raise ValueError("trailing bytes after TLS structure")
