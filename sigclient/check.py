"""CI verification: was this artifact signed by someone on the project's allow-list?

``check`` takes an artifact and either a bundle or nothing (its entries are then found in
the instance's log by digest), verifies every candidate signature offline against the
pinned trusted root (signature, certificate chain, SCT, log inclusion proof, checkpoint
and SET: sigstore-python's Verifier), and applies the project's allow-list taken from
the policy document the instance signs (``GET /api/v1/projects/<slug>/policy``), fetched
online or read from a file saved earlier. The policy document's signature is checked
against the instance's policy key, pinned on first use like the trusted root (or given
with ``--policy-key``). The instance's own verdict is never taken on trust.

The rules are evaluated by ``accounts.core.policy``, the same code the server runs.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from cryptography import x509
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier

from accounts.core.policy import Rule, Signer, evaluate, signer_from_certificate
from sigclient import rekor
from sigclient.blobs import file_digest, read_bundle
from sigclient.errors import ClientError
from sigclient.trust import fetch, pin_path

POLICY_TYPE = "https://sigportal.dev/policy/v1"
POLICY_KEYS_PATH = "/api/v1/trust/policy_keys.json"
MAX_POLICY_BYTES = 4 * 1024 * 1024
#: At most this many log entries over one digest are verified (the newest first).
MAX_CANDIDATES = 100

Notify = Callable[[str], None]


# --- the signed policy document --------------------------------------------------------


@dataclass(frozen=True)
class ProjectPolicy:
    project: str
    rules: tuple[Rule, ...]
    revoked_entries: frozenset[str]
    revoked_serials: frozenset[str]
    issued_at: str
    key_id: str


def _b64(value: object, what: str) -> bytes:
    if not isinstance(value, str):
        raise ClientError(f"the policy document's {what} is missing", _POLICY_HINT)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError) as exc:
        raise ClientError(f"the policy document's {what} is not base64", _POLICY_HINT) from exc


_POLICY_HINT = (
    "Fetch it again from the instance (GET /api/v1/projects/<slug>/policy) and do not edit it"
)


def key_id(public_key_der: bytes) -> str:
    """SHA-256 (hex) of a DER SubjectPublicKeyInfo: how policy keys are named."""
    return hashlib.sha256(public_key_der).hexdigest()


def policy_parse(raw: bytes, *, project: str, trusted_keys: Sequence[bytes]) -> ProjectPolicy:
    """Check a signed policy document (the /policy response) and return its rules.

    1. Its key id must name one of ``trusted_keys`` (DER SPKI; the pinned policy keys):
       the public key carried inside the response itself is never used.
    2. The ECDSA P-256 / SHA-256 signature must verify over the exact document bytes.
    3. The document must be a sigportal policy for ``project``.
    """
    try:
        unverified = json.loads(raw)
    except ValueError as exc:
        raise ClientError("the policy document is not JSON", _POLICY_HINT) from exc
    if not isinstance(unverified, dict):
        raise ClientError("the policy document is not a JSON object", _POLICY_HINT)
    document = _b64(unverified.get("document"), "document")
    signature = _b64(unverified.get("signature"), "signature")
    keys = {key_id(der): der for der in trusted_keys}
    claimed = unverified.get("key_id")
    if claimed not in keys:
        raise ClientError(
            f"the policy document is signed by key {claimed!r}, not by the instance's "
            "pinned policy key",
            "If the operator rotated the policy key, pass the new key with --policy-key "
            "after checking it with them",
        )
    public = serialization.load_der_public_key(keys[claimed])
    if not isinstance(public, ec.EllipticCurvePublicKey):
        raise ClientError("the pinned policy key is not an ECDSA key", _POLICY_HINT)
    try:
        public.verify(signature, document, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature as exc:
        raise ClientError("the policy document's signature does not verify", _POLICY_HINT) from exc
    return _policy_from_document(json.loads(document), project=project, key=str(claimed))


def _policy_from_document(doc: Any, *, project: str, key: str) -> ProjectPolicy:
    if not isinstance(doc, dict) or doc.get("_type") != POLICY_TYPE:
        raise ClientError("the signed document is not a sigportal policy", _POLICY_HINT)
    if doc.get("project") != project:
        raise ClientError(
            f"the policy document is for project {doc.get('project')!r}, not {project!r}",
            "Pass the policy of the project you check",
        )
    rules = tuple(_rule(row) for row in doc.get("signers") or [])
    revoked = [r for r in doc.get("revocations") or [] if isinstance(r, dict)]
    return ProjectPolicy(
        project=project,
        rules=rules,
        revoked_entries=frozenset(
            str(r.get("target", ""))[-64:] for r in revoked if r.get("target_kind") == "entry"
        ),
        revoked_serials=frozenset(
            str(r.get("target", "")) for r in revoked if r.get("target_kind") == "certificate"
        ),
        issued_at=str(doc.get("issued_at", "")),
        key_id=key,
    )


def _rule(row: Any) -> Rule:
    if not isinstance(row, dict):
        raise ClientError("a rule in the policy document is not an object", _POLICY_HINT)
    constraints = {
        name: str(row.get(name) or "")
        for name in ("source_repository", "source_ref", "build_trigger")
        if row.get(name)
    }
    return Rule(
        id=int(row.get("id", 0)),
        issuer=str(row.get("issuer", "")),
        identity=str(row.get("identity", "")),
        pattern=row.get("match") == "pattern",
        constraints=constraints,
    )


def policy_keys_pinned(instance: str, *, pin_dir: Path, notify: Notify) -> list[bytes]:
    """The instance's policy keys (DER), pinned on first use next to its trust config.

    Later runs keep the pinned keys; a key the instance adds later is not trusted
    until the user passes it with --policy-key (or deletes the pin to start afresh).
    """
    pin = pin_dir / "policy-keys" / pin_path(instance, pin_dir).name
    if pin.exists():
        return _keys_from_listing(pin.read_bytes(), source=str(pin))
    url = instance.rstrip("/") + POLICY_KEYS_PATH
    raw = fetch(url, max_bytes=MAX_POLICY_BYTES, what="the policy keys")
    keys = _keys_from_listing(raw, source=url)
    pin.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    pin.write_bytes(raw)
    ids = ", ".join(key_id(k) for k in keys)
    notify(f"sigclient: pinned {instance}'s policy key(s) {ids} in {pin}")
    return keys


def _keys_from_listing(raw: bytes, *, source: str) -> list[bytes]:
    try:
        listing = json.loads(raw)
        pems = [k["public_key"] for k in listing["keys"]]
        keys = [
            serialization.load_pem_public_key(pem.encode()).public_bytes(
                serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
            )
            for pem in pems
        ]
    except (ValueError, KeyError, TypeError, AttributeError) as exc:
        raise ClientError(
            f"{source} is not a sigportal policy key list",
            "Delete the pinned file and rerun, or pass --policy-key",
        ) from exc
    if not keys:
        raise ClientError(f"{source} lists no policy keys", "Pass --policy-key PEM")
    return keys


def policy_key_file(path: Path) -> bytes:
    try:
        pem = path.read_bytes()
        public = serialization.load_pem_public_key(pem)
    except (OSError, ValueError) as exc:
        raise ClientError(
            f"cannot read a PEM public key from {path}", "Check --policy-key"
        ) from exc
    return public.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def policy_fetch(instance: str, project: str) -> bytes:
    url = f"{instance.rstrip('/')}/api/v1/projects/{project}/policy"
    return fetch(url, max_bytes=MAX_POLICY_BYTES, what=f"the policy of project {project!r}")


# --- candidate signatures --------------------------------------------------------------


@dataclass
class Candidate:
    """One signature to consider: a bundle, or why one could not be built."""

    source: str
    bundle: Bundle | None = None
    problem: str = ""


def candidates_from_bundle(path: Path, artifact: Path) -> list[Candidate]:
    return [Candidate(source=str(path), bundle=read_bundle(path, artifact=artifact))]


def candidates_from_log(instance: str, digest: Hashed) -> list[Candidate]:
    """Every hashedrekord entry over ``digest`` in the instance's log, as bundles.

    The log is only a place to find candidates: each is verified like any bundle
    (inclusion proof, checkpoint and SET against the pinned log keys).
    """
    uuids = rekor.search(instance, {"hash": f"sha256:{digest.digest.hex()}"})
    candidates = []
    for uuid in uuids[-MAX_CANDIDATES:][::-1]:
        source = f"log entry {uuid}"
        try:
            bundle = rekor.bundle_from_entry(rekor.entry_by_uuid(instance, uuid))
        except rekor.MalformedEntry as exc:
            candidates.append(Candidate(source, problem=str(exc)))
        else:
            candidates.append(Candidate(source, bundle=bundle))
    return candidates


# --- the verdict -----------------------------------------------------------------------


@dataclass
class CandidateResult:
    source: str
    verdict: str  # trusted | untrusted | revoked | invalid
    signer: dict[str, Any] | None = None
    rule: int | None = None
    log_index: int | None = None
    reasons: list[str] = field(default_factory=list)


@dataclass
class CheckResult:
    artifact: str
    digest: str
    project: str
    allowed: bool
    verdict: str
    policy_issued_at: str
    candidates: list[CandidateResult]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)

    def line(self) -> str:
        """The one-line verdict a CI log shows."""
        chosen = next((c for c in self.candidates if c.verdict == "trusted"), None)
        if self.allowed and chosen is not None and chosen.signer is not None:
            return (
                f"ALLOWED {self.artifact}: signed by {chosen.signer['identity']} "
                f"({chosen.signer['issuer']}), rule {chosen.rule} of project "
                f"{self.project}, {chosen.source}"
            )
        if not self.candidates:
            return f"DENIED {self.artifact}: no signature found for {self.digest}"
        reasons = "; ".join(
            f"{c.source}: {c.verdict} ({', '.join(c.reasons)})" for c in self.candidates
        )
        return f"DENIED {self.artifact} for project {self.project}: {reasons}"


_RANK = {"trusted": 0, "revoked": 1, "untrusted": 2, "invalid": 3}


class _AnyIdentity:
    """A sigstore verification policy admitting every identity: the allow-list is applied
    afterwards. (sigstore's UnsafeNoOp does the same but logs a warning on every call.)"""

    def verify(self, cert: x509.Certificate) -> None:
        return None


_ANY_IDENTITY = _AnyIdentity()


def check(
    *,
    artifact: Path,
    candidates: Sequence[Candidate],
    project_policy: ProjectPolicy,
    trust: ClientTrustConfig,
) -> CheckResult:
    """Verify each candidate and apply the allow-list; allowed if any is trusted."""
    digest = file_digest(artifact)
    verifier = Verifier(trusted_root=trust.trusted_root)
    results = [_judge(c, digest, verifier, project_policy) for c in candidates]
    best = min((r.verdict for r in results), key=_RANK.__getitem__, default="untrusted")
    return CheckResult(
        artifact=str(artifact),
        digest=f"sha256:{digest.digest.hex()}",
        project=project_policy.project,
        allowed=best == "trusted",
        verdict=best,
        policy_issued_at=project_policy.issued_at,
        candidates=results,
    )


def _judge(
    candidate: Candidate, digest: Hashed, verifier: Verifier, project_policy: ProjectPolicy
) -> CandidateResult:
    result = CandidateResult(source=candidate.source, verdict="invalid")
    if candidate.bundle is None:
        result.reasons.append(candidate.problem)
        return result
    bundle = candidate.bundle
    # 1. Signature, chain, SCT, inclusion proof, checkpoint and SET; who signed comes next.
    try:
        verifier.verify_artifact(digest, bundle, _ANY_IDENTITY)
    except VerificationError as exc:
        result.reasons.append(f"does not verify: {exc}")
        return result
    result.log_index = bundle.log_entry._inner.log_index
    cert = bundle.signing_certificate
    signer = signer_from_certificate(cert)
    if signer is None:
        result.verdict = "untrusted"
        result.reasons.append("the certificate names no Fulcio identity and issuer")
        return result
    result.signer = _signer_json(signer)
    # 2. Revocations published in the signed policy.
    leaf = _leaf_hash_hex(bundle)
    serial = format(cert.serial_number, "x")
    if leaf in project_policy.revoked_entries or serial in project_policy.revoked_serials:
        result.verdict = "revoked"
        result.reasons.append("the log entry or its certificate is revoked")
        return result
    # 3. The allow-list.
    decision = evaluate(project_policy.rules, signer)
    result.verdict = "trusted" if decision.allowed else "untrusted"
    result.rule = decision.rule.id if decision.rule else None
    result.reasons.extend(decision.reasons)
    return result


def _signer_json(signer: Signer) -> dict[str, Any]:
    return {"identity": signer.identity, "issuer": signer.issuer, **signer.extensions}


def _leaf_hash_hex(bundle: Bundle) -> str:
    body = bundle.log_entry._inner.canonicalized_body
    return hashlib.sha256(b"\x00" + body).hexdigest()
