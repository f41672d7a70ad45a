"""The certificates of a Fulcio-compatible CA: root, intermediate and short-lived leaf.

The profiles follow INTEROP §2.5, which was probed against cryptography's web-PKI
verifier (what sigstore-python uses) and sigstore-js. Every CA key is ECDSA P-256 or
P-384: the chain check rejects Ed25519 and sigstore-python's SCT check rejects
anything but EC/RSA issuers, and we have no reason to add RSA.

Signing goes through `CertSigner`, so where the CA key lives is not this module's
business. cryptography's `CertificateBuilder.sign` only accepts its own private-key
objects, so a KMS or HSM signer cannot hand it a key; such a signer implements
`sign_builder` by signing the builder once with a throwaway key of the same curve
(which yields the identical TBSCertificate, signature-algorithm field included),
signing `tbs_certificate_bytes` remotely, and assembling
SEQUENCE { tbs, signatureAlgorithm, BIT STRING signature } itself.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Literal, Protocol

from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from ca.core import oids
from ca.core.sct import SignedCertificateTimestamp, encode_sct_list, public_key_sha256

LEAF_VALIDITY = timedelta(minutes=10)
_CURVES = (ec.SECP256R1, ec.SECP384R1)


class CertSigner(Protocol):
    """A CA key that can sign certificates, wherever the private half lives."""

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public key that certificates signed by this signer verify under."""
        ...

    def sign_builder(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """Sign the builder's TBSCertificate and return the finished certificate.

        Must be deterministic in everything but the signature value: the leaf recipe
        builds the same TBS twice and relies on getting the same bytes back.
        """
        ...


class KeyCertSigner:
    """A `CertSigner` over an in-process EC private key (loaded from a file or env)."""

    def __init__(self, key: ec.EllipticCurvePrivateKey) -> None:
        _require_ca_curve(key.curve)
        self._key = key

    @classmethod
    def from_pem(cls, pem: bytes, password: bytes | None = None) -> KeyCertSigner:
        """Load a PEM private key; refuses anything but ECDSA P-256 or P-384."""
        key = serialization.load_pem_private_key(pem, password)
        if not isinstance(key, ec.EllipticCurvePrivateKey):
            raise ValueError("CA keys must be ECDSA P-256 or P-384")
        return cls(key)

    def public_key(self) -> ec.EllipticCurvePublicKey:
        """The public half of the key."""
        return self._key.public_key()

    def sign_builder(self, builder: x509.CertificateBuilder) -> x509.Certificate:
        """Sign with ecdsa-with-SHA256 (P-256) or ecdsa-with-SHA384 (P-384)."""
        return builder.sign(self._key, _hash_for(self._key.curve))


class PrecertLogger(Protocol):
    """Whatever turns a precertificate into an SCT: in the service, the CT log.

    It receives the TBS of the final certificate with the SCT-list extension
    removed (RFC 6962's precertificate TBS) and the SHA-256 of the issuer's SPKI,
    logs the entry durably, and returns the SCT. `timestamp_ms` is the CA's
    suggestion (its `now`); the logger may pick its own time and must return the
    one it signed inside the SCT. The timestamp must fall inside the leaf's
    validity, or issuance is refused. `precertificate` is the real RFC 6962
    precertificate (the poison extension where the final certificate has its SCT
    list), for the log's get-entries extra_data.
    """

    def log_precert(
        self,
        tbs_precert: bytes,
        issuer_key_hash: bytes,
        timestamp_ms: int,
        precertificate: x509.Certificate | None = None,
    ) -> SignedCertificateTimestamp:
        """Log the precertificate entry and return its SCT."""
        ...


SanKind = Literal["email", "uri", "othername"]


@dataclass(frozen=True)
class Identity:
    """Who a leaf certificate speaks for, already checked against a verified token.

    - `san_kind`: "email" (RFC822Name), "uri" (URI) or "othername" (Fulcio's
      username form "user!domain" under OID 57264.1.7; note that neither
      sigstore-python nor sigstore-js can match it at verify time, INTEROP §2.5).
    - `issuer`: goes into 57264.1.1 (raw bytes) and 57264.1.8 (DER UTF8String).
    - `extensions`: further Fulcio extensions by dotted OID. Values for .1.2-.1.6
      are written as raw bytes, values for .1.9-.1.24 as DER UTF8String, as
      Fulcio does. Empty values are left out, as Fulcio does.
    """

    san_kind: SanKind
    san_value: str
    issuer: str
    extensions: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.san_kind not in ("email", "uri", "othername"):
            raise ValueError(f"unknown SAN kind {self.san_kind!r}")
        if not self.san_value or not self.issuer:
            raise ValueError("identity needs a SAN value and an issuer")
        for dotted in self.extensions:
            oid = x509.ObjectIdentifier(dotted)
            if oid in (oids.ISSUER_V1, oids.ISSUER_V2):
                raise ValueError("the issuer extensions come from Identity.issuer")
            _extension_encoding(oid)


def create_root(
    common_name: str,
    organization: str,
    signer: CertSigner,
    *,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """A self-signed root: CA:TRUE (critical), keyCertSign+cRLSign (critical), SKI."""
    public_key = signer.public_key()
    _require_ca_curve(public_key.curve)
    name = _ca_name(common_name, organization)
    builder = (
        _ca_builder(name, name, public_key, not_before, not_after)
        # pathLen 1: room for exactly one intermediate below the root.
        .add_extension(x509.BasicConstraints(ca=True, path_length=1), critical=True)
    )
    return signer.sign_builder(builder)


def create_intermediate(
    root_cert: x509.Certificate,
    root_signer: CertSigner,
    common_name: str,
    organization: str,
    public_key: ec.EllipticCurvePublicKey,
    *,
    not_before: datetime,
    not_after: datetime,
) -> x509.Certificate:
    """An intermediate under `root_cert`, shaped like Fulcio's.

    CA:TRUE pathLen 0 (critical), keyCertSign+cRLSign (critical), SKI, AKI = root
    SKI, and EKU codeSigning non-critical (a critical EKU fails the chain check).
    Only the public key is needed: the intermediate's private key may live elsewhere.
    """
    _require_ca_curve(public_key.curve)
    _require_signer_matches(root_signer, root_cert)
    builder = (
        _ca_builder(
            root_cert.subject,
            _ca_name(common_name, organization),
            public_key,
            not_before,
            not_after,
        )
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(_authority_key_id(root_cert), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
    )
    return root_signer.sign_builder(builder)


def issue_leaf(
    identity: Identity,
    leaf_public_key: PublicKeyTypes,
    issuer_cert: x509.Certificate,
    issuer_signer: CertSigner,
    sct_logger: PrecertLogger,
    *,
    now: datetime,
    validity: timedelta = LEAF_VALIDITY,
    serial: int | None = None,
) -> x509.Certificate:
    """Issue a short-lived code-signing leaf with one embedded SCT (INTEROP §2.5, §2.6).

    Steps:
    1. Build the final TBS with every extension, the SCT list as a placeholder in
       its final (last) position.
    2. Take cryptography's `tbs_precertificate_bytes` (the TBS minus that extension).
    3. Have the logger log that precertificate and return its SCT.
    4. Rebuild with the same serial, validity and extension order and the real SCT
       list in the same position; check the precert TBS came out identical.

    `leaf_public_key` must be an EC P-256 or P-384 public key (ValueError otherwise):
    sigstore-python treats the leaf key as EC. Raises ValueError on a bad issuer pair
    or an SCT whose timestamp falls outside the leaf's validity.
    """
    leaf_key = _require_leaf_key(leaf_public_key)
    _require_signer_matches(issuer_signer, issuer_cert)
    not_before = _utc(now).replace(microsecond=0)
    not_after = not_before + validity
    serial = serial if serial is not None else x509.random_serial_number()

    # (1) and (2): the precertificate TBS, via a placeholder SCT list.
    placeholder = x509.UnrecognizedExtension(oids.SCT_LIST, asn1.encode_der(b"\x00\x00"))
    builder = _leaf_builder(identity, leaf_key, issuer_cert, not_before, not_after, serial)
    tbs_precert = issuer_signer.sign_builder(
        builder.add_extension(placeholder, critical=False)
    ).tbs_precertificate_bytes

    # (3): the SCT covers the precert TBS and the issuer's key. The real precertificate
    # carries the poison extension in the SCT list's position, so removing it gives the
    # same TBS (RFC 6962 §3.1).
    precert = issuer_signer.sign_builder(builder.add_extension(x509.PrecertPoison(), critical=True))
    sct = sct_logger.log_precert(
        tbs_precert, public_key_sha256(issuer_signer.public_key()), _to_ms(now), precert
    )
    _require_sct_within(sct, not_before, not_after)

    # (4): the final certificate, same TBS but for the SCT list.
    real = x509.UnrecognizedExtension(oids.SCT_LIST, encode_sct_list([sct]))
    leaf = issuer_signer.sign_builder(builder.add_extension(real, critical=False))
    if leaf.tbs_precertificate_bytes != tbs_precert:
        raise RuntimeError("the signer changed the TBSCertificate between the two signings")
    return leaf


def _leaf_builder(
    identity: Identity,
    leaf_key: ec.EllipticCurvePublicKey,
    issuer_cert: x509.Certificate,
    not_before: datetime,
    not_after: datetime,
    serial: int,
) -> x509.CertificateBuilder:
    # An empty subject forces a critical SAN (RFC 5280; the web-PKI check agrees).
    builder = (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(issuer_cert.subject)
        .public_key(leaf_key)
        .serial_number(serial)
        .not_valid_before(not_before)
        .not_valid_after(not_after)
        .add_extension(_leaf_key_usage(), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(leaf_key), critical=False)
        .add_extension(_authority_key_id(issuer_cert), critical=False)
        .add_extension(x509.SubjectAlternativeName([_san(identity)]), critical=True)
    )
    for extension in _fulcio_extensions(identity):
        builder = builder.add_extension(extension, critical=False)
    return builder


def _fulcio_extensions(identity: Identity) -> list[x509.UnrecognizedExtension]:
    """Issuer (.1.1 raw and .1.8 DER) plus the identity's others, in Fulcio's order."""
    values = {oids.ISSUER_V1: identity.issuer, oids.ISSUER_V2: identity.issuer}
    for dotted, value in identity.extensions.items():
        if value:
            values[x509.ObjectIdentifier(dotted)] = value
    # Fulcio renders in OID order: .1.1, the raw GitHub ones, .1.8, then .1.9 up.
    ordered = sorted(values, key=lambda oid: oids.fulcio_arc(oid) or 0)
    return [
        x509.UnrecognizedExtension(oid, _encode_extension_value(oid, values[oid]))
        for oid in ordered
    ]


def _encode_extension_value(oid: x509.ObjectIdentifier, value: str) -> bytes:
    if _extension_encoding(oid) == "raw":
        return value.encode("utf-8")
    return asn1.encode_der(value)


def _extension_encoding(oid: x509.ObjectIdentifier) -> Literal["raw", "der"]:
    if oid in oids.RAW_VALUE_EXTENSIONS:
        return "raw"
    if oid in oids.DER_UTF8_EXTENSIONS:
        return "der"
    raise ValueError(f"{oid.dotted_string} is not a Fulcio certificate extension")


def _san(identity: Identity) -> x509.GeneralName:
    if identity.san_kind == "email":
        return x509.RFC822Name(identity.san_value)
    if identity.san_kind == "uri":
        return x509.UniformResourceIdentifier(identity.san_value)
    return x509.OtherName(oids.OTHERNAME_SAN, asn1.encode_der(identity.san_value))


def _leaf_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=True,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=False,
        crl_sign=False,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_key_usage() -> x509.KeyUsage:
    return x509.KeyUsage(
        digital_signature=False,
        content_commitment=False,
        key_encipherment=False,
        data_encipherment=False,
        key_agreement=False,
        key_cert_sign=True,
        crl_sign=True,
        encipher_only=False,
        decipher_only=False,
    )


def _ca_builder(
    issuer: x509.Name,
    subject: x509.Name,
    public_key: ec.EllipticCurvePublicKey,
    not_before: datetime,
    not_after: datetime,
) -> x509.CertificateBuilder:
    if not _utc(not_before) < _utc(not_after):
        raise ValueError("not_before must be earlier than not_after")
    return (
        x509.CertificateBuilder()
        .issuer_name(issuer)
        .subject_name(subject)
        .public_key(public_key)
        .serial_number(x509.random_serial_number())
        .not_valid_before(_utc(not_before))
        .not_valid_after(_utc(not_after))
        .add_extension(_ca_key_usage(), critical=True)
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(public_key), critical=False)
    )


def _ca_name(common_name: str, organization: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organization),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _authority_key_id(issuer_cert: x509.Certificate) -> x509.AuthorityKeyIdentifier:
    try:
        ski = issuer_cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    except x509.ExtensionNotFound:
        raise ValueError("the issuing certificate has no SubjectKeyIdentifier") from None
    return x509.AuthorityKeyIdentifier.from_issuer_subject_key_identifier(ski.value)


def _require_signer_matches(signer: CertSigner, cert: x509.Certificate) -> None:
    if public_key_sha256(signer.public_key()) != _cert_key_hash(cert):
        raise ValueError("the signer's key is not the issuing certificate's key")


def _cert_key_hash(cert: x509.Certificate) -> bytes:
    key = cert.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise ValueError("the issuing certificate's key is not ECDSA")
    return public_key_sha256(key)


def _require_leaf_key(key: object) -> ec.EllipticCurvePublicKey:
    if not isinstance(key, ec.EllipticCurvePublicKey) or not isinstance(key.curve, _CURVES):
        raise ValueError("the leaf key must be an ECDSA P-256 or P-384 public key")
    return key


def _require_ca_curve(curve: ec.EllipticCurve) -> None:
    if not isinstance(curve, _CURVES):
        raise ValueError("CA keys must be ECDSA P-256 or P-384")


def _require_sct_within(
    sct: SignedCertificateTimestamp, not_before: datetime, not_after: datetime
) -> None:
    if not _to_ms(not_before) <= sct.timestamp_ms <= _to_ms(not_after):
        raise ValueError("the SCT timestamp lies outside the leaf certificate's validity")


def _hash_for(curve: ec.EllipticCurve) -> hashes.SHA256 | hashes.SHA384:
    return hashes.SHA384() if isinstance(curve, ec.SECP384R1) else hashes.SHA256()


def _utc(moment: datetime) -> datetime:
    if moment.tzinfo is None:
        raise ValueError("datetimes must be timezone-aware")
    return moment.astimezone(UTC)


def _to_ms(moment: datetime) -> int:
    return int(_utc(moment).timestamp() * 1000)
