"""Policy verification: was this artifact signed by someone the project trusts?

Two ways in, one judgement:

* `bundle_verify`: a Sigstore bundle (and the artifact or its digest). The bundle is
  verified server-side exactly as `sigstore verify` would offline, against this
  instance's own trusted root (ca.trust), then checked against our database: its entry
  must be one of OUR log's entries, and the tree it proves inclusion in must be our tree.
* `digest_verify`: only a digest. The log is searched for entries over it (newest
  first, bounded), each is rebuilt as a bundle from what the log stores and judged like
  a submitted one; the answer is allowed when any entry is.

A judgement runs these steps, in order, and stops at the first that fails:

1. signature, certificate chain, SCT, SET, Merkle inclusion proof and its signed
   checkpoint (sigstore-python's `Verifier`, with a policy that admits any identity);
   for an attestation, the DSSE envelope, and the artifact among its in-toto subjects;
2. the entry is in our log (logID of one of our Rekor shards, leaf in the database, the
   proof's root equal to our tree's root at that size);
3. the project's allow-list admits the certificate's identity (accounts.core.policy);
4. neither the entry nor the certificate is revoked (for this project or instance-wide).

Failing 1 or 2 gives "invalid", 3 "untrusted", 4 "revoked"; passing all, "trusted".

sigstore-python 4.5.1 exposes no public accessor for a bundle's log entry fields or its
DSSE envelope; the few private attributes read here are confined to `_entry_facts` and
`_is_dsse`, so an upgrade has one place to fix.
"""

from __future__ import annotations

import base64
import binascii
import dataclasses
import hashlib
import json
import logging
import re
import threading
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from cryptography import x509
from django.conf import settings
from django.db.models import Q
from django.utils import timezone
from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, TransparencyLogEntry, TrustedRoot
from sigstore.verify import Verifier
from sigstore_models.common.v1 import HashAlgorithm
from sigstore_models.trustroot import v1 as trustroot_v1

from accounts.audit import POLICY_TYPE, document_sign, policy_public_pem
from accounts.core.policy import Rule, Signer, evaluate, signer_from_certificate
from accounts.errors import InvalidInput
from accounts.models import AuditEvent, PolicyKey, Project, Revocation, TrustedSigner
from ca import trust
from tlog import rekor, selectors
from tlog.core import merkle
from tlog.errors import LogFaulty, LogUnavailable
from tlog.kinds import EntryError, decode_body
from tlog.models import Checkpoint, Entry, Log, SearchKey

logger = logging.getLogger("sigportal.verification")

TRUSTED = "trusted"
UNTRUSTED = "untrusted"
REVOKED = "revoked"
INVALID = "invalid"

#: digest_verify judges at most this many entries over one digest (the newest).
MAX_DIGEST_ENTRIES = 100
#: At most this many in-toto subjects are reported back.
MAX_SUBJECTS = 256
DIGEST_SIZES = {"sha256": 32, "sha384": 48, "sha512": 64}
_DIGEST_RE = re.compile(r"^(sha256|sha384|sha512):([0-9a-f]+)$")
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"


@dataclass
class Verdict:
    """The answer, JSON-serialisable with `as_dict`. `entries` is filled in digest mode:
    one Verdict per log entry considered, newest first."""

    allowed: bool = False
    verdict: str = UNTRUSTED
    signer: dict[str, Any] | None = None
    rule: dict[str, Any] | None = None
    entry: dict[str, Any] | None = None
    certificate: dict[str, Any] | None = None
    reasons: list[str] = field(default_factory=list)
    subjects: list[dict[str, Any]] = field(default_factory=list)
    entries: list[Verdict] = field(default_factory=list)

    def as_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)

    def _deny(self, verdict: str, *reasons: str) -> Verdict:
        self.allowed, self.verdict = False, verdict
        self.reasons.extend(reasons)
        return self


