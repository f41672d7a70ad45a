"""What the entry page shows of a stored entry: its decoded body, certificates and signatures.

Pure Python with no Django import. Everything here comes from a log entry and is
attacker-controlled (certificates are not chain-verified at upload, as in Rekor v1):
values are returned as plain strings for the template to escape, never as markup.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding

from ca.core import oids
from tlog.kinds import EntryError, decode_body
from tlog.kinds.verifiers import Verifier, _der_utf8string, key_fingerprint, parse_verifier

MAX_VERIFIERS = 16  # the kinds allow at most 16 signatures; never walk more than that
# Members that hold base64 PEM verifiers in the stored kinds (hashedrekord publicKey.content,
# dsse signatures[].verifier, intoto signatures[].publicKey).
_VERIFIER_MEMBERS = frozenset({"content", "verifier", "publicKey"})
_SIGNATURE_MEMBERS = frozenset({"signature", "sig"})
_FULCIO_NAMES = {
    value: name.replace("_", " ")
    .title()
    .replace("Uri", "URI")
    .replace("V1", "(v1)")
    .replace("V2", "(v2)")
    for name, value in vars(oids).items()
    if isinstance(value, x509.ObjectIdentifier) and oids.fulcio_arc(value) is not None
}


@dataclass(frozen=True)
class CertificateDetails:
    subject: str
    issuer: str
    serial_hex: str
    not_before: datetime
    not_after: datetime
    signature_algorithm: str
    key_fingerprint: str
    sans: list[tuple[str, str]]
    #: (name, dotted OID, value) of each Fulcio extension, in certificate order.
    fulcio_extensions: list[tuple[str, str, str]]
    #: (dotted OID or name, critical) of every other extension.
    other_extensions: list[tuple[str, bool]]
    pem: str


@dataclass(frozen=True)
class VerifierDetails:
    """A public key found in the entry, with its certificate's details if it is one."""

    path: str
    key_fingerprint: str
    key_type: str
    certificate: CertificateDetails | None


@dataclass(frozen=True)
class EntryDetails:
    kind: str
    api_version: str
    #: The body as JSON text, indented, for display (the leaf data itself is `raw`).
    pretty_body: str
    verifiers: list[VerifierDetails] = field(default_factory=list)
    signatures: list[tuple[str, str]] = field(default_factory=list)
    problem: str = ""


def entry_details(body: bytes) -> EntryDetails:
    """Decode a stored body for display; a body no kind understands is shown as it is."""
    try:
        document = decode_body(body)
    except EntryError as exc:
        return _undecodable(body, exc.message)
    verifiers = [_verifier_details(path, v) for path, v in _verifiers(document["spec"], "spec")]
    return EntryDetails(
        kind=str(document["kind"]),
        api_version=str(document["apiVersion"]),
        pretty_body=json.dumps(document, indent=2, sort_keys=True, ensure_ascii=False),
        verifiers=verifiers,
        signatures=list(_signatures(document["spec"], "spec")),
    )


def _undecodable(body: bytes, reason: str) -> EntryDetails:
    try:
        parsed: Any = json.loads(body)
        pretty = json.dumps(parsed, indent=2, sort_keys=True, ensure_ascii=False)
        kind = str(parsed.get("kind", "")) if isinstance(parsed, dict) else ""
        version = str(parsed.get("apiVersion", "")) if isinstance(parsed, dict) else ""
    except (ValueError, RecursionError):
        pretty, kind, version = body.hex(), "", ""
    if kind == "genesis":  # the log's own first entry (DESIGN.md): nothing is wrong
        reason = ""
    return EntryDetails(kind=kind, api_version=version, pretty_body=pretty, problem=reason)


def _walk(value: object, path: str) -> Iterator[tuple[str, str, str]]:
    """(path, member name, string value) of every string member, depth first, in order."""
    if isinstance(value, dict):
        for key, item in value.items():
            child = f"{path}.{key}"
            if isinstance(item, str):
                yield child, str(key), item
            else:
                yield from _walk(item, child)
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from _walk(item, f"{path}[{index}]")


