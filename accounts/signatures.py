"""The project page's signatures: who has been signing this project's artifacts?

Recent entries signed by identities on the allow-list, AND every other entry over the
same artifact digests: someone else signing a project's artifacts is exactly what its
maintainers must see. Each row is marked trusted / untrusted / revoked by the policy,
judged from the stored entry's certificate, which must chain to this instance's CA.

This is the page's cheap view, not a verification: the log checked each signature at
upload, and here only the certificate chain (cached per certificate), its validity at
the integrated time, the allow-list and the revocations are checked. `POST .../verify`
(accounts.verification) is the full check.

Every query is bounded: exact identities are one indexed lookup, patterns a prefix
lookup (`LIKE 'prefix%'`, % and _ escaped by Django) of at most PATTERN_CANDIDATES
newest rows filtered in Python, digests one lookup.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import functools
import json
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)

from accounts.core.policy import (
    Rule,
    evaluate,
    identity_matches,
    literal_prefix,
    signer_from_certificate,
)
from accounts.models import Project, Revocation
from accounts.verification import (
    REVOKED,
    TRUSTED,
    UNTRUSTED,
    project_rules,
    revocation_reason,
    revocations_matching,
)
from ca.models import CertificateAuthority
from tlog import selectors
from tlog.models import Entry, Log, SearchKey

IDENTITY_KINDS = ("email", "uri")
DIGEST_KINDS = ("sha256", "sha384", "sha512")
#: Newest identities under a pattern's literal prefix read per pattern rule.
PATTERN_CANDIDATES = 500
MAX_LIMIT = 200


@dataclass(frozen=True)
class SignatureRow:
    uuid: str
    log_index: int
    integrated_time: int
    identity: str
    issuer: str
    digest: str
    status: str  # trusted, untrusted or revoked
    rule_id: int | None
    reasons: tuple[str, ...]

    @property
    def integrated_at(self) -> datetime:
        return datetime.fromtimestamp(self.integrated_time, UTC)


def project_signatures(*, project: Project, limit: int = 50) -> list[SignatureRow]:
    """The newest `limit` entries by the project's signers or over their artifacts."""
    limit = max(1, min(limit, MAX_LIMIT))
    rules = project_rules(project)
    own = _entries_by_rules(rules, limit)
    project_digests = _digests(own)
    others = _entries_over(project_digests, limit)
    ids = sorted(set(own) | set(others), reverse=True)[:limit]
    entries = list(
        Entry.objects.select_related("log")
        .filter(id__in=ids, log__kind=Log.Kind.REKOR)
        .order_by("-id")
    )
    digests = _digests_by_entry([e.pk for e in entries])
    anchors = _anchors()
    judged = [_Judged.of(entry, rules, anchors) for entry in entries]
    revoked = _revoked(project, judged)
    return [
        j.row(_digest_shown(digests.get(j.entry.pk, []), project_digests), revoked) for j in judged
    ]


# --- bounded lookups ----------------------------------------------------------------------


def _entries_by_rules(rules: Sequence[Rule], limit: int) -> list[int]:
    # The index keeps emails lowercased (as Rekor does); the policy compares exactly later.
    exact = sorted({v for r in rules if not r.pattern for v in (r.identity, r.identity.lower())})
    ids: list[int] = []
    if exact:
        ids += (
            SearchKey.objects.filter(kind__in=IDENTITY_KINDS, value__in=exact)
            .order_by("-entry_id")
            .values_list("entry_id", flat=True)[:limit]
        )
    for rule in rules:
        if rule.pattern:
            ids += _entries_by_pattern(rule, limit)
    return ids


def _entries_by_pattern(rule: Rule, limit: int) -> list[int]:
    prefix = literal_prefix(rule)
    if "://" not in prefix:  # an email pattern: the index holds lowercased addresses
        rule = dataclasses.replace(rule, identity=rule.identity.lower())
        prefix = prefix.lower()
    candidates = (
        SearchKey.objects.filter(kind__in=IDENTITY_KINDS, value__startswith=prefix)
        .order_by("-entry_id")
        .values_list("entry_id", "value")[:PATTERN_CANDIDATES]
    )
    return [entry_id for entry_id, value in candidates if identity_matches(rule, value)][:limit]


def _digests(entry_ids: Iterable[int]) -> set[str]:
    return set(
        SearchKey.objects.filter(entry_id__in=list(entry_ids), kind__in=DIGEST_KINDS).values_list(
            "value", flat=True
        )
    )


def _entries_over(digests: set[str], limit: int) -> list[int]:
    if not digests:
        return []
    return list(
        SearchKey.objects.filter(kind__in=DIGEST_KINDS, value__in=sorted(digests))
        .order_by("-entry_id")
        .values_list("entry_id", flat=True)[:limit]
    )


def _digests_by_entry(entry_ids: list[int]) -> dict[int, list[str]]:
    found: dict[int, list[str]] = {}
    rows = SearchKey.objects.filter(entry_id__in=entry_ids, kind__in=DIGEST_KINDS).order_by("id")
    for entry_id, value in rows.values_list("entry_id", "value"):
        found.setdefault(entry_id, []).append(value)
    return found


def _digest_shown(digests: list[str], project_digests: set[str]) -> str:
    """The digest that links the entry to the project, else its first one."""
    return next((d for d in digests if d in project_digests), digests[0] if digests else "")