class _AnyIdentity:
    """sigstore's VerificationPolicy admitting every identity: the allow-list is applied
    afterwards (step 3). Unlike sigstore's UnsafeNoOp it does not log a warning per call."""

    def verify(self, cert: x509.Certificate) -> None:
        return None


_ANY_IDENTITY = _AnyIdentity()


# --- the instance's verifier, cached per trusted root ------------------------------------

_verifier_lock = threading.Lock()
_verifier_cache: tuple[bytes, Verifier] | None = None


def instance_verifier() -> Verifier:
    """A sigstore Verifier for this instance's trusted root (every CA, every Rekor shard,
    the CT key), rebuilt whenever the trusted root changes (a CA roll, a shard freeze)."""
    global _verifier_cache
    raw = json.dumps(trust.trusted_root(), sort_keys=True).encode()
    with _verifier_lock:
        if _verifier_cache is None or _verifier_cache[0] != raw:
            root = TrustedRoot(trustroot_v1.TrustedRoot.from_json(raw))
            _verifier_cache = (raw, Verifier(trusted_root=root))
        return _verifier_cache[1]


# --- inputs --------------------------------------------------------------------------------


def parse_digest(value: str) -> tuple[str, bytes]:
    """`<sha256|sha384|sha512>:<lowercase hex>` as (algorithm, digest); InvalidInput else."""
    match = _DIGEST_RE.match(value) if isinstance(value, str) else None
    if match is None or len(match.group(2)) != 2 * DIGEST_SIZES[match.group(1)]:
        raise InvalidInput(
            "bad_digest",
            "digest must be 'sha256:<64 lowercase hex digits>' (or sha384:/sha512: with "
            "96/128 digits)",
        )
    return match.group(1), bytes.fromhex(match.group(2))


def _requested(artifact: bytes | None, digest: str | None) -> tuple[str, bytes] | None:
    """The artifact digest the caller asks about, or None when they gave neither."""
    if artifact is None:
        return parse_digest(digest) if digest is not None else None
    if digest is not None:
        algorithm, wanted = parse_digest(digest)
        if hashlib.new(algorithm, artifact).digest() != wanted:
            raise InvalidInput("digest_mismatch", "the artifact does not have the given digest")
    return "sha256", hashlib.sha256(artifact).digest()


def _load_bundle(bundle_json: bytes) -> Bundle:
    try:
        return Bundle.from_json(bundle_json)
    except (SigstoreError, ValueError) as exc:  # pydantic's errors are ValueErrors
        message = " ".join(str(exc).split())[:500]
        raise InvalidInput("malformed_bundle", f"not a usable Sigstore bundle: {message}") from None


# --- what a judgement needs, loaded once per request ---------------------------------------


def project_rules(project: Project) -> list[Rule]:
    """The project's allow-list as policy rules."""
    return [
        rule_from_signer(s) for s in TrustedSigner.objects.filter(project=project).order_by("id")
    ]


def rule_from_signer(signer: TrustedSigner) -> Rule:
    return Rule(
        id=signer.pk,
        issuer=signer.issuer,
        identity=signer.identity,
        pattern=signer.match == TrustedSigner.Match.PATTERN,
        constraints={
            "source_repository": signer.source_repository,
            "source_ref": signer.source_ref,
            "build_trigger": signer.build_trigger,
        },
    )


def rule_document(rule: Rule) -> dict[str, Any]:
    return {
        "id": rule.id,
        "identity": rule.identity,
        "issuer": rule.issuer,
        "pattern": rule.pattern,
        "constraints": {k: v for k, v in rule.constraints.items() if v},
    }


def signer_document(signer: Signer) -> dict[str, Any]:
    return {
        "identity": signer.identity,
        "issuer": signer.issuer,
        "extensions": dict(signer.extensions),
    }


