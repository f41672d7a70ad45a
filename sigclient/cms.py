"""CMS (PKCS #7) detached signatures over git payloads: the format gpgsm and gitsign write
and git's ``gpg.format=x509`` stores in a commit's ``gpgsig`` header.

``cryptography`` builds these (``pkcs7.PKCS7SignatureBuilder``) but can neither verify one
nor read its SignerInfo, so verification parses the SignedData with ``asn1crypto`` (pinned
in requirements.txt for this reason alone) and checks the ECDSA signature with
``cryptography``. This module does no I/O: the log and the certificate chain are checked
by ``sigclient.git``.
"""

from __future__ import annotations

import base64
import binascii
import datetime
import hashlib
import hmac
import re
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from asn1crypto import cms  # type: ignore[import-untyped]
from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.serialization import pkcs7

# git 2.39 recognises an x509 signature only by this first line (gpg-interface.c x509_sigs).
ARMOR_LABEL = "SIGNED MESSAGE"
# Labels other tools write; accepted when reading.
_READ_LABELS = ("SIGNED MESSAGE", "CMS", "PKCS7")
_ARMOR_RE = re.compile(
    rb"-----BEGIN (?P<label>[A-Z0-9 ]+)-----\r?\n(?P<body>[A-Za-z0-9+/=\r\n]*?)"
    rb"-----END (?P=label)-----"
)
# The signature algorithms an ephemeral Sigstore key signs with (sigstore-python: P-256).
_ECDSA_SHA256 = {"sha256_ecdsa", "ecdsa"}


class CmsError(ValueError):
    """A CMS signature is malformed or does not verify; the message says which check failed."""


@dataclass(frozen=True)
class SignedMessage:
    """What a verified CMS signature says: who signed (``leaf``) and when they claim to have."""

    leaf: x509.Certificate
    certificates: list[x509.Certificate]
    signing_time: datetime.datetime | None


def sign_detached(
    payload: bytes,
    *,
    key: ec.EllipticCurvePrivateKey,
    cert: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
) -> bytes:
    """A DER CMS SignedData over ``payload`` (detached), signed by ``key``.

    The signed attributes are contentType, signingTime and messageDigest (SHA-256 of the
    payload). ``cert`` and ``chain`` (the intermediates; leave out the root) are embedded.
    """
    builder = pkcs7.PKCS7SignatureBuilder().set_data(payload).add_signer(cert, key, hashes.SHA256())
    for extra in chain:
        builder = builder.add_certificate(extra)
    options = [
        pkcs7.PKCS7Options.DetachedSignature,
        # Without Binary, cryptography turns LF into CRLF before hashing ("canonical MIME"),
        # and the digest no longer matches the commit git verifies byte for byte.
        pkcs7.PKCS7Options.Binary,
        pkcs7.PKCS7Options.NoCapabilities,
    ]
    return builder.sign(serialization.Encoding.DER, options)


def armor(der: bytes) -> bytes:
    """PEM-armour a DER signature as ``-----BEGIN SIGNED MESSAGE-----`` (64-column lines)."""
    text = base64.b64encode(der).decode("ascii")
    lines = [text[i : i + 64] for i in range(0, len(text), 64)]
    return "\n".join(
        [f"-----BEGIN {ARMOR_LABEL}-----", *lines, f"-----END {ARMOR_LABEL}-----", ""]
    ).encode("ascii")


def dearmor(armored: bytes) -> bytes:
    """The DER inside a PEM-armoured CMS signature; raises ``CmsError`` if there is none."""
    match = _ARMOR_RE.search(armored)
    if match is None or match["label"].decode() not in _READ_LABELS:
        raise CmsError("the signature is not a PEM-armoured CMS signature")
    try:
        return base64.b64decode(re.sub(rb"\s", b"", match["body"]), validate=True)
    except (binascii.Error, ValueError) as exc:
        raise CmsError("the signature's base64 is damaged") from exc


