"""The audit trail: every change to a project or its allow-list, signed and logged.

`audit_record` runs inside the caller's transaction. It writes an `AuditEvent` whose
`document` is canonical JSON (RFC 8785) naming the project, the change, who made it and
the SHA-256 of the project's previous event, signs that document with the instance's
policy key, and queues it in the Rekor log as a hashedrekord entry (digest of the
document, signature, policy public key). The event and the pending log entry commit
together or not at all; the log integrates the entry right after the commit.

Anyone can then check a project's history: fetch the events (the API serves each
document and signature), verify each signature with the published policy key, check
that `previous` chains them without gaps, and find each document's digest in the log.
"""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.conf import settings
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import transaction
from django.utils import timezone

from accounts.models import AuditEvent, Identity, PolicyKey, Project
from sigportal import keys
from tlog import services as tlog_services
from tlog.kinds import accept_proposed_entry
from tlog.models import Log

DOCUMENT_TYPE = "https://sigportal.dev/policy-change/v1"
POLICY_TYPE = "https://sigportal.dev/policy/v1"

User = AbstractBaseUser | AnonymousUser


def policy_key_ensure() -> PolicyKey:
    """The active policy key, created on first use (sigportal_init calls this)."""
    with transaction.atomic():
        key = PolicyKey.objects.select_for_update().filter(active=True).first()
        if key is not None:
            return key
        signer = keys.key_create(name="policy", algorithm="ecdsa-p256")
        return PolicyKey.objects.create(
            key_ref=signer.key_ref, public_key_der=keys.spki_der(signer.public_key())
        )


def policy_public_pem(key: PolicyKey) -> str:
    public = serialization.load_der_public_key(bytes(key.public_key_der))
    return public.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    ).decode()


@dataclass(frozen=True)
class SignedDocument:
    document: bytes
    signature: bytes
    key: PolicyKey


def document_sign(payload: dict[str, Any]) -> SignedDocument:
    """Canonicalise `payload` and sign it with the active policy key (ECDSA P-256,
    SHA-256): what policy-change entries and policy documents carry."""
    key = policy_key_ensure()
    document = rfc8785.dumps(payload)
    signature = keys.signer_load(key.key_ref).sign(document)
    return SignedDocument(document, signature, key)


def document_verify(document: bytes, signature: bytes, public_key_der: bytes) -> bool:
    public = serialization.load_der_public_key(public_key_der)
    if not isinstance(public, ec.EllipticCurvePublicKey):
        return False
    try:
        public.verify(signature, document, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


def actor_description(user: User | None) -> dict[str, str]:
    """Who made a change: their OIDC identity when they have one (never a bare email)."""
    if user is None or not user.is_authenticated:
        return {"label": "system"}
    identity = Identity.objects.filter(user=user).order_by("id").first()
    if identity is None:
        return {"label": user.get_username()}
    return {
        "issuer": identity.issuer,
        "subject": identity.subject,
        "label": identity.email or identity.subject,
    }


def _previous(project: Project | None) -> AuditEvent | None:
    events = AuditEvent.objects.filter(project=project).order_by("-sequence")
    return events.first()


def audit_record(
    *, project: Project | None, action: str, actor: User | None, detail: dict[str, Any]
) -> AuditEvent:
    """Record, sign and log one change. Call inside the transaction that makes it.

    The project row is locked so that two changes to one project get successive
    sequence numbers and chain to each other (instance-wide events, project None,
    serialise on the policy key row instead).
    """
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("audit_record must run inside the change's transaction")
    if project is not None:
        Project.objects.select_for_update().filter(pk=project.pk).first()
    else:
        PolicyKey.objects.select_for_update().filter(active=True).first()
    previous = _previous(project)
    sequence = previous.sequence + 1 if previous else 1
    who = actor_description(actor)
    signed = document_sign(
        {
            "_type": DOCUMENT_TYPE,
            "instance": settings.PUBLIC_URL,
            "project": project.slug if project else None,
            "sequence": sequence,
            "previous": previous.document_sha256 if previous else "",
            "action": action,
            "actor": who,
            "detail": detail,
            "time": timezone.now().isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
    )
    digest = hashlib.sha256(signed.document).hexdigest()
    leaf = _log_document(signed, digest)
    return AuditEvent.objects.create(
        project=project,
        sequence=sequence,
        action=action,
        actor=actor if actor is not None and actor.is_authenticated else None,
        actor_label=who["label"][:600],
        document=signed.document,
        document_sha256=digest,
        previous_sha256=previous.document_sha256 if previous else "",
        signature=signed.signature,
        policy_key=signed.key,
        log_leaf_hash=leaf.hex(),
    )


def _log_document(signed: SignedDocument, digest: str) -> bytes:
    """Queue the hashedrekord entry for a signed document; it goes through the same
    checks as any upload (the signature is verified by the entry kind)."""
    pem = policy_public_pem(signed.key).encode()
    proposed = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {
                "content": base64.b64encode(signed.signature).decode(),
                "publicKey": {"content": base64.b64encode(pem).decode()},
            },
            "data": {"hash": {"algorithm": "sha256", "value": digest}},
        },
    }
    accepted = accept_proposed_entry(proposed)
    return tlog_services.entry_enqueue(kind=Log.Kind.REKOR, accepted=accepted)
