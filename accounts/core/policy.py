"""Allow-list rules and their evaluation against a signing certificate. No Django.

A rule names an OIDC issuer (exact) and an identity: exact, or an anchored pattern in
which `*` matches one or more characters other than `/` and `@` (one path segment, one
email local part) and `**` matches one or more characters other than `@` (several path
segments). So `https://github.com/org/repo/.github/workflows/*@refs/tags/*` admits any
workflow file of that repository run on any tag without a `/`, and
`https://github.com/org/repo/.github/workflows/release.yml@refs/tags/**` any tag at all.

Patterns are validated so that they cannot admit more than their author can see:
the scheme and host of a URI, and the domain of an email address, must be literal.

The certificate is parsed here but not verified: callers verify the chain, signature
and log inclusion first (accounts.verification) and only then ask whose it is.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from urllib.parse import urlsplit

from cryptography import x509

from ca.core import oids

MAX_IDENTITY = 1024
MAX_WILDCARDS = 8

#: Fulcio extensions a rule may constrain, by the name used in rules and documents.
CONSTRAINT_OIDS: dict[str, x509.ObjectIdentifier] = {
    "source_repository": oids.SOURCE_REPOSITORY_URI,
    "source_ref": oids.SOURCE_REPOSITORY_REF,
    "build_trigger": oids.BUILD_TRIGGER,
}


class PatternError(ValueError):
    """A rule's identity pattern is refused; the message says why."""


@dataclass(frozen=True)
class Rule:
    """One allow-list row, as evaluated. `constraints` maps CONSTRAINT_OIDS names to
    the exact value the certificate must carry (absent or empty: no constraint)."""

    id: int
    issuer: str
    identity: str
    pattern: bool = False
    constraints: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Signer:
    """Who a certificate says signed: SAN identity, OIDC issuer, Fulcio extensions."""

    identity: str
    issuer: str
    extensions: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Decision:
    allowed: bool
    rule: Rule | None
    reasons: tuple[str, ...]


def _check_literal_prefix(pattern: str) -> None:
    if "://" in pattern:
        parts = urlsplit(pattern)
        if parts.scheme not in ("https", "http"):
            raise PatternError("a URI pattern must start with https:// (or http://)")
        authority_end = pattern.find("/", len(parts.scheme) + 3)
        authority = pattern[: authority_end if authority_end >= 0 else len(pattern)]
        if "*" in authority or not parts.hostname:
            raise PatternError("the scheme and host of a URI pattern must be literal")
        if authority_end < 0:
            raise PatternError("a URI pattern needs a path after the host")
    elif "@" in pattern:
        local, _, domain = pattern.rpartition("@")
        if not local or not domain or "*" in domain or "@" in local.replace("*", ""):
            raise PatternError("the domain of an email pattern must be literal")
    else:
        literal = pattern.split("*", 1)[0]
        if len(literal) < 3:
            raise PatternError("a pattern must start with at least 3 literal characters")


def validate_pattern(pattern: str) -> re.Pattern[str]:
    """Check an identity pattern and return its anchored regular expression."""
    if not pattern or len(pattern) > MAX_IDENTITY or not pattern.isprintable():
        raise PatternError(f"a pattern is 1 to {MAX_IDENTITY} printable characters")
    if any(ch.isspace() for ch in pattern):
        raise PatternError("a pattern may not contain whitespace")
    if "*" not in pattern:
        raise PatternError("a pattern without '*' is an exact identity; add it as exact")
    if "***" in pattern:
        raise PatternError("use '*' (one segment) or '**' (several segments), not '***'")
    if pattern.count("*") - pattern.count("**") > MAX_WILDCARDS:
        raise PatternError(f"a pattern may hold at most {MAX_WILDCARDS} wildcards")
    _check_literal_prefix(pattern)
    return _compile(pattern)


def _compile(pattern: str) -> re.Pattern[str]:
    out: list[str] = []
    for i, piece in enumerate(pattern.split("**")):
        if i:
            out.append("[^@]+")
        out.append("[^/@]+".join(re.escape(p) for p in piece.split("*")))
    return re.compile("".join(out), re.DOTALL)


def validate_exact(identity: str) -> None:
    if not identity or len(identity) > MAX_IDENTITY or not identity.isprintable():
        raise PatternError(f"an identity is 1 to {MAX_IDENTITY} printable characters")
    if any(ch.isspace() for ch in identity):
        raise PatternError("an identity may not contain whitespace")


