"""/api/v1/projects/<slug>/maintainers[/<id>]: owners manage the project's members."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts.models import Membership, Project
from accounts.tests.conftest import ISSUER, event_detail, last_event

URL = "/api/v1/projects/demo/maintainers"


def _id(project: Project, user: User) -> int:
    return Membership.objects.get(project=project, user=user).pk


def test_anyone_lists_the_members(project: Project, api: Any) -> None:
    response = api(None).get(URL)
    assert response.status_code == 200
    assert [(m["label"], m["role"]) for m in response.json()] == [
        ("owner@x.test", "owner"),
        ("maintainer@x.test", "maintainer"),
    ]
    assert response.json()[0]["issuer"] == ISSUER
    assert response.json()[0]["subject"] == "sub-owner"


@pytest.mark.parametrize("person", [{"email": "outsider@x.test"}, {"subject": "sub-outsider"}])
def test_an_owner_adds_someone_who_signed_in(
    project: Project, owner: User, outsider: User, api: Any, person: dict[str, str], committed: Any
) -> None:
    with committed():
        response = api(owner).post(
            URL, {"issuer": ISSUER, "role": "maintainer", **person}, format="json"
        )
    assert response.status_code == 201, response.json()
    assert response.json()["subject"] == "sub-outsider"
    event = last_event(project)
    assert event.action == "maintainer.added"
    assert event_detail(event)["user"]["subject"] == "sub-outsider"


def test_someone_who_never_signed_in_is_404_with_advice(
    project: Project, owner: User, api: Any
) -> None:
    response = api(owner).post(
        URL, {"issuer": ISSUER, "role": "maintainer", "email": "new@x.test"}, format="json"
    )
    assert response.status_code == 404
    assert response.json()["code"] == "unknown_person"
    assert "sign in once first" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"role": "maintainer", "email": "outsider@x.test"},
        {"issuer": ISSUER, "email": "outsider@x.test"},
        {"issuer": ISSUER, "role": "admin", "email": "outsider@x.test"},
        {"issuer": ISSUER, "role": "maintainer"},
        {"issuer": ISSUER, "role": "maintainer", "email": "outsider@x.test", "subject": "s"},
        {"issuer": ISSUER, "role": "maintainer", "email": "e" * 255},
        {"issuer": ISSUER, "role": "maintainer", "email": 1},
        {"issuer": ISSUER, "role": "maintainer", "email": "outsider@x.test", "user_id": 1},
    ],
)
def test_bad_input_is_400(
    project: Project, owner: User, api: Any, body: dict[str, Any], nothing_written: Any
) -> None:
    client = api(owner)
    with nothing_written():
        response = client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()


def test_adding_a_member_twice_is_409(project: Project, owner: User, api: Any) -> None:
    response = api(owner).post(
        URL, {"issuer": ISSUER, "role": "owner", "subject": "sub-maintainer"}, format="json"
    )
    assert response.status_code == 409


@pytest.mark.parametrize(
    ("who", "status"), [("maintainer", 403), ("outsider", 403), ("staff", 403), (None, 401)]
)
def test_only_owners_add(
    project: Project, api: Any, who: str | None, status: int, request: Any, nothing_written: Any
) -> None:
    request.getfixturevalue("outsider")
    client = api(request.getfixturevalue(who) if who else None)
    with nothing_written():
        response = client.post(
            URL, {"issuer": ISSUER, "role": "owner", "subject": "sub-outsider"}, format="json"
        )
    assert response.status_code == status


def test_an_owner_changes_a_role_and_removes_a_member(
    project: Project, owner: User, maintainer: User, api: Any, committed: Any
) -> None:
    member = _id(project, maintainer)
    with committed():
        response = api(owner).patch(f"{URL}/{member}", {"role": "owner"}, format="json")
    assert response.status_code == 200 and response.json()["role"] == "owner"
    assert last_event(project).action == "maintainer.role_changed"
    with committed():
        response = api(owner).delete(f"{URL}/{member}")
    assert response.status_code == 204
    assert last_event(project).action == "maintainer.removed"
    assert not Membership.objects.filter(pk=member).exists()


def test_the_last_owner_stays(
    project: Project, owner: User, api: Any, nothing_written: Any
) -> None:
    client = api(owner)
    mine = _id(project, owner)
    with nothing_written():
        demote = client.patch(f"{URL}/{mine}", {"role": "maintainer"}, format="json")
        leave = client.delete(f"{URL}/{mine}")
    assert (demote.status_code, leave.status_code) == (409, 409)
    assert leave.json()["code"] == "last_owner"


@pytest.mark.parametrize(
    ("who", "status"), [("maintainer", 403), ("outsider", 403), ("staff", 403), (None, 401)]
)
def test_only_owners_change_roles_or_remove(
    project: Project,
    owner: User,
    api: Any,
    who: str | None,
    status: int,
    request: Any,
    nothing_written: Any,
) -> None:
    client = api(request.getfixturevalue(who) if who else None)
    target = f"{URL}/{_id(project, owner)}"
    with nothing_written():
        patched = client.patch(target, {"role": "maintainer"}, format="json")
        deleted = client.delete(target)
    assert (patched.status_code, deleted.status_code) == (status, status)


@pytest.mark.parametrize("member", ["999999", str(2**70)])
def test_an_unknown_member_is_404(project: Project, owner: User, api: Any, member: str) -> None:
    response = api(owner).delete(f"{URL}/{member}")
    assert response.status_code == 404


def test_a_member_of_another_project_is_404(
    project: Project, owner: User, outsider: User, api: Any
) -> None:
    from accounts import services

    other = services.project_create(actor=outsider, slug="other", name="Other")
    theirs = _id(other, outsider)
    response = api(owner).delete(f"{URL}/{theirs}")
    assert response.status_code == 404
    assert Membership.objects.filter(pk=theirs).exists()


def test_a_bad_role_is_400(project: Project, owner: User, maintainer: User, api: Any) -> None:
    member = _id(project, maintainer)
    for body in ({"role": "god"}, {}, {"role": "owner", "x": 1}):
        assert api(owner).patch(f"{URL}/{member}", body, format="json").status_code == 400