def _verifiers(spec: object, path: str) -> Iterator[tuple[str, Verifier]]:
    found = 0
    for where, name, text in _walk(spec, path):
        if name not in _VERIFIER_MEMBERS or found >= MAX_VERIFIERS:
            continue
        pem = _pem(text)
        if pem is None:
            continue
        try:
            verifier = parse_verifier(pem, where)
        except EntryError:
            continue
        found += 1
        yield where, verifier


def _pem(text: str) -> bytes | None:
    """base64 of a PEM block (once, or twice as intoto's envelope fields are), or None."""
    data = text.encode("ascii", "replace")
    for _ in range(2):
        try:
            data = base64.b64decode(data, validate=True)
        except (binascii.Error, ValueError):
            return None
        if data.lstrip().startswith(b"-----BEGIN "):
            return data
    return None


def _signatures(spec: object, path: str) -> Iterator[tuple[str, str]]:
    for where, name, text in _walk(spec, path):
        if name in _SIGNATURE_MEMBERS or where.endswith(".signature.content"):
            yield where, text


def _verifier_details(path: str, verifier: Verifier) -> VerifierDetails:
    certificate = verifier.certificate
    return VerifierDetails(
        path=path,
        key_fingerprint=key_fingerprint(verifier.public_key),
        key_type=_key_type(verifier),
        certificate=certificate_details(certificate) if certificate is not None else None,
    )


def _key_type(verifier: Verifier) -> str:
    key = verifier.public_key
    curve = getattr(key, "curve", None)
    if curve is not None:
        return f"ECDSA {curve.name}"
    size = getattr(key, "key_size", None)
    return f"RSA {size} bits" if size else "Ed25519"


def certificate_details(certificate: x509.Certificate) -> CertificateDetails:
    """Everything the page shows of one certificate; values are untrusted text."""
    fulcio, other = _extensions(certificate)
    algorithm = certificate.signature_algorithm_oid
    return CertificateDetails(
        subject=certificate.subject.rfc4514_string(),
        issuer=certificate.issuer.rfc4514_string(),
        serial_hex=format(certificate.serial_number, "x"),
        not_before=certificate.not_valid_before_utc,
        not_after=certificate.not_valid_after_utc,
        signature_algorithm=getattr(algorithm, "_name", algorithm.dotted_string),
        key_fingerprint=key_fingerprint(certificate.public_key()),  # type: ignore[arg-type]
        sans=_sans(certificate),
        fulcio_extensions=fulcio,
        other_extensions=other,
        pem=certificate.public_bytes(Encoding.PEM).decode("ascii"),
    )


def _sans(certificate: x509.Certificate) -> list[tuple[str, str]]:
    try:
        names = certificate.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return []
    out: list[tuple[str, str]] = []
    for name in names:
        if isinstance(name, x509.RFC822Name):
            out.append(("email", name.value))
        elif isinstance(name, x509.UniformResourceIdentifier):
            out.append(("URI", name.value))
        elif isinstance(name, x509.DNSName):
            out.append(("DNS", name.value))
        elif isinstance(name, x509.OtherName):
            text = _der_utf8string(name.value) if name.type_id == oids.OTHERNAME_SAN else None
            out.append((f"otherName {name.type_id.dotted_string}", text or name.value.hex()))
        else:
            out.append((type(name).__name__, str(name.value)))
    return out


def _extensions(
    certificate: x509.Certificate,
) -> tuple[list[tuple[str, str, str]], list[tuple[str, bool]]]:
    fulcio: list[tuple[str, str, str]] = []
    other: list[tuple[str, bool]] = []
    for extension in certificate.extensions:
        oid = extension.oid
        if oid in _FULCIO_NAMES:
            fulcio.append((_FULCIO_NAMES[oid], oid.dotted_string, _fulcio_value(extension)))
        else:
            name = getattr(oid, "_name", "Unknown OID")
            other.append((f"{name} ({oid.dotted_string})", extension.critical))
    return fulcio, other


def _fulcio_value(extension: x509.Extension[x509.ExtensionType]) -> str:
    value = extension.value
    raw = value.value if isinstance(value, x509.UnrecognizedExtension) else b""
    if extension.oid in oids.DER_UTF8_EXTENSIONS:
        text = _der_utf8string(raw)
        return text if text is not None else f"(not a DER UTF8String) {raw.hex()}"
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        return f"(not UTF-8) {raw.hex()}"