def literal_prefix(rule: Rule) -> str:
    """The part of the identity before its first wildcard (the whole identity if exact):
    what an index can look up before the pattern is applied."""
    return rule.identity.split("*", 1)[0] if rule.pattern else rule.identity


def identity_matches(rule: Rule, identity: str) -> bool:
    if not rule.pattern:
        return identity == rule.identity
    return _compile(rule.identity).fullmatch(identity) is not None


def _mismatch(rule: Rule, signer: Signer) -> str | None:
    """Why `rule` does not admit `signer`, or None when it does."""
    if signer.issuer != rule.issuer:
        return f"issuer {signer.issuer!r} is not {rule.issuer!r}"
    if not identity_matches(rule, signer.identity):
        kind = "pattern" if rule.pattern else "identity"
        return f"identity {signer.identity!r} does not match {kind} {rule.identity!r}"
    for name, wanted in sorted(rule.constraints.items()):
        if wanted and signer.extensions.get(name) != wanted:
            got = signer.extensions.get(name)
            return f"{name} is {got!r}, the rule requires {wanted!r}"
    return None


def evaluate(rules: Iterable[Rule], signer: Signer) -> Decision:
    """Allowed when any rule admits the signer; otherwise each rule says why not."""
    reasons: list[str] = []
    for rule in rules:
        why_not = _mismatch(rule, signer)
        if why_not is None:
            return Decision(True, rule, (f"rule {rule.id} admits {signer.identity!r}",))
        reasons.append(f"rule {rule.id}: {why_not}")
    if not reasons:
        reasons.append("the project's allow-list is empty")
    return Decision(False, None, tuple(reasons))


# --- reading who signed from a certificate ---------------------------------------------


def _utf8_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """A DER UTF8String Fulcio extension (.1.8 onwards), or None.

    Decoded by hand: cryptography exposes no DER decoder for an unrecognised
    extension's value, and a UTF8String TLV is all there is to read."""
    try:
        raw = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    value = raw.value if isinstance(raw, x509.UnrecognizedExtension) else b""
    if len(value) < 2 or value[0] != 0x0C:
        return None
    length, offset = value[1], 2
    if length & 0x80:  # long form: the next (length & 0x7f) bytes hold the length
        count = length & 0x7F
        length, offset = int.from_bytes(value[2 : 2 + count], "big"), 2 + count
    try:
        return value[offset : offset + length].decode("utf-8")
    except UnicodeDecodeError:
        return None


def _raw_extension(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> str | None:
    """A raw-bytes Fulcio extension (.1.1 to .1.6), or None."""
    try:
        raw = cert.extensions.get_extension_for_oid(oid).value
    except x509.ExtensionNotFound:
        return None
    if not isinstance(raw, x509.UnrecognizedExtension):
        return None
    try:
        return raw.value.decode("utf-8")
    except UnicodeDecodeError:
        return None


def certificate_identity(cert: x509.Certificate) -> str | None:
    """The SAN identity Fulcio writes: an email address or a URI (the first one)."""
    try:
        san = cert.extensions.get_extension_for_class(x509.SubjectAlternativeName).value
    except x509.ExtensionNotFound:
        return None
    names: Sequence[str] = san.get_values_for_type(x509.RFC822Name) or san.get_values_for_type(
        x509.UniformResourceIdentifier
    )
    return names[0] if names else None


def certificate_issuer(cert: x509.Certificate) -> str | None:
    """The OIDC issuer Fulcio writes: extension .1.8 (UTF8String), else .1.1 (raw)."""
    return _utf8_extension(cert, oids.ISSUER_V2) or _raw_extension(cert, oids.ISSUER_V1)


def signer_from_certificate(cert: x509.Certificate) -> Signer | None:
    """Who the certificate names, or None if it is not a Fulcio-style leaf."""
    identity = certificate_identity(cert)
    issuer = certificate_issuer(cert)
    if identity is None or issuer is None:
        return None
    extensions = {
        name: value
        for name, oid in CONSTRAINT_OIDS.items()
        if (value := _utf8_extension(cert, oid)) is not None
    }
    return Signer(identity=identity, issuer=issuer, extensions=extensions)