def revocations_matching(
    project: Project, *, leaf_hashes: Sequence[str], serials: Sequence[str]
) -> list[Revocation]:
    """Revocations of these entries (leaf hash hex) or certificates (serial hex) that
    apply to the project: its own and the instance-wide ones."""
    targets = Q(target_kind=Revocation.Target.ENTRY, target__in=list(leaf_hashes)) | Q(
        target_kind=Revocation.Target.CERTIFICATE, target__in=list(serials)
    )
    scope = Q(project=project) | Q(project__isnull=True)
    return list(Revocation.objects.filter(targets, scope).order_by("id"))


def revocation_reason(revocation: Revocation) -> str:
    scope = "for this project" if revocation.project_id else "instance-wide"
    entry = revocation.target_kind == Revocation.Target.ENTRY
    what = "the log entry" if entry else "the signing certificate"
    return f"{what} ({revocation.target}) was revoked {scope}: {revocation.reason}"


@dataclass
class _Context:
    project: Project
    rules: list[Rule]
    verifier: Verifier
    logs: dict[bytes, Log]  # Rekor shards by logID

    @classmethod
    def load(cls, project: Project) -> _Context:
        logs = selectors.logs_of_kind(kind=Log.Kind.REKOR)
        return cls(
            project, project_rules(project), instance_verifier(), {lg.log_id: lg for lg in logs}
        )


# --- public services -------------------------------------------------------------------------


def bundle_verify(
    *,
    project: Project,
    bundle_json: bytes,
    artifact: bytes | None = None,
    digest: str | None = None,
) -> Verdict:
    """Verify a Sigstore bundle server-side and judge it against the project's allow-list.

    A message-signature bundle needs the artifact or its `sha256:` digest; an attestation
    (DSSE) bundle takes either optionally, and then it must be one of its subjects.
    Raises InvalidInput for unusable input; every verification outcome is a Verdict.
    """
    wanted = _requested(artifact, digest)
    bundle = _load_bundle(bundle_json)
    if not _is_dsse(bundle) and wanted is None:
        raise InvalidInput(
            "artifact_required",
            "a message-signature bundle verifies only against its artifact: send the "
            "artifact (base64) or its digest ('sha256:<hex>')",
        )
    if not _is_dsse(bundle) and wanted is not None and wanted[0] != "sha256":
        raise InvalidInput(
            "unsupported_digest",
            "Sigstore message signatures are over SHA-256: send a 'sha256:<hex>' digest",
        )
    return _judge(_Context.load(project), bundle, wanted)


def digest_verify(*, project: Project, digest: str) -> Verdict:
    """Judge every log entry over `digest` (the newest MAX_DIGEST_ENTRIES); allowed when
    any is verified, signed by an allowed identity and not revoked."""
    wanted = parse_digest(digest)
    context = _Context.load(project)
    entries = _entries_over(wanted)
    checkpoints: dict[int, Checkpoint] = {}
    results = [_judge_entry(context, entry, wanted, checkpoints) for entry in entries]
    return _summarise(digest, results)


# --- the judgement -----------------------------------------------------------------------------


def _judge(context: _Context, bundle: Bundle, wanted: tuple[str, bytes] | None) -> Verdict:
    cert = bundle.signing_certificate
    facts = _entry_facts(bundle)
    signer = signer_from_certificate(cert)
    serial = format(cert.serial_number, "x")
    result = Verdict(
        signer=signer_document(signer) if signer else None,
        entry={
            "uuid": facts.leaf_hash.hex(),
            "log_index": facts.log_index,
            "integrated_time": facts.integrated_time,
        },
        certificate={"serial": serial},
    )
    # (1) Signature, chain, SCT, SET, inclusion proof and checkpoint.
    try:
        result.subjects = _verify_signature(context.verifier, bundle, wanted)
    except VerificationError as exc:
        return _unverified(result._deny(INVALID, f"the bundle does not verify: {exc}"))
    # (2) In our log, in our tree.
    problem = _check_our_log(context, facts, result)
    if problem:
        return _unverified(result._deny(INVALID, problem))
    # (3) The allow-list.
    if signer is None:
        return result._deny(UNTRUSTED, "the certificate names no identity and OIDC issuer")
    decision = evaluate(context.rules, signer)
    if not decision.allowed or decision.rule is None:
        return result._deny(UNTRUSTED, *decision.reasons)
    result.rule = rule_document(decision.rule)
    # (4) Revocations.
    revoked = revocations_matching(
        context.project,
        leaf_hashes=[facts.leaf_hash.hex()],
        serials=[serial],
    )
    if revoked:
        return result._deny(REVOKED, *(revocation_reason(r) for r in revoked))
    result.allowed, result.verdict = True, TRUSTED
    result.reasons.append(
        f"verified: signature, certificate chain, SCT, log inclusion; {decision.reasons[0]}"
    )
    return result


