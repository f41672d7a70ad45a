"""RFC 6962 SCT encoding, signing and the precertificate Merkle leaf."""

from __future__ import annotations

import hashlib
import struct
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.certificate_transparency import LogEntryType
from sigstore._internal.sct import _pack_digitally_signed
from sigstore._utils import key_id

from ca.core import oids
from ca.core.sct import (
    SignedCertificateTimestamp,
    UnloggedPrecertSigner,
    ct_log_id,
    decode_sct_list,
    encode_sct_list,
    precert_merkle_leaf,
    precert_signed_data,
    public_key_sha256,
    sign_sct,
    verify_sct,
)

TS = 1_717_243_200_123
ISSUER_HASH = bytes(range(32))
TBS = b"\x30\x03\x02\x01\x01"  # any bytes: the SCT code does not parse the TBS


@pytest.fixture(scope="module")
def ct_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def spki(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_precert_signed_data_layout() -> None:
    data = precert_signed_data(TS, ISSUER_HASH, TBS)

    expected = (
        b"\x00\x00"  # v1, certificate_timestamp
        + struct.pack("!Q", TS)
        + b"\x00\x01"  # precert_entry
        + ISSUER_HASH
        + b"\x00\x00\x05"  # uint24 length of the TBS
        + TBS
        + b"\x00\x00"  # no extensions
    )
    assert data == expected


def test_merkle_leaf_is_the_signed_data_byte_for_byte() -> None:
    # version v1 / leaf_type timestamped_entry share their zero bytes with
    # version v1 / signature_type certificate_timestamp.
    assert precert_merkle_leaf(TS, ISSUER_HASH, TBS) == precert_signed_data(TS, ISSUER_HASH, TBS)
    assert precert_merkle_leaf(TS, ISSUER_HASH, TBS, b"\xaa")[-3:] == b"\x00\x01\xaa"


@pytest.mark.parametrize(
    ("issuer_hash", "tbs"),
    [(b"short", TBS), (ISSUER_HASH, b""), (ISSUER_HASH, b"\x00" * 0x1000000)],
    ids=["issuer-hash", "empty-tbs", "huge-tbs"],
)
def test_signed_data_refuses_bad_sizes(issuer_hash: bytes, tbs: bytes) -> None:
    with pytest.raises(ValueError):
        precert_signed_data(TS, issuer_hash, tbs)


def test_sign_then_verify(ct_key: ec.EllipticCurvePrivateKey) -> None:
    log_id = ct_log_id(spki(ct_key.public_key()))

    sct = sign_sct(ct_key, log_id, TBS, ISSUER_HASH, TS)

    assert (sct.log_id, sct.timestamp_ms, sct.hash_alg, sct.sig_alg) == (log_id, TS, 4, 3)
    verify_sct(sct, ct_key.public_key(), TBS, ISSUER_HASH)
    ct_key.public_key().verify(
        sct.signature, precert_signed_data(TS, ISSUER_HASH, TBS), ec.ECDSA(hashes.SHA256())
    )


def test_verify_refuses_other_tbs_issuer_or_key(ct_key: ec.EllipticCurvePrivateKey) -> None:
    sct = UnloggedPrecertSigner(ct_key).log_precert(TBS, ISSUER_HASH, TS)

    with pytest.raises(InvalidSignature):
        verify_sct(sct, ct_key.public_key(), TBS + b"\x00", ISSUER_HASH)
    with pytest.raises(InvalidSignature):
        verify_sct(sct, ct_key.public_key(), TBS, bytes(32))
    with pytest.raises(ValueError, match="log_id"):
        verify_sct(sct, ec.generate_private_key(ec.SECP256R1()).public_key(), TBS, ISSUER_HASH)


def test_ct_key_must_be_p256() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        sign_sct(key, bytes(32), TBS, ISSUER_HASH, TS)


def test_log_id_is_sha256_of_spki_like_sigstore(ct_key: ec.EllipticCurvePrivateKey) -> None:
    der = spki(ct_key.public_key())

    assert ct_log_id(der) == hashlib.sha256(der).digest()
    assert public_key_sha256(ct_key.public_key()) == key_id(ct_key.public_key())


def test_tls_round_trip(ct_key: ec.EllipticCurvePrivateKey) -> None:
    sct = SignedCertificateTimestamp(bytes(range(32)), TS, b"\x30\x06sig123", b"ext")

    assert SignedCertificateTimestamp.from_tls(sct.to_tls()) == sct
    assert decode_sct_list(encode_sct_list([sct, sct])) == [sct, sct]


@pytest.mark.parametrize(
    "data",
    [b"", b"\x01" + bytes(50), bytes(43), bytes(48) + b"\x00"],
    ids=["empty", "v2", "truncated", "trailing"],
)
def test_from_tls_refuses_malformed(data: bytes) -> None:
    with pytest.raises(ValueError):
        SignedCertificateTimestamp.from_tls(data)


def test_sct_fields_are_checked() -> None:
    with pytest.raises(ValueError):
        SignedCertificateTimestamp(b"short", TS, b"sig")
    with pytest.raises(ValueError):
        SignedCertificateTimestamp(bytes(32), -1, b"sig")
    with pytest.raises(ValueError):
        encode_sct_list([])


def test_cryptography_parses_our_extension(ct_key: ec.EllipticCurvePrivateKey) -> None:
    """Build a certificate carrying encode_sct_list() and read it back with cryptography."""
    sct = sign_sct(ct_key, public_key_sha256(ct_key.public_key()), TBS, ISSUER_HASH, TS)
    now = datetime(2025, 1, 1, tzinfo=UTC)
    cert = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(x509.Name([x509.NameAttribute(x509.NameOID.COMMON_NAME, "t")]))
        .public_key(ct_key.public_key())
        .serial_number(1)
        .not_valid_before(now)
        .not_valid_after(now + timedelta(minutes=10))
        .add_extension(x509.UnrecognizedExtension(oids.SCT_LIST, encode_sct_list([sct])), False)
        .sign(ct_key, hashes.SHA256())
    )

    [parsed] = cert.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value
    assert parsed.version == x509.certificate_transparency.Version.v1
    assert parsed.log_id == sct.log_id
    assert parsed.timestamp.replace(tzinfo=UTC).timestamp() * 1000 == TS
    assert parsed.entry_type == LogEntryType.PRE_CERTIFICATE
    assert isinstance(parsed.signature_hash_algorithm, hashes.SHA256)
    assert parsed.signature_algorithm == x509.certificate_transparency.SignatureAlgorithm.ECDSA
    assert parsed.signature == sct.signature
    assert parsed.extension_bytes == b""
    # ...and sigstore-python rebuilds exactly the bytes we signed.
    rebuilt = _pack_digitally_signed(parsed, cert, ISSUER_HASH)  # type: ignore[arg-type]
    assert rebuilt == precert_signed_data(TS, ISSUER_HASH, cert.tbs_precertificate_bytes)
