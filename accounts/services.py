"""Writes of the accounts app: projects, maintainers, allow-lists, revocations, API tokens.

Every service is keyword-only, checks the actor's permission itself (so the pages and
the API share one set of rules), runs in one transaction, and records each change with
`audit_record` inside that transaction: the change, its audit event and its log entry
commit together or not at all. Refusals raise accounts.errors before anything is written.

Who may do what:
- any signed-in user creates a project and becomes its owner;
- owners add, re-role and remove maintainers (a project always keeps one owner);
- owners and maintainers edit the project, its allow-list and its revocations;
- staff (or superusers) add instance-wide revocations;
- a user manages only their own API tokens.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from datetime import timedelta
from typing import Any, TypeAlias

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser, AnonymousUser
from django.db import IntegrityError, transaction
from django.utils import timezone

from accounts.audit import actor_description, audit_record
from accounts.core.policy import PatternError, validate_exact, validate_pattern
from accounts.errors import Conflict, Forbidden, InvalidInput, NotFound
from accounts.models import (
    ApiToken,
    Identity,
    Membership,
    Project,
    Revocation,
    TrustedSigner,
)
from ca.models import OidcIssuer

User: TypeAlias = AbstractBaseUser | AnonymousUser

SLUG_RE = re.compile(r"[a-z0-9](?:[a-z0-9-]{1,62})[a-z0-9]")
MAX_TOKENS_PER_USER = 20
TOKEN_PREFIX = "sp_"  # noqa: S105 (the visible marker of our tokens, not a secret)
TOKEN_PREFIX_LENGTH = 12  # "sp_" and 9 characters: enough to tell tokens apart, not to guess
MANAGERS = (Membership.Role.OWNER, Membership.Role.MAINTAINER)
_ENTRY_RE = re.compile(r"[0-9a-f]{64}|[0-9a-f]{80}")
_SERIAL_RE = re.compile(r"[0-9a-f]{1,64}")


# --- shared checks -----------------------------------------------------------------------


def _text(
    value: str, *, field: str, max_length: int, required: bool = False, multiline: bool = False
) -> str:
    """A bounded, printable string (newlines and tabs allowed only where `multiline`)."""
    if not isinstance(value, str):
        raise InvalidInput("invalid_" + field, f"{field} must be a string")
    value = value.strip()
    if required and not value:
        raise InvalidInput("invalid_" + field, f"{field} is required")
    if len(value) > max_length:
        raise InvalidInput("invalid_" + field, f"{field} is at most {max_length} characters")
    visible = value.replace("\n", "").replace("\r", "").replace("\t", "") if multiline else value
    if not visible.isprintable():
        raise InvalidInput("invalid_" + field, f"{field} must be printable text")
    return value


def _require_user(actor: User | None) -> AbstractBaseUser:
    """A signed-in user with an OIDC identity (or an administrator).

    Users are keyed by (issuer, subject): an account that never signed in through OIDC
    (the development provider's own session, a password-only account) may not act in
    the portal, or every record would name a bare username. Staff act from the admin.
    """
    if actor is None or not actor.is_authenticated or not actor.is_active:
        raise Forbidden("unauthenticated", "sign in first")
    assert isinstance(actor, AbstractBaseUser)
    if not getattr(actor, "is_staff", False) and not Identity.objects.filter(user=actor).exists():
        raise Forbidden(
            "no_identity", "sign in to the portal with an identity provider (Sign in) first"
        )
    return actor


def role_of(user: User | None, project: Project) -> str | None:
    """The user's role in the project, or None (shared with selectors.project_role)."""
    if user is None or not user.is_authenticated:
        return None
    return (
        Membership.objects.filter(project=project, user_id=user.pk)
        .values_list("role", flat=True)
        .first()
    )


def _require_role(actor: User | None, project: Project, roles: tuple[str, ...], what: str) -> None:
    user = _require_user(actor)
    if role_of(user, project) not in roles:
        who = "owners" if roles == (Membership.Role.OWNER,) else "owners and maintainers"
        raise Forbidden("forbidden", f"only the project's {who} may {what}")


def _locked(project: Project, actor: User, roles: tuple[str, ...], what: str) -> Project:
    """Lock the project row, so that changes to one project (and its owner count)
    serialise, then check the actor's role again under the lock: the early check fails
    fast, this one holds even if the actor was removed meanwhile."""
    locked = Project.objects.select_for_update().get(pk=project.pk)
    _require_role(actor, locked, roles, what)
    return locked


# --- projects ----------------------------------------------------------------------------


def _project_detail(project: Project) -> dict[str, Any]:
    return {"slug": project.slug, "name": project.name, "description": project.description}


def project_create(*, actor: User, slug: str, name: str, description: str = "") -> Project:
    user = _require_user(actor)
    if not isinstance(slug, str) or not SLUG_RE.fullmatch(slug):
        raise InvalidInput(
            "invalid_slug",
            "a slug is 3 to 64 lowercase letters, digits and hyphens, "
            "starting and ending with a letter or digit",
        )
    name = _text(name, field="name", max_length=200, required=True)
    description = _text(description, field="description", max_length=4000, multiline=True)
    try:
        with transaction.atomic():
            project = Project.objects.create(
                slug=slug, name=name, description=description, created_by=user
            )
            Membership.objects.create(
                project=project, user=user, role=Membership.Role.OWNER, added_by=user
            )
            audit_record(
                project=project,
                action="project.created",
                actor=user,
                detail={**_project_detail(project), "owner": actor_description(user)},
            )
    except IntegrityError:
        raise Conflict("slug_taken", f"a project with the slug {slug!r} exists") from None
    return project


def project_update(
    *, actor: User, project: Project, name: str | None = None, description: str | None = None
) -> Project:
    _require_role(actor, project, MANAGERS, "edit the project")
    changes: dict[str, str] = {}
    if name is not None:
        changes["name"] = _text(name, field="name", max_length=200, required=True)
    if description is not None:
        changes["description"] = _text(
            description, field="description", max_length=4000, multiline=True
        )
    with transaction.atomic():
        current = _locked(project, actor, MANAGERS, "edit the project")
        changed = {k: v for k, v in changes.items() if getattr(current, k) != v}
        if not changed:
            return current
        previous = {k: getattr(current, k) for k in changed}
        for key, value in changed.items():
            setattr(current, key, value)
        current.save(update_fields=list(changed))
        audit_record(
            project=current,
            action="project.updated",
            actor=actor,
            detail={**_project_detail(current), "previous": previous},
        )
    return current


# --- maintainers -------------------------------------------------------------------------


def _membership_detail(membership: Membership) -> dict[str, Any]:
    return {
        "membership_id": membership.pk,
        "user": actor_description(membership.user),
        "role": membership.role,
    }


def _check_role(role: str) -> str:
    if role not in Membership.Role.values:
        raise InvalidInput("invalid_role", f"role is one of {', '.join(Membership.Role.values)}")
    return role


def _identity_find(issuer: str, email: str | None, subject: str | None) -> Identity:
    """The signed-in identity named by (issuer, subject) or (issuer, email).

    The email is the one the identity provider reported at sign-in (the login backend
    keeps it only when the provider verified it); an email is never used without its
    issuer, since another provider could assert the same address for someone else."""
    issuer = _text(issuer, field="issuer", max_length=512, required=True)
    if (email is None) == (subject is None):
        raise InvalidInput("invalid_person", "give either the email or the subject, not both")
    if subject is not None:
        subject = _text(subject, field="subject", max_length=255, required=True)
        found = list(Identity.objects.filter(issuer=issuer, subject=subject)[:2])
        named = f"subject {subject!r}"
    else:
        assert email is not None
        email = _text(email, field="email", max_length=254, required=True)
        found = list(Identity.objects.filter(issuer=issuer, email__iexact=email)[:2])
        named = f"email {email!r}"
    if not found:
        raise NotFound(
            "unknown_person",
            f"nobody with {named} from {issuer} has signed in here; "
            "they must sign in once first, then you can add them",
        )
    if len(found) > 1:
        raise InvalidInput(
            "ambiguous_person", f"several identities share {named}; name them by subject"
        )
    return found[0]


def maintainer_add(
    *,
    actor: User,
    project: Project,
    issuer: str,
    role: str,
    email: str | None = None,
    subject: str | None = None,
) -> Membership:
    _require_role(actor, project, (Membership.Role.OWNER,), "add maintainers")
    role = _check_role(role)
    identity = _identity_find(issuer, email, subject)
    try:
        with transaction.atomic():
            current = _locked(project, actor, (Membership.Role.OWNER,), "add maintainers")
            membership = Membership.objects.create(
                project=current, user=identity.user, role=role, added_by=actor
            )
            audit_record(
                project=current,
                action="maintainer.added",
                actor=actor,
                detail=_membership_detail(membership),
            )
    except IntegrityError:
        raise Conflict("already_member", "that person is already a member") from None
    return membership


def _other_owners(membership: Membership) -> bool:
    return (
        Membership.objects.filter(project_id=membership.project_id, role=Membership.Role.OWNER)
        .exclude(pk=membership.pk)
        .exists()
    )


def maintainer_set_role(*, actor: User, membership: Membership, role: str) -> Membership:
    _require_role(actor, membership.project, (Membership.Role.OWNER,), "change roles")
    role = _check_role(role)
    with transaction.atomic():
        project = _locked(membership.project, actor, (Membership.Role.OWNER,), "change roles")
        current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if current is None:
            raise NotFound("not_found", "no such maintainer")
        if current.role == role:
            return current
        if current.role == Membership.Role.OWNER and not _other_owners(current):
            raise Conflict("last_owner", "a project keeps at least one owner; add another first")
        previous, current.role = current.role, role
        current.save(update_fields=["role"])
        audit_record(
            project=project,
            action="maintainer.role_changed",
            actor=actor,
            detail={**_membership_detail(current), "previous_role": previous},
        )
    return current


def maintainer_remove(*, actor: User, membership: Membership) -> None:
    _require_role(actor, membership.project, (Membership.Role.OWNER,), "remove maintainers")
    with transaction.atomic():
        project = _locked(membership.project, actor, (Membership.Role.OWNER,), "remove maintainers")
        current = Membership.objects.select_for_update().filter(pk=membership.pk).first()
        if current is None:
            raise NotFound("not_found", "no such maintainer")
        if current.role == Membership.Role.OWNER and not _other_owners(current):
            raise Conflict("last_owner", "a project keeps at least one owner; add another first")
        detail = _membership_detail(current)
        current.delete()
        audit_record(project=project, action="maintainer.removed", actor=actor, detail=detail)


# --- the allow-list ----------------------------------------------------------------------


def signer_detail(signer: TrustedSigner) -> dict[str, Any]:
    return {
        "signer_id": signer.pk,
        "issuer": signer.issuer,
        "identity": signer.identity,
        "match": signer.match,
        "constraints": {
            "source_repository": signer.source_repository,
            "source_ref": signer.source_ref,
            "build_trigger": signer.build_trigger,
        },
        "note": signer.note,
    }


def _check_signer_issuer(issuer: str) -> str:
    issuer = _text(issuer, field="issuer", max_length=512, required=True)
    if not OidcIssuer.objects.filter(issuer_url=issuer).exists():
        raise InvalidInput(
            "unknown_issuer",
            f"{issuer} is not an OIDC issuer configured on this instance; only certificates "
            "from this instance's CA verify, and it issues them only for its configured "
            "issuers (see /api/v2/configuration)",
        )
    return issuer


def _check_identity(identity: str, match: str) -> str:
    if not isinstance(identity, str):
        raise InvalidInput("invalid_identity", "identity must be a string")
    identity = identity.strip()
    try:
        if match == TrustedSigner.Match.EXACT:
            validate_exact(identity)
        elif match == TrustedSigner.Match.PATTERN:
            validate_pattern(identity)
        else:
            raise InvalidInput("invalid_match", "match is 'exact' or 'pattern'")
    except PatternError as exc:
        raise InvalidInput("invalid_identity", str(exc)) from None
    return identity


def signer_add(
    *,
    actor: User,
    project: Project,
    issuer: str,
    identity: str,
    match: str = "exact",
    source_repository: str = "",
    source_ref: str = "",
    build_trigger: str = "",
    note: str = "",
) -> TrustedSigner:
    _require_role(actor, project, MANAGERS, "change the allow-list")
    fields = {
        "issuer": _check_signer_issuer(issuer),
        "identity": _check_identity(identity, match),
        "match": match,
        "source_repository": _text(source_repository, field="source_repository", max_length=1024),
        "source_ref": _text(source_ref, field="source_ref", max_length=255),
        "build_trigger": _text(build_trigger, field="build_trigger", max_length=64),
        "note": _text(note, field="note", max_length=500),
    }
    try:
        with transaction.atomic():
            current = _locked(project, actor, MANAGERS, "change the allow-list")
            signer = TrustedSigner.objects.create(project=current, added_by=actor, **fields)
            audit_record(
                project=current, action="signer.added", actor=actor, detail=signer_detail(signer)
            )
    except IntegrityError:
        raise Conflict("duplicate_signer", "the allow-list already has that rule") from None
    return signer


def signer_remove(*, actor: User, signer: TrustedSigner) -> None:
    _require_role(actor, signer.project, MANAGERS, "change the allow-list")
    with transaction.atomic():
        project = _locked(signer.project, actor, MANAGERS, "change the allow-list")
        current = TrustedSigner.objects.select_for_update().filter(pk=signer.pk).first()
        if current is None:
            raise NotFound("not_found", "no such allow-list rule")
        detail = signer_detail(current)
        current.delete()
        audit_record(project=project, action="signer.removed", actor=actor, detail=detail)


# --- revocations -------------------------------------------------------------------------


def revocation_target_normalise(target_kind: str, target: str) -> str:
    """The stored form of a revocation target; InvalidInput when it is not one.

    An entry is named by its UUID (64 hex, or 80 with the tree-id prefix) and stored as
    its leaf hash, the last 64 hex digits. A certificate is named by its serial, stored
    as ca.models.IssuedCertificate.serial_hex writes it: format(serial, "x"), lowercase
    without leading zeros ("0x" and colons, as openssl prints them, are accepted)."""
    if not isinstance(target, str):
        raise InvalidInput("invalid_target", "target must be a string")
    value = target.strip().lower()
    if target_kind == Revocation.Target.ENTRY:
        if not _ENTRY_RE.fullmatch(value):
            raise InvalidInput("invalid_target", "an entry UUID is 64 or 80 hex digits")
        return value[-64:]
    if target_kind == Revocation.Target.CERTIFICATE:
        value = value.removeprefix("0x").replace(":", "")
        if not _SERIAL_RE.fullmatch(value):
            raise InvalidInput("invalid_target", "a certificate serial is 1 to 64 hex digits")
        return value.lstrip("0") or "0"
    raise InvalidInput("invalid_target_kind", "target_kind is 'entry' or 'certificate'")


def _require_revoker(actor: User, project: Project | None) -> AbstractBaseUser:
    if project is not None:
        _require_role(actor, project, MANAGERS, "revoke for this project")
        return _require_user(actor)
    user = _require_user(actor)
    if not (getattr(user, "is_staff", False) or getattr(user, "is_superuser", False)):
        raise Forbidden("forbidden", "only the instance's administrators revoke instance-wide")
    return user


def revocation_add(
    *, actor: User, project: Project | None, target_kind: str, target: str, reason: str
) -> Revocation:
    user = _require_revoker(actor, project)
    value = revocation_target_normalise(target_kind, target)
    reason = _text(reason, field="reason", max_length=500, required=True)
    try:
        with transaction.atomic():
            current = (
                _locked(project, actor, MANAGERS, "revoke for this project")
                if project is not None
                else None
            )
            revocation = Revocation.objects.create(
                project=current,
                target_kind=target_kind,
                target=value,
                reason=reason,
                revoked_by=user,
            )
            audit_record(
                project=current,
                action="revocation.added",
                actor=user,
                detail={
                    "revocation_id": revocation.pk,
                    "scope": current.slug if current is not None else "instance",
                    "target_kind": target_kind,
                    "target": value,
                    "reason": reason,
                },
            )
    except IntegrityError:
        raise Conflict("already_revoked", f"that {target_kind} is already revoked here") from None
    return revocation


# --- API tokens --------------------------------------------------------------------------


def token_hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def api_token_create(*, user: User, name: str) -> tuple[ApiToken, str]:
    """A new token for `user`: the row and the token itself, which is never stored (only
    its SHA-256 and visible prefix are) and so can be shown only now.

    Tokens are personal credentials, not project changes: they are not in the audit trail."""
    owner = _require_user(user)
    name = _text(name, field="name", max_length=100, required=True)
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    with transaction.atomic():
        # Lock the user row so that concurrent creations cannot pass the limit together.
        get_user_model().objects.select_for_update().filter(pk=owner.pk).first()
        if ApiToken.objects.filter(user_id=owner.pk).count() >= MAX_TOKENS_PER_USER:
            raise Conflict(
                "too_many_tokens",
                f"you have {MAX_TOKENS_PER_USER} tokens, the most allowed; delete one first",
            )
        row = ApiToken.objects.create(
            user=owner,
            name=name,
            prefix=token[:TOKEN_PREFIX_LENGTH],
            token_sha256=token_hash(token),
        )
    return row, token


def api_token_delete(*, user: User, token_id: int) -> None:
    owner = _require_user(user)
    if not isinstance(token_id, int) or not 0 < token_id < 2**63:
        raise NotFound("not_found", "you have no token with that id")
    with transaction.atomic():
        deleted, _ = ApiToken.objects.filter(pk=token_id, user_id=owner.pk).delete()
    if not deleted:
        raise NotFound("not_found", "you have no token with that id")


def api_token_touch(token: ApiToken, *, every: timedelta = timedelta(minutes=1)) -> None:
    """Record that a token was used, at most once per `every` (one UPDATE that matches
    nothing when the stored time is recent)."""
    now = timezone.now()
    if token.last_used_at is not None and now - token.last_used_at < every:
        return
    ApiToken.objects.filter(pk=token.pk).exclude(last_used_at__gte=now - every).update(
        last_used_at=now
    )
    token.last_used_at = now