def _unverified(result: Verdict) -> Verdict:
    """An invalid bundle's claims are not facts: keep them out of `signer`, `entry` and
    `certificate` (a careless caller might read those without `allowed`) and name them
    as unverified in the reasons instead."""
    if result.signer:
        result.reasons.append(
            f"unverified claim: signed by {result.signer['identity']!r} "
            f"({result.signer['issuer']!r})"
        )
    result.signer = result.entry = result.certificate = None
    return result


def _verify_signature(
    verifier: Verifier, bundle: Bundle, wanted: tuple[str, bytes] | None
) -> list[dict[str, Any]]:
    """Step 1; the in-toto subjects for an attestation. VerificationError on failure."""
    if not _is_dsse(bundle):
        assert wanted is not None and wanted[0] == "sha256"
        hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=wanted[1])
        verifier.verify_artifact(hashed, bundle, _ANY_IDENTITY)
        return []
    payload_type, payload = verifier.verify_dsse(bundle, _ANY_IDENTITY)
    subjects = _intoto_subjects(payload_type, payload)
    if wanted is not None:
        algorithm, digest = wanted
        if not any(s["digest"].get(algorithm) == digest.hex() for s in subjects):
            raise VerificationError(
                f"the artifact ({algorithm}:{digest.hex()}) is not a subject of the attestation"
            )
    return subjects[:MAX_SUBJECTS]


def _intoto_subjects(payload_type: str, payload: bytes) -> list[dict[str, Any]]:
    """The subjects of a verified in-toto statement (empty for another payload type)."""
    if payload_type != INTOTO_PAYLOAD_TYPE:
        return []
    try:
        statement = json.loads(payload)
    except ValueError:
        raise VerificationError("the attestation's payload is not JSON") from None
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    found = []
    for subject in subjects if isinstance(subjects, list) else []:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digests, dict):
            found.append(
                {
                    "name": subject.get("name") if isinstance(subject.get("name"), str) else "",
                    "digest": {
                        str(k).lower(): str(v).lower()
                        for k, v in digests.items()
                        if isinstance(v, str)
                    },
                }
            )
    return found


# --- step 2: our log ------------------------------------------------------------------------


@dataclass(frozen=True)
class _EntryFacts:
    log_id: bytes
    log_index: int
    integrated_time: int | None
    leaf_hash: bytes
    proof_index: int
    tree_size: int
    root_hash: bytes


def _is_dsse(bundle: Bundle) -> bool:
    return bundle._dsse_envelope is not None


def _entry_facts(bundle: Bundle) -> _EntryFacts:
    inner = bundle.log_entry._inner
    proof = inner.inclusion_proof
    return _EntryFacts(
        log_id=bytes(inner.log_id.key_id),
        log_index=int(inner.log_index),
        integrated_time=int(inner.integrated_time) if inner.integrated_time else None,
        leaf_hash=merkle.leaf_hash(bytes(inner.canonicalized_body)),
        proof_index=int(proof.log_index),
        tree_size=int(proof.tree_size),
        root_hash=bytes(proof.root_hash),
    )


