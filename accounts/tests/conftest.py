from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import AuditEvent, Identity, Membership, Project, Revocation, TrustedSigner
from ca.models import OidcIssuer
from tlog import services
from tlog.invariants import log_check
from tlog.models import Entry, Log, PendingEntry


@pytest.fixture
def rekor_log(db: None) -> Iterator[Log]:
    """A fresh active Rekor log; its invariants are checked after the test (STYLE habit 6)."""
    log = services.log_create(kind=Log.Kind.REKOR)
    yield log
    for each in Log.objects.all():
        if not each.fault:
            assert log_check(each) == [], f"invariants of {each}"


# --- the cast of the API and service tests (owner, maintainer, outsider, staff, anonymous)


ISSUER = "https://login.test"


@pytest.fixture
def oidc_issuer(db: None) -> OidcIssuer:
    """A configured CA issuer, so allow-list rules may name it."""
    return OidcIssuer.objects.create(issuer_url=ISSUER, kind=OidcIssuer.Kind.EMAIL)


def _person(username: str, *, staff: bool = False) -> User:
    user = User.objects.create(username=username, is_staff=staff)
    Identity.objects.create(
        user=user, issuer=ISSUER, subject=f"sub-{username}", email=f"{username}@x.test"
    )
    return user


@pytest.fixture
def owner(db: None) -> User:
    return _person("owner")


@pytest.fixture
def maintainer(db: None) -> User:
    return _person("maintainer")


@pytest.fixture
def outsider(db: None) -> User:
    return _person("outsider")


@pytest.fixture
def staff(db: None) -> User:
    """An instance administrator who is no member of the project."""
    return _person("staff", staff=True)


@pytest.fixture
def project(rekor_log: Log, oidc_issuer: OidcIssuer, owner: User, maintainer: User) -> Project:
    """`demo`, owned by owner, with maintainer as its maintainer."""
    from accounts import services

    created = services.project_create(actor=owner, slug="demo", name="Demo")
    services.maintainer_add(
        actor=owner, project=created, issuer=ISSUER, role="maintainer", subject="sub-maintainer"
    )
    return created


@pytest.fixture
def api() -> Callable[[User | None], APIClient]:
    """`api(owner).post(...)`: a client holding that user's API token; `api(None)` is
    anonymous."""
    from accounts import services

    def client_for(user: User | None) -> APIClient:
        client = APIClient()
        if user is not None:
            _, token = services.api_token_create(user=user, name="tests")
            client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return client_for


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], Any]:
    """`with committed(): ...` runs the on-commit work (log integration) of the block."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


_WRITTEN = (Project, Membership, TrustedSigner, Revocation, AuditEvent, PendingEntry, Entry)


@pytest.fixture
def nothing_written(db: None) -> Callable[[], Any]:
    """`with nothing_written(): ...` asserts the block changed no row of the cast's tables."""

    @contextmanager
    def check() -> Iterator[None]:
        before = [list(model.objects.order_by("pk").values()) for model in _WRITTEN]
        yield
        after = [list(model.objects.order_by("pk").values()) for model in _WRITTEN]
        assert before == after

    return check


def last_event(project: Project | None) -> AuditEvent:
    """The project's latest audit event, after checking its log entry is integrated."""
    event = AuditEvent.objects.filter(project=project).order_by("-sequence").first()
    assert event is not None
    assert Entry.objects.filter(leaf_hash=bytes.fromhex(event.log_leaf_hash)).exists()
    return event


def event_detail(event: AuditEvent) -> dict[str, Any]:
    return dict(json.loads(bytes(event.document))["detail"])
