"""Reads of the accounts app. Every project is public to read: its maintainers, its
allow-list, its revocations and its audit trail are what verifiers rely on."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from django.db.models import F, Q, QuerySet

from accounts import services
from accounts.errors import NotFound
from accounts.models import (
    ApiToken,
    AuditEvent,
    Membership,
    Project,
    Revocation,
    TrustedSigner,
)
from accounts.services import User
from tlog import selectors as tlog_selectors
from tlog.models import Entry, Log


def project_by_slug(slug: str) -> Project:
    """The project, or accounts.errors.NotFound."""
    project = Project.objects.filter(slug=slug).first()
    if project is None:
        raise NotFound("not_found", f"no project {slug!r}")
    return project


T = TypeVar("T")


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    #: Pass back as `cursor` for the next page; None on the last page.
    next_cursor: str | int | None


#: The longest page any list answers (a page's `limit` is clamped to it).
MAX_LIST_PAGE = 200


def _page(rows: QuerySet[Any], limit: int, key: Callable[[T], str | int]) -> Page[T]:
    """Keyset pagination: one row past the page says whether there is a next one, and
    the last row's key is where it starts. Rows added meanwhile never shift a page."""
    limit = max(1, min(limit, MAX_LIST_PAGE))
    found: list[T] = list(rows[: limit + 1])
    more = len(found) > limit
    found = found[:limit]
    return Page(found, key(found[-1]) if more else None)


def projects_page(after: str | None, limit: int) -> Page[Project]:
    """Projects by slug, those after `after`."""
    projects = Project.objects.order_by("slug")
    if after:
        projects = projects.filter(slug__gt=after)
    return _page(projects, limit, lambda project: project.slug)


def revocations_page(project: Project | None, before: int | None, limit: int) -> Page[Revocation]:
    """revocations(project), newest first, those older than revocation id `before`."""
    rows = revocations(project).select_related("revoked_by")
    if before is not None:
        rows = rows.filter(id__lt=before)
    return _page(rows, limit, lambda revocation: str(revocation.pk))


def project_role(*, user: User | None, project: Project) -> str | None:
    """'owner', 'maintainer' or None."""
    return services.role_of(user, project)


def memberships(project: Project) -> QuerySet[Membership]:
    return (
        Membership.objects.filter(project=project)
        .select_related("user")
        .prefetch_related("user__identities")
        .order_by("id")
    )


_MAX_ID = 2**63 - 1  # a URL may carry any integer; the database keys are bigint


def membership_get(project: Project, membership_id: int) -> Membership:
    if not 0 < membership_id <= _MAX_ID:
        raise NotFound("not_found", f"no maintainer {membership_id} in {project.slug}")
    found = memberships(project).filter(pk=membership_id).first()
    if found is None:
        raise NotFound("not_found", f"no maintainer {membership_id} in {project.slug}")
    return found


def signers(project: Project) -> QuerySet[TrustedSigner]:
    return TrustedSigner.objects.filter(project=project).order_by("id")


def signer_get(project: Project, signer_id: int) -> TrustedSigner:
    if not 0 < signer_id <= _MAX_ID:
        raise NotFound("not_found", f"no allow-list rule {signer_id} in {project.slug}")
    found = signers(project).filter(pk=signer_id).first()
    if found is None:
        raise NotFound("not_found", f"no allow-list rule {signer_id} in {project.slug}")
    return found


def audit_events(project: Project | None, cursor: int | None, limit: int) -> Page[AuditEvent]:
    """A project's events (project None: instance-wide events) in chain order, oldest
    first, after sequence `cursor`. Events are only ever appended."""
    events = AuditEvent.objects.filter(project=project).select_related("policy_key")
    if cursor is not None:
        events = events.filter(sequence__gt=cursor)
    return _page(events.order_by("sequence"), limit, lambda event: event.sequence)


def api_tokens(user: User) -> QuerySet[ApiToken]:
    return ApiToken.objects.filter(user_id=user.pk).order_by("-created_at", "-id")


def revocations(project: Project | None) -> QuerySet[Revocation]:
    """A project's own revocations, or the instance-wide ones when project is None."""
    if project is None:
        return Revocation.objects.filter(project__isnull=True).order_by("-id")
    return Revocation.objects.filter(project=project).order_by("-id")


def is_revoked(
    *, project: Project | None, entry_leaf_hex: str | None, serial_hex: str | None
) -> Revocation | None:
    """The revocation (the project's own or an instance-wide one) that covers the entry
    (by leaf hash) or the certificate (by serial, as IssuedCertificate.serial_hex), if any.
    Inputs are normalised as revocation_add stores them."""
    targets = Q(pk__in=[])
    if entry_leaf_hex:
        targets |= Q(target_kind=Revocation.Target.ENTRY, target=entry_leaf_hex.lower()[-64:])
    if serial_hex:
        serial = serial_hex.lower().removeprefix("0x").replace(":", "").lstrip("0") or "0"
        targets |= Q(target_kind=Revocation.Target.CERTIFICATE, target=serial)
    scope = Q(project__isnull=True)
    if project is not None:
        scope |= Q(project=project)
    # Instance-wide first: that is the stronger statement to report.
    found = Revocation.objects.filter(targets, scope).order_by(
        F("project_id").asc(nulls_first=True), "id"
    )
    return found.first()


def audit_log_entries(events: list[AuditEvent]) -> dict[str, dict[str, Any]]:
    """The integrated Rekor entry of each event, by leaf hash: its UUID and log index
    (events whose entry is not integrated yet are absent)."""
    leaves = [bytes.fromhex(e.log_leaf_hash) for e in events if e.log_leaf_hash]
    if not leaves:
        return {}
    found = Entry.objects.select_related("log").filter(
        log__kind=Log.Kind.REKOR, leaf_hash__in=leaves
    )
    return {
        bytes(entry.leaf_hash).hex(): {
            "uuid": tlog_selectors.entry_uuid(entry),
            "log_index": tlog_selectors.global_index(entry),
        }
        for entry in found
    }