def _check_our_log(context: _Context, facts: _EntryFacts, result: Verdict) -> str | None:
    """Why a verified entry is not in our log, or None. The proof already verified
    against a checkpoint signed with one of our keys, so a mismatch here means the log
    signed something its database does not hold: an integrity incident, logged loudly."""
    log = context.logs.get(facts.log_id)
    if log is None:
        return f"the entry is not from this instance's log (logID {facts.log_id.hex()})"
    assert result.entry is not None
    result.entry["uuid"] = f"{log.tree_id:016x}{facts.leaf_hash.hex()}"
    stored = selectors.entry_by_leaf(log, facts.leaf_hash)
    problem = _integrity_problem(log, facts, stored)
    if problem:
        logger.error(
            "LOG INTEGRITY: %s (log %s, leaf %s)", problem, log.tree_id, facts.leaf_hash.hex()
        )
        return (
            f"log integrity problem: {problem}; the bundle's proof verifies against this "
            "instance's signed checkpoint, so the operator has been alerted"
        )
    return None


def _integrity_problem(log: Log, facts: _EntryFacts, stored: Entry | None) -> str | None:
    if stored is None:
        return "the entry is not in this instance's database"
    if (stored.index, log.index_offset + stored.index) != (facts.proof_index, facts.log_index):
        return (
            f"the entry is stored at index {log.index_offset + stored.index}, the bundle "
            f"says {facts.log_index}"
        )
    if facts.integrated_time is not None and stored.integrated_time != facts.integrated_time:
        return "the bundle's integrated time differs from the stored entry's"
    if facts.tree_size <= log.tree_size:
        if selectors.tree_root(log, facts.tree_size) != facts.root_hash:
            return f"the proof's tree of size {facts.tree_size} is not this log's tree"
    return None


# --- digest mode ---------------------------------------------------------------------------


def _entries_over(wanted: tuple[str, bytes]) -> list[Entry]:
    algorithm, digest = wanted
    ids = (
        SearchKey.objects.filter(kind=algorithm, value=f"{algorithm}:{digest.hex()}")
        .order_by("-entry_id")
        .values_list("entry_id", flat=True)[:MAX_DIGEST_ENTRIES]
    )
    entries = Entry.objects.select_related("log").filter(id__in=list(ids), log__kind=Log.Kind.REKOR)
    return sorted(entries, key=lambda e: e.pk, reverse=True)


def _judge_entry(
    context: _Context,
    entry: Entry,
    wanted: tuple[str, bytes],
    checkpoints: dict[int, Checkpoint],
) -> Verdict:
    """Rebuild a bundle from the stored entry and judge it like a submitted one."""
    described = Verdict(
        entry={
            "uuid": selectors.entry_uuid(entry),
            "log_index": selectors.global_index(entry),
            "integrated_time": entry.integrated_time,
        }
    )
    if entry.kind != "hashedrekord":
        return described._deny(
            UNTRUSTED,
            f"a {entry.kind} entry (an attestation) cannot be verified from the log alone: "
            "the log does not keep the signed envelope; verify its bundle instead",
        )
    if wanted[0] != "sha256":
        return described._deny(
            INVALID, f"{wanted[0]} message signatures cannot be verified here (SHA-256 only)"
        )
    try:
        bundle = _bundle_from_entry(entry, checkpoints)
    except _Unusable as exc:
        return described._deny(INVALID, str(exc))
    return _judge(context, bundle, wanted)


class _Unusable(Exception):
    pass


def _bundle_from_entry(entry: Entry, checkpoints: dict[int, Checkpoint]) -> Bundle:
    """A v0.3 bundle from a stored hashedrekord entry: its certificate and signature, and
    the Rekor v1 entry document (SET, inclusion proof against the newest checkpoint)."""
    log = entry.log
    try:
        if log.id not in checkpoints:
            checkpoints[log.id] = rekor.latest_checkpoint_served(log)
        document = rekor.entry_document(entry, checkpoints[log.id])
        spec = decode_body(bytes(entry.body))["spec"]
        signature = base64.b64decode(spec["signature"]["content"])
        key = base64.b64decode(spec["signature"]["publicKey"]["content"])
    except (LogFaulty, LogUnavailable, EntryError, KeyError, TypeError, binascii.Error) as exc:
        raise _Unusable(f"the entry cannot be served with a proof: {exc}") from None
    try:
        cert = x509.load_pem_x509_certificate(key)
    except ValueError:
        raise _Unusable("signed with a bare public key, not a certificate") from None
    try:
        return Bundle.from_parts(cert, signature, TransparencyLogEntry._from_v1_response(document))
    except (SigstoreError, ValueError) as exc:
        raise _Unusable(f"the entry does not make a valid bundle: {exc}") from None