def _revoked(project: Project, judged: Sequence[_Judged]) -> dict[tuple[str, str], Revocation]:
    candidates = [j for j in judged if j.status == TRUSTED]
    if not candidates:
        return {}
    found = revocations_matching(
        project,
        leaf_hashes=[j.leaf_hex for j in candidates],
        serials=[j.serial for j in candidates if j.serial],
    )
    return {(r.target_kind, r.target): r for r in found}


# --- judging one stored entry -----------------------------------------------------------


@dataclass
class _Judged:
    entry: Entry
    identity: str
    issuer: str
    serial: str
    status: str
    rule_id: int | None
    reasons: tuple[str, ...]

    @property
    def leaf_hex(self) -> str:
        return bytes(self.entry.leaf_hash).hex()

    @classmethod
    def of(cls, entry: Entry, rules: Sequence[Rule], anchors: tuple[bytes, ...]) -> _Judged:
        judged = cls(entry, "", "", "", UNTRUSTED, None, ())
        cert = _certificate_of(bytes(entry.body))
        if cert is None:
            judged.reasons = ("signed with a bare public key, not a certificate",)
            return judged
        judged.serial = format(cert.serial_number, "x")
        signer = signer_from_certificate(cert)
        if signer is None:
            judged.reasons = ("the certificate names no identity and OIDC issuer",)
            return judged
        judged.identity, judged.issuer = signer.identity, signer.issuer
        problem = _certificate_problem(cert, entry.integrated_time, anchors)
        if problem:
            judged.reasons = (problem,)
            return judged
        decision = evaluate(rules, signer)
        judged.reasons = decision.reasons
        if decision.allowed and decision.rule is not None:
            judged.status, judged.rule_id = TRUSTED, decision.rule.id
        return judged

    def row(self, digest: str, revoked: dict[tuple[str, str], Revocation]) -> SignatureRow:
        status, reasons = self.status, self.reasons
        hits = [
            r
            for r in (
                revoked.get((Revocation.Target.ENTRY, self.leaf_hex)),
                revoked.get((Revocation.Target.CERTIFICATE, self.serial)),
            )
            if r is not None
        ]
        if status == TRUSTED and hits:
            status, reasons = REVOKED, tuple(revocation_reason(r) for r in hits)
        return SignatureRow(
            uuid=selectors.entry_uuid(self.entry),
            log_index=selectors.global_index(self.entry),
            integrated_time=self.entry.integrated_time,
            identity=self.identity,
            issuer=self.issuer,
            digest=digest,
            status=status,
            rule_id=self.rule_id if status == TRUSTED else None,
            reasons=reasons,
        )


def _certificate_of(body: bytes) -> x509.Certificate | None:
    """The (first) signer certificate of a stored hashedrekord, dsse or intoto body."""
    try:
        document = json.loads(body)
        spec = document["spec"]
        if document["kind"] == "hashedrekord":
            encoded = spec["signature"]["publicKey"]["content"]
        elif document["kind"] == "dsse":
            encoded = spec["signatures"][0]["verifier"]
        else:
            encoded = spec["content"]["envelope"]["signatures"][0]["publicKey"]
        return x509.load_pem_x509_certificate(base64.b64decode(encoded))
    except (ValueError, KeyError, IndexError, TypeError, binascii.Error):
        return None


def _certificate_problem(
    cert: x509.Certificate, integrated_time: int, anchors: tuple[bytes, ...]
) -> str | None:
    at = datetime.fromtimestamp(integrated_time, UTC)
    if not cert.not_valid_before_utc <= at <= cert.not_valid_after_utc:
        return "the certificate was not valid when the entry was logged"
    der = cert.public_bytes(serialization.Encoding.DER)
    return _chain_problem(der, anchors)


def _anchors() -> tuple[bytes, ...]:
    """Every CA certificate (intermediates and roots) of this instance, DER."""
    rows = CertificateAuthority.objects.order_by("id").values_list("intermediate_pem", "root_pem")
    return tuple(_pem_to_der(pem) for pair in rows for pem in pair)


@functools.lru_cache(maxsize=64)
def _pem_to_der(pem: str) -> bytes:
    return x509.load_pem_x509_certificate(pem.encode()).public_bytes(serialization.Encoding.DER)


@functools.lru_cache(maxsize=4096)
def _chain_problem(cert_der: bytes, anchors: tuple[bytes, ...]) -> str | None:
    """Why the leaf does not chain to these CA certificates, or None. Checked as
    sigstore-python does (web-PKI client profile, EKU rules relaxed), at the leaf's own
    notBefore: the verdict depends only on the certificate, so it is cached."""
    cert = x509.load_der_x509_certificate(cert_der)
    if not anchors:
        return "this instance has no CA"
    loose_eku = (x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None)
    verifier = (
        PolicyBuilder()
        .store(Store([x509.load_der_x509_certificate(a) for a in anchors]))
        .time(cert.not_valid_before_utc)
        .extension_policies(
            ca_policy=ExtensionPolicy.webpki_defaults_ca().may_be_present(*loose_eku),
            ee_policy=ExtensionPolicy.webpki_defaults_ee().may_be_present(*loose_eku),
        )
        .build_client_verifier()
    )
    try:
        verifier.verify(cert, [])
    except (VerificationError, x509.UnsupportedGeneralNameType) as exc:
        return f"the certificate does not chain to this instance's CA: {exc}"
    return None