def verify_detached(der: bytes, payload: bytes) -> SignedMessage:
    """Check a detached CMS signature over ``payload``; return its signer.

    Checks, in order: (1) a SignedData with no embedded content and one SignerInfo,
    (2) SHA-256 as the digest algorithm, (3) signed attributes whose contentType is data and
    whose messageDigest equals SHA-256(payload), (4) the signer's certificate is embedded,
    (5) the ECDSA-SHA256 signature over the DER of the signed attributes verifies with that
    certificate's key. Trust in the certificate is *not* checked here. Raises ``CmsError``.
    """
    signed_data = _signed_data(der)
    signer = _one_signer(signed_data)
    attrs = _signed_attributes(signer)
    if attrs.get("content_type") != "data":
        raise CmsError("the signed content type is not data")
    expected = hashlib.sha256(payload).digest()
    if not hmac.compare_digest(attrs.get("message_digest") or b"", expected):
        raise CmsError("the signed message digest does not match the data: it was changed")
    certificates = _certificates(signed_data)
    leaf = _signer_certificate(signer, certificates)
    _check_signature(signer, leaf)
    signing_time = attrs.get("signing_time")
    return SignedMessage(
        leaf=leaf,
        certificates=certificates,
        signing_time=signing_time if isinstance(signing_time, datetime.datetime) else None,
    )


def embedded_signer(der: bytes) -> x509.Certificate | None:
    """The signer's certificate, without verifying anything (for error reports)."""
    try:
        signed_data = _signed_data(der)
        return _signer_certificate(_one_signer(signed_data), _certificates(signed_data))
    except CmsError:
        return None


def _signed_data(der: bytes) -> Any:
    try:
        info = cms.ContentInfo.load(der)
        if info["content_type"].native != "signed_data":
            raise CmsError("the signature is not CMS SignedData")
        signed_data = info["content"]
        content = signed_data["encap_content_info"]["content"]
        embedded = content.native is not None
    except CmsError:
        raise
    except Exception as exc:  # asn1crypto parses lazily and raises several types
        raise CmsError("the signature is not valid CMS (DER)") from exc
    if embedded:
        raise CmsError("the signature embeds its content; git signatures are detached")
    return signed_data


def _one_signer(signed_data: Any) -> Any:
    signers = list(signed_data["signer_infos"])
    if len(signers) != 1:
        raise CmsError(f"the signature has {len(signers)} signers, not exactly one")
    signer = signers[0]
    if signer["digest_algorithm"]["algorithm"].native != "sha256":
        raise CmsError("the signature does not use SHA-256")
    return signer


def _signed_attributes(signer: Any) -> dict[str, Any]:
    raw = signer["signed_attrs"]
    if not raw.native:
        raise CmsError("the signature has no signed attributes")
    attrs: dict[str, Any] = {}
    for attr in raw:
        name = attr["type"].native
        values = attr["values"].native
        if name in attrs or len(values) != 1:
            raise CmsError(f"the signed attribute {name} is repeated")
        attrs[name] = values[0]
    return attrs


def _certificates(signed_data: Any) -> list[x509.Certificate]:
    out = []
    for choice in signed_data["certificates"] or []:
        if choice.name != "certificate":
            continue
        try:
            out.append(x509.load_der_x509_certificate(choice.chosen.dump()))
        except ValueError as exc:
            raise CmsError("an embedded certificate is malformed") from exc
    return out


def _signer_certificate(signer: Any, certificates: list[x509.Certificate]) -> x509.Certificate:
    sid = signer["sid"]
    for cert in certificates:
        if sid.name == "issuer_and_serial_number":
            wanted = sid.chosen
            if cert.serial_number == wanted["serial_number"].native and (
                cert.issuer.public_bytes() == wanted["issuer"].dump()
            ):
                return cert
        elif sid.name == "subject_key_identifier" and _ski(cert) == sid.chosen.native:
            return cert
    raise CmsError("the signer's certificate is not in the signature")


def _ski(cert: x509.Certificate) -> bytes | None:
    try:
        return cert.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value.digest
    except x509.ExtensionNotFound:
        return None


def _check_signature(signer: Any, leaf: x509.Certificate) -> None:
    if signer["signature_algorithm"]["algorithm"].native not in _ECDSA_SHA256:
        raise CmsError("the signature is not ECDSA with SHA-256")
    key = leaf.public_key()
    if not isinstance(key, ec.EllipticCurvePublicKey):
        raise CmsError("the signer's certificate does not hold an ECDSA key")
    # RFC 5652 section 5.4: the signature covers the DER of the attributes as a SET OF,
    # not with the [0] IMPLICIT tag they carry inside SignerInfo. asn1crypto keeps the
    # bytes as received, so only the tag byte changes.
    tagged = signer["signed_attrs"].dump()
    if tagged[:1] != b"\xa0":
        raise CmsError("the signed attributes are not encoded as expected")
    try:
        key.verify(signer["signature"].native, b"\x31" + tagged[1:], ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise CmsError("the signature does not verify with the signer's key") from exc