_PREFERENCE = (TRUSTED, REVOKED, UNTRUSTED, INVALID)


def _summarise(digest: str, results: list[Verdict]) -> Verdict:
    if not results:
        return Verdict(reasons=[f"no entry in this instance's log is over {digest}"])
    best = min(results, key=lambda r: _PREFERENCE.index(r.verdict))
    allowed = sum(1 for r in results if r.allowed)
    summary = Verdict(
        allowed=best.allowed,
        verdict=best.verdict,
        signer=best.signer,
        rule=best.rule,
        entry=best.entry,
        certificate=best.certificate,
        reasons=[
            f"{len(results)} log entr{'y' if len(results) == 1 else 'ies'} over {digest}; "
            f"{allowed} trusted",
            *best.reasons,
        ],
        entries=results,
    )
    return summary


# --- the signed allow-list, for offline verification in CI ---------------------------------


@dataclass(frozen=True)
class PolicyDocument:
    document: bytes
    signature: bytes
    key_id: str
    public_key_pem: str


def policy_key_id(key: PolicyKey) -> str:
    """SHA-256 hex of the policy key's DER SubjectPublicKeyInfo."""
    return hashlib.sha256(bytes(key.public_key_der)).hexdigest()


def policy_document(*, project: Project) -> PolicyDocument:
    """The project's allow-list and revocations, signed now with the instance's policy
    key (format: docs/portal-api.md). Chained to the audit trail by its latest event."""
    signed = document_sign(policy_payload(project))
    return PolicyDocument(
        document=signed.document,
        signature=signed.signature,
        key_id=policy_key_id(signed.key),
        public_key_pem=policy_public_pem(signed.key),
    )


def policy_payload(project: Project) -> dict[str, Any]:
    latest = AuditEvent.objects.filter(project=project).order_by("-sequence").first()
    return {
        "_type": POLICY_TYPE,
        "instance": settings.PUBLIC_URL,
        "project": project.slug,
        "signers": [
            {
                "id": s.pk,
                "issuer": s.issuer,
                "identity": s.identity,
                "match": s.match,
                "source_repository": s.source_repository,
                "source_ref": s.source_ref,
                "build_trigger": s.build_trigger,
                "note": s.note,
                "added_at": _zulu(s.added_at),
            }
            for s in TrustedSigner.objects.filter(project=project).order_by("id")
        ],
        "revocations": [
            {
                "target_kind": r.target_kind,
                "target": r.target,
                "scope": "project" if r.project_id else "instance",
                "reason": r.reason,
                "revoked_at": _zulu(r.revoked_at),
            }
            for r in Revocation.objects.filter(
                Q(project=project) | Q(project__isnull=True)
            ).order_by("id")
        ],
        "audit": None
        if latest is None
        else {
            "sequence": latest.sequence,
            "document_sha256": latest.document_sha256,
            "log_leaf_hash": latest.log_leaf_hash,
        },
        "issued_at": _zulu(timezone.now()),
    }


def _zulu(value: datetime) -> str:
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def policy_keys() -> list[dict[str, Any]]:
    """Every policy key the instance ever had (documents signed by a retired key stay
    verifiable), newest first."""
    return [
        {
            "key_id": policy_key_id(key),
            "public_key": policy_public_pem(key),
            "active": key.active,
            "created_at": _zulu(key.created_at),
        }
        for key in PolicyKey.objects.order_by("-id")
    ]
