"""Portal pages of the accounts app: sign-in, projects (allow-lists, maintainers,
revocations, audit trail) and the account page (API tokens, development CLI token).

Server-rendered, complete without JavaScript, every form CSRF-protected. A view checks
the method and the caller's role, validates a form, calls one service or selector and
renders; the services check permissions again and raise accounts.errors, which become
a form error (bad input, conflict) or an error page (403, 404). Every write answers
with a redirect back to the page (post/redirect/get), except the one-time token pages.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.forms import Form
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from mozilla_django_oidc.views import OIDCAuthenticationCallbackView, OIDCAuthenticationRequestView

from accounts import selectors, services, signatures
from accounts.backends import SignInUnavailable, callback_url, provider
from accounts.errors import AccountsError, Forbidden, NotFound
from accounts.forms import (
    ApiTokenForm,
    MaintainerForm,
    ProjectForm,
    RevocationForm,
    RoleForm,
    SignerForm,
)
from accounts.models import Identity, Membership, Project
from devidp import issuer_url
from devidp.settings import TOKEN_LIFETIME_SECONDS

SIGNATURES_SHOWN = 50
AUDIT_SHOWN = 200
MANAGERS = (Membership.Role.OWNER, Membership.Role.MAINTAINER)
OWNERS = (Membership.Role.OWNER,)


def _error_page(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    context = {"title": title, "message": message}
    return render(request, "accounts/error.html", context, status=status)


def _refused(request: HttpRequest, exc: AccountsError) -> HttpResponse:
    title = "Not allowed" if isinstance(exc, Forbidden) else "Not found"
    return _error_page(request, exc.status, title, exc.message)


# --- sign-in ---------------------------------------------------------------------------


class SignInView(OIDCAuthenticationRequestView):
    """/oidc/authenticate/: mozilla-django-oidc's redirect to the provider, with the
    endpoints resolved here (discovery at first use) rather than at construction, and
    the callback always on PUBLIC_URL (what the provider has registered), whatever Host
    header a proxy passes on."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Skip the parent's constructor: it reads the endpoints from settings.
        super(OIDCAuthenticationRequestView, self).__init__(*args, **kwargs)

    def get(self, request: HttpRequest) -> HttpResponse:
        try:
            found = provider()
        except SignInUnavailable as exc:
            return _error_page(request, 503, "Sign-in is unavailable", str(exc))
        self.OIDC_OP_AUTH_ENDPOINT = found.authorization_endpoint
        self.OIDC_RP_CLIENT_ID = found.client_id
        response: HttpResponse = super().get(request)
        return response

    def get_extra_params(self, request: HttpRequest) -> dict[str, str]:
        return {"redirect_uri": callback_url()}


class SignInCallbackView(OIDCAuthenticationCallbackView):
    """/oidc/callback/: a failed sign-in says so instead of silently landing on /."""

    def login_failure(self) -> HttpResponse:
        messages.error(
            self.request, "Sign-in failed or was cancelled. Try again, or ask an administrator."
        )
        response: HttpResponse = super().login_failure()
        return response


# --- projects --------------------------------------------------------------------------


PROJECTS_SHOWN = 50
REVOCATIONS_SHOWN = 50


@require_GET
def projects_list(request: HttpRequest) -> HttpResponse:
    after = request.GET.get("after", "")
    if not _SLUG_RE.fullmatch(after):
        after = ""  # not a slug: no project sorts after it, so start at the beginning
    page = selectors.projects_page(after or None, PROJECTS_SHOWN)
    context = {"projects": page.items, "next_cursor": page.next_cursor, "paged": bool(after)}
    return render(request, "accounts/projects_list.html", context)


_SLUG_RE = re.compile(r"[-a-zA-Z0-9_]{0,64}")


def _int_param(request: HttpRequest, name: str) -> int | None:
    value = request.GET.get(name, "")
    return int(value) if value.isascii() and value.isdigit() and len(value) <= 18 else None


@login_required
@require_http_methods(["GET", "POST"])
def project_new(request: HttpRequest) -> HttpResponse:
    form = ProjectForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        try:
            project = services.project_create(actor=request.user, **form.cleaned_data)
        except AccountsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, f"Project {project.slug} created; you are its owner.")
            return HttpResponseRedirect(_project_url(project))
    status = 400 if form.errors else 200
    return render(request, "accounts/project_new.html", {"form": form}, status=status)


def _project_url(project: Project) -> str:
    return f"/projects/{project.slug}/"


@dataclass(frozen=True)
class Member:
    membership: Membership
    label: str
    issuer: str


def _member(membership: Membership) -> Member:
    identities = list(membership.user.identities.all())  # prefetched by the selector
    if not identities:
        return Member(membership, membership.user.get_username(), "")
    first = min(identities, key=lambda identity: identity.pk)
    return Member(membership, first.email or first.subject, first.issuer)


