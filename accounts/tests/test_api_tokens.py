"""/api/v1/account/tokens, and how API tokens and sessions authenticate the API."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.utils import timezone
from rest_framework.test import APIClient

from accounts import services
from accounts.models import ApiToken, Project

URL = "/api/v1/account/tokens"
CSRF = "A" * 32


def _bearer(token: str) -> APIClient:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


def test_a_created_token_is_shown_once_and_works(outsider: User) -> None:
    session = APIClient()
    session.force_login(outsider)
    created = session.post(URL, {"name": "ci"}, format="json")
    assert created.status_code == 201
    token = created.json()["token"]
    assert token.startswith("sp_") and created.json()["prefix"] == token[:12]
    listed = _bearer(token).get(URL)
    assert listed.status_code == 200
    assert [t["name"] for t in listed.json()] == ["ci"]
    assert "token" not in listed.json()[0] and token not in listed.content.decode()


def test_anonymous_has_no_tokens(db: None) -> None:
    assert APIClient().get(URL).status_code == 401
    assert APIClient().post(URL, {"name": "x"}, format="json").status_code == 401
    assert APIClient().delete(f"{URL}/1").status_code == 401


def test_a_user_deletes_their_token_and_it_stops_working(outsider: User) -> None:
    row, token = services.api_token_create(user=outsider, name="old")
    _, other = services.api_token_create(user=outsider, name="other")
    assert _bearer(other).delete(f"{URL}/{row.pk}").status_code == 204
    response = _bearer(token).get(URL)
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"


def test_nobody_deletes_someone_elses_token(owner: User, outsider: User) -> None:
    row, _ = services.api_token_create(user=owner, name="mine")
    _, theirs = services.api_token_create(user=outsider, name="theirs")
    assert _bearer(theirs).delete(f"{URL}/{row.pk}").status_code == 404
    assert _bearer(theirs).delete(f"{URL}/{2**70}").status_code == 404
    assert ApiToken.objects.filter(pk=row.pk).exists()


def test_at_most_twenty_tokens(outsider: User) -> None:
    for n in range(19):
        services.api_token_create(user=outsider, name=f"t{n}")
    _, token = services.api_token_create(user=outsider, name="last")
    response = _bearer(token).post(URL, {"name": "21st"}, format="json")
    assert response.status_code == 409 and response.json()["code"] == "too_many_tokens"


@pytest.mark.parametrize("body", [{}, {"name": ""}, {"name": "n" * 101}, {"name": 1}, {"x": 1}])
def test_bad_token_names_are_400(outsider: User, body: dict[str, Any]) -> None:
    _, token = services.api_token_create(user=outsider, name="t")
    assert _bearer(token).post(URL, body, format="json").status_code == 400


@pytest.mark.parametrize(
    "header",
    [
        "Bearer",
        "Bearer ",
        "Bearer sp_unknownunknownunknownunknownunknownunknown",
        "Bearer xx_" + "a" * 43,
        "Bearer sp_" + "a" * 200,
        "Bearer sp_a b",
        "Bearer sp_\u00e9\u00e9\u00e9",
        "Token sp_" + "a" * 43,
        "Basic b3duZXI6cHc=",
    ],
)
def test_a_bad_authorization_header_is_401_even_for_public_reads(
    project: Project, header: str
) -> None:
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=header)
    response = client.get("/api/v1/projects")
    assert response.status_code == 401, header
    assert response.json()["code"] == "unauthenticated"


def test_an_inactive_users_token_is_401(outsider: User) -> None:
    _, token = services.api_token_create(user=outsider, name="t")
    outsider.is_active = False
    outsider.save()
    assert _bearer(token).get(URL).status_code == 401


def test_last_used_at_is_written_at_most_once_a_minute(outsider: User) -> None:
    row, token = services.api_token_create(user=outsider, name="t")
    assert row.last_used_at is None
    _bearer(token).get(URL)
    row.refresh_from_db()
    first = row.last_used_at
    assert first is not None
    _bearer(token).get(URL)
    row.refresh_from_db()
    assert row.last_used_at == first
    ApiToken.objects.filter(pk=row.pk).update(last_used_at=first - timedelta(minutes=2))
    _bearer(token).get(URL)
    row.refresh_from_db()
    assert row.last_used_at is not None and row.last_used_at > first - timedelta(seconds=1)
    assert row.last_used_at <= timezone.now()


# --- session authentication: CSRF on unsafe methods ---------------------------------------


@pytest.fixture
def session(outsider: User) -> APIClient:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(outsider)
    return client


def test_a_session_reads_without_a_csrf_token(session: APIClient) -> None:
    assert session.get(URL).status_code == 200


def test_a_session_write_without_a_csrf_token_is_403(
    session: APIClient, nothing_written: Any
) -> None:
    with nothing_written():
        response = session.post(URL, {"name": "x"}, format="json")
    assert response.status_code == 403
    assert "CSRF" in response.json()["message"]
    assert not ApiToken.objects.exists()


def test_a_session_write_with_its_csrf_token_passes(session: APIClient) -> None:
    session.cookies["csrftoken"] = CSRF
    response = session.post(URL, {"name": "x"}, format="json", HTTP_X_CSRFTOKEN=CSRF)
    assert response.status_code == 201


def test_a_token_needs_no_csrf_token(outsider: User) -> None:
    _, token = services.api_token_create(user=outsider, name="t")
    client = APIClient(enforce_csrf_checks=True)
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    assert client.post(URL, {"name": "y"}, format="json").status_code == 201


def test_the_rekor_api_stays_free_of_csrf_for_a_signed_in_browser(session: APIClient) -> None:
    # The compatibility endpoints authenticate nobody: a session cookie changes nothing.
    response = session.post("/api/v1/log/entries", {"kind": "nope"}, format="json")
    assert response.status_code == 400
    assert "CSRF" not in response.content.decode()
