"""/api/v1/projects and /api/v1/projects/<slug>."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User
from rest_framework.test import APIClient

from accounts.models import Project
from accounts.tests.conftest import event_detail, last_event
from tlog.models import Log

URL = "/api/v1/projects"


def test_anyone_lists_and_reads_projects(project: Project, api: Any) -> None:
    listed = api(None).get(URL)
    assert listed.status_code == 200
    assert [p["slug"] for p in listed.json()["projects"]] == ["demo"]
    assert listed.json()["next_cursor"] is None
    detail = api(None).get(f"{URL}/demo")
    assert detail.status_code == 200
    assert detail.json()["name"] == "Demo" and detail.json()["your_role"] is None


@pytest.mark.parametrize(("who", "role"), [("owner", "owner"), ("maintainer", "maintainer")])
def test_members_see_their_role(
    project: Project, api: Any, who: str, role: str, request: Any
) -> None:
    response = api(request.getfixturevalue(who)).get(f"{URL}/demo")
    assert response.json()["your_role"] == role


def test_the_project_list_pages_by_slug(rekor_log: Log, api: Any) -> None:
    for n in range(5):
        Project.objects.create(slug=f"p{4 - n}", name=f"P{n}")
    seen, cursor, pages = [], None, 0
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        response = api(None).get(URL, query)
        assert response.status_code == 200, response.json()
        if pages == 0:  # a project created behind the reader never shifts its pages
            Project.objects.create(slug="a-late", name="A late one")
        seen += [p["slug"] for p in response.json()["projects"]]
        cursor, pages = response.json()["next_cursor"], pages + 1
        if cursor is None:
            break
    assert seen == ["p0", "p1", "p2", "p3", "p4"] and pages == 3


@pytest.mark.parametrize(
    "query",
    [{"limit": 0}, {"limit": 201}, {"limit": "x"}, {"cursor": "not a slug!"}, {"page": 2}],
)
def test_bad_list_parameters_are_400(rekor_log: Log, api: Any, query: dict[str, Any]) -> None:
    response = api(None).get(URL, query)
    assert response.status_code == 400
    assert set(response.json()) >= {"code", "message"}


def test_an_unknown_project_is_404(rekor_log: Log, api: Any) -> None:
    response = api(None).get(f"{URL}/nope")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"


def test_a_signed_in_user_creates_a_project_and_owns_it(
    rekor_log: Log, outsider: User, api: Any, committed: Any
) -> None:
    with committed():
        response = api(outsider).post(
            URL, {"slug": "tools", "name": "Tools", "description": "x"}, format="json"
        )
    assert response.status_code == 201, response.json()
    assert response.json()["your_role"] == "owner"
    event = last_event(Project.objects.get(slug="tools"))
    assert event.action == "project.created" and event_detail(event)["description"] == "x"


def test_anonymous_cannot_create(rekor_log: Log, api: Any, nothing_written: Any) -> None:
    with nothing_written():
        response = api(None).post(URL, {"slug": "tools", "name": "Tools"}, format="json")
    assert response.status_code == 401
    assert response.json()["code"] == "unauthenticated"
    assert response["WWW-Authenticate"].startswith("Bearer")


def test_a_taken_slug_is_409(project: Project, outsider: User, api: Any) -> None:
    response = api(outsider).post(URL, {"slug": "demo", "name": "Again"}, format="json")
    assert response.status_code == 409
    assert response.json() == {
        "code": "slug_taken",
        "message": "a project with the slug 'demo' exists",
    }


@pytest.mark.parametrize(
    "body",
    [
        {"slug": "ab", "name": "X"},
        {"slug": "Tools", "name": "X"},
        {"slug": "tools"},
        {"slug": "tools", "name": ""},
        {"slug": "tools", "name": "x" * 201},
        {"slug": "tools", "name": 5},
        {"slug": ["tools"], "name": "X"},
        {"slug": "tools", "name": None},
        {"slug": "tools", "name": "X", "owner": "me"},
        {"slug": "tools", "name": "X", "description": "d" * 4001},
        ["tools"],
        "tools",
    ],
)
def test_bad_input_is_400(
    rekor_log: Log, outsider: User, api: Any, body: Any, nothing_written: Any
) -> None:
    client = api(outsider)
    with nothing_written():
        response = client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()) == {"code", "message"}


def test_malformed_json_is_400(rekor_log: Log, outsider: User, api: Any) -> None:
    response = api(outsider).post(URL, "{not json", content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"


def test_a_form_body_is_415(rekor_log: Log, outsider: User, api: Any) -> None:
    response = api(outsider).post(URL, {"slug": "tools", "name": "X"})
    assert response.status_code == 415


@pytest.mark.parametrize("who", ["owner", "maintainer"])
def test_owners_and_maintainers_edit_the_project(
    project: Project, api: Any, who: str, request: Any, committed: Any
) -> None:
    with committed():
        response = api(request.getfixturevalue(who)).patch(
            f"{URL}/demo", {"description": "new"}, format="json"
        )
    assert response.status_code == 200
    assert response.json()["description"] == "new" and response.json()["name"] == "Demo"
    assert last_event(project).action == "project.updated"


@pytest.mark.parametrize(("who", "status"), [("outsider", 403), ("staff", 403), (None, 401)])
def test_nobody_else_edits_the_project(
    project: Project, api: Any, who: str | None, status: int, request: Any, nothing_written: Any
) -> None:
    user = request.getfixturevalue(who) if who else None
    client = api(user)
    with nothing_written():
        response = client.patch(f"{URL}/demo", {"name": "Mine"}, format="json")
    assert response.status_code == status
    assert set(response.json()) == {"code", "message"}


def test_the_slug_cannot_be_changed(project: Project, owner: User, api: Any) -> None:
    response = api(owner).patch(f"{URL}/demo", {"slug": "other"}, format="json")
    assert response.status_code == 400


def test_a_session_creates_a_project_with_its_csrf_token(
    rekor_log: Log, outsider: User, committed: Any
) -> None:
    client = APIClient(enforce_csrf_checks=True)
    client.force_login(outsider)
    body = {"slug": "tools", "name": "Tools"}
    refused = client.post(URL, body, format="json")
    assert refused.status_code == 403 and not Project.objects.exists()
    client.cookies["csrftoken"] = "B" * 32
    with committed():
        created = client.post(URL, body, format="json", HTTP_X_CSRFTOKEN="B" * 32)
    assert created.status_code == 201
    assert last_event(Project.objects.get(slug="tools")).actor == outsider


def test_deeply_nested_json_is_400(rekor_log: Log, outsider: User, api: Any) -> None:
    response = api(outsider).post(URL, "[" * 60_000, content_type="application/json")
    assert response.status_code == 400
    assert response.json()["code"] == "malformed_request"