def _labels(users: Iterable[Any]) -> dict[int, str]:
    """How to name each user: their first identity's email (or subject), else their
    user name."""
    ids = {user.pk for user in users if user is not None}
    labels: dict[int, str] = {}
    for identity in Identity.objects.filter(user_id__in=ids).order_by("-id"):
        labels[identity.user_id] = identity.email or identity.subject
    for user in users:
        if user is not None and user.pk not in labels:
            labels[user.pk] = user.get_username()
    return labels


def _project_context(request: HttpRequest, project: Project) -> dict[str, Any]:
    role = selectors.project_role(user=request.user, project=project)
    audit = selectors.audit_events(project, None, AUDIT_SHOWN)
    signers = list(selectors.signers(project).select_related("added_by"))
    revoked = selectors.revocations_page(
        project, _int_param(request, "revocations_before"), REVOCATIONS_SHOWN
    )
    revocations = revoked.items
    labels = _labels([s.added_by for s in signers] + [r.revoked_by for r in revocations])
    return {
        "project": project,
        "role": role,
        "can_manage": role in MANAGERS,
        "is_owner": role in OWNERS,
        "members": [_member(m) for m in selectors.memberships(project)],
        "signers": [(s, labels.get(s.added_by_id or 0, "system")) for s in signers],
        "revocations": [(r, labels.get(r.revoked_by_id or 0, "system")) for r in revocations],
        "revocations_next": revoked.next_cursor,
        "signatures": signatures.project_signatures(project=project, limit=SIGNATURES_SHOWN),
        "audit_events": audit.items,
        "audit_more": audit.next_cursor is not None,
        "role_choices": Membership.Role.choices,
        "public_url": settings.PUBLIC_URL,
        "signer_form": SignerForm(auto_id="signer-%s"),
        "revocation_form": RevocationForm(auto_id="revocation-%s"),
        "maintainer_form": MaintainerForm(auto_id="maintainer-%s"),
    }


@require_GET
def project_detail(request: HttpRequest, slug: str) -> HttpResponse:
    try:
        project = selectors.project_by_slug(slug)
    except NotFound as exc:
        return _refused(request, exc)
    return render(request, "accounts/project_detail.html", _project_context(request, project))


ProjectAction = Callable[[HttpRequest, Project], HttpResponse]


def _project_post(roles: tuple[str, ...]) -> Callable[[ProjectAction], Any]:
    """A POST to one of a project's forms: the project exists and the caller holds one of
    `roles` (checked here for a plain 403 before any input is read, and again by the
    service); accounts errors raised by the action become error pages."""

    def decorate(action: ProjectAction) -> Callable[..., HttpResponse]:
        @require_POST
        @functools.wraps(action)
        def view(request: HttpRequest, slug: str, **kwargs: Any) -> HttpResponse:
            try:
                project = selectors.project_by_slug(slug)
                if selectors.project_role(user=request.user, project=project) not in roles:
                    who = "owners" if roles == OWNERS else "owners and maintainers"
                    raise Forbidden("forbidden", f"Only the project's {who} may do this.")
                return action(request, project, **kwargs)
            except (Forbidden, NotFound) as exc:
                return _refused(request, exc)

        return view

    return decorate


def _form_post(
    request: HttpRequest,
    project: Project,
    form: Form,
    context_name: str,
    write: Callable[[dict[str, Any]], str],
) -> HttpResponse:
    """Validate `form`, run `write` with its data; on success a message and back to the
    project page, else the page again with the form and its errors."""
    if form.is_valid():
        try:
            done = write(form.cleaned_data)
        except Forbidden:
            raise
        except AccountsError as exc:
            form.add_error(None, exc.message)
        else:
            messages.success(request, done)
            return HttpResponseRedirect(_project_url(project))
    context = {**_project_context(request, project), context_name: form}
    return render(request, "accounts/project_detail.html", context, status=400)


@_project_post(MANAGERS)
def signer_add(request: HttpRequest, project: Project) -> HttpResponse:
    def write(data: dict[str, Any]) -> str:
        signer = services.signer_add(actor=request.user, project=project, **data)
        return f"{signer.identity} may now sign for {project.slug}."

    form = SignerForm(request.POST, auto_id="signer-%s")
    return _form_post(request, project, form, "signer_form", write)


@_project_post(MANAGERS)
def signer_remove(request: HttpRequest, project: Project, signer_id: int) -> HttpResponse:
    signer = selectors.signer_get(project, signer_id)

    def write() -> str:
        services.signer_remove(actor=request.user, signer=signer)
        return f"{signer.identity} was removed from the allow-list."

    return _change(request, project, write)


@_project_post(MANAGERS)
def revocation_add(request: HttpRequest, project: Project) -> HttpResponse:
    def write(data: dict[str, Any]) -> str:
        services.revocation_add(actor=request.user, project=project, **data)
        return f"Revoked {data['target_kind']} {data['target']} for {project.slug}."

    form = RevocationForm(request.POST, auto_id="revocation-%s")
    return _form_post(request, project, form, "revocation_form", write)


@_project_post(OWNERS)
def maintainer_add(request: HttpRequest, project: Project) -> HttpResponse:
    def write(data: dict[str, Any]) -> str:
        services.maintainer_add(actor=request.user, project=project, **data)
        return f"{data['email']} is now a {data['role']} of {project.slug}."

    form = MaintainerForm(request.POST, auto_id="maintainer-%s")
    return _form_post(request, project, form, "maintainer_form", write)


def _change(request: HttpRequest, project: Project, write: Callable[[], str]) -> HttpResponse:
    try:
        messages.success(request, write())
    except Forbidden:
        raise
    except AccountsError as exc:
        messages.error(request, exc.message)
    return HttpResponseRedirect(_project_url(project))


@_project_post(OWNERS)
def maintainer_role(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    membership = selectors.membership_get(project, membership_id)
    form = RoleForm(request.POST)
    if not form.is_valid():
        return _error_page(request, 400, "Not a role", "Choose owner or maintainer.")

    def write() -> str:
        role = form.cleaned_data["role"]
        services.maintainer_set_role(actor=request.user, membership=membership, role=role)
        return f"{_person(membership)} is now a {role}."

    return _change(request, project, write)


@_project_post(OWNERS)
def maintainer_remove(request: HttpRequest, project: Project, membership_id: int) -> HttpResponse:
    membership = selectors.membership_get(project, membership_id)

    def write() -> str:
        services.maintainer_remove(actor=request.user, membership=membership)
        return f"{_person(membership)} is no longer a member of {project.slug}."

    return _change(request, project, write)


def _person(membership: Membership) -> str:
    identity = membership.user.identities.order_by("id").first()
    if identity is None:
        return membership.user.get_username()
    return identity.email or identity.subject


# --- account ---------------------------------------------------------------------------


def _dev_identity(identities: list[Identity]) -> Identity | None:
    """The identity a development CLI token can be minted for: one from the development
    provider, with an email it verified."""
    if not settings.DEV_IDP_ENABLED:
        return None
    issuer = issuer_url()
    return next((i for i in identities if i.issuer == issuer and i.email), None)


def _account_context(request: HttpRequest, **extra: Any) -> dict[str, Any]:
    identities = list(Identity.objects.filter(user_id=request.user.pk).order_by("id"))
    return {
        "identities": identities,
        "tokens": selectors.api_tokens(request.user),
        "token_form": ApiTokenForm(auto_id="token-%s"),
        "dev_identity": _dev_identity(identities),
        "public_url": settings.PUBLIC_URL,
        **extra,
    }


@never_cache
@login_required
@require_GET
def account(request: HttpRequest) -> HttpResponse:
    return render(request, "accounts/account.html", _account_context(request))


@never_cache
@login_required
@require_POST
def api_token_create(request: HttpRequest) -> HttpResponse:
    """Create a token and show it, once, on this response (never stored in clear)."""
    form = ApiTokenForm(request.POST, auto_id="token-%s")
    if form.is_valid():
        try:
            token, secret = services.api_token_create(user=request.user, **form.cleaned_data)
        except AccountsError as exc:
            form.add_error(None, exc.message)
        else:
            context = {"token": token, "secret": secret, "public_url": settings.PUBLIC_URL}
            return render(request, "accounts/token_created.html", context)
    context = _account_context(request, token_form=form)
    return render(request, "accounts/account.html", context, status=400)


@login_required
@require_POST
def api_token_delete(request: HttpRequest, token_id: int) -> HttpResponse:
    try:
        services.api_token_delete(user=request.user, token_id=token_id)
    except NotFound as exc:
        return _refused(request, exc)
    messages.success(request, "The token was deleted; anything using it is now refused.")
    return HttpResponseRedirect("/account/")


@never_cache
@login_required
@require_POST
def dev_token(request: HttpRequest) -> HttpResponse:
    """A fresh ID token from the development provider for the signed-in person's own
    address, for `sigstore sign --identity-token` or sigclient (SIGSTORE_ID_TOKEN)."""
    identities = list(Identity.objects.filter(user_id=request.user.pk).order_by("id"))
    identity = _dev_identity(identities)
    if identity is None:
        return _error_page(
            request,
            403,
            "No development token",
            "Development tokens are only for identities from this instance's "
            "development identity provider.",
        )
    # Imported here: devidp's token module needs its OAuth app, installed only when on.
    from devidp.tokens import mint_token

    context = {
        "identity": identity,
        "token": mint_token(identity.email),
        "lifetime_minutes": TOKEN_LIFETIME_SECONDS // 60,
        "public_url": settings.PUBLIC_URL,
    }
    return render(request, "accounts/dev_token.html", context)
