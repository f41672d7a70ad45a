"""/api/v1/projects/<slug>/revocations (maintainers) and /api/v1/revocations (staff)."""

from __future__ import annotations

from typing import Any

import pytest

from accounts.models import Project, Revocation
from accounts.tests.conftest import event_detail, last_event
from tlog.models import Log

PROJECT_URL = "/api/v1/projects/demo/revocations"
URL = "/api/v1/revocations"
LEAF = "cd" * 32


def _body(**changes: Any) -> dict[str, Any]:
    return {
        "target_kind": "entry",
        "target": "00000000000000ff" + LEAF,
        "reason": "leak",
        **changes,
    }


@pytest.mark.parametrize("who", ["owner", "maintainer"])
def test_owners_and_maintainers_revoke_for_their_project(
    project: Project, api: Any, who: str, request: Any, committed: Any
) -> None:
    with committed():
        response = api(request.getfixturevalue(who)).post(PROJECT_URL, _body(), format="json")
    assert response.status_code == 201, response.json()
    assert response.json()["target"] == LEAF and response.json()["project"] == "demo"
    event = last_event(project)
    assert event.action == "revocation.added"
    assert event_detail(event)["target"] == LEAF
    listed = api(None).get(PROJECT_URL).json()
    assert [r["target"] for r in listed["revocations"]] == [LEAF]


@pytest.mark.parametrize(("who", "status"), [("outsider", 403), ("staff", 403), (None, 401)])
def test_nobody_else_revokes_for_a_project(
    project: Project, api: Any, who: str | None, status: int, request: Any, nothing_written: Any
) -> None:
    client = api(request.getfixturevalue(who) if who else None)
    with nothing_written():
        response = client.post(PROJECT_URL, _body(), format="json")
    assert response.status_code == status


def test_staff_revoke_instance_wide(rekor_log: Log, staff: Any, api: Any, committed: Any) -> None:
    with committed():
        response = api(staff).post(
            URL, _body(target_kind="certificate", target="0x0A0b"), format="json"
        )
    assert response.status_code == 201, response.json()
    assert response.json()["target"] == "a0b" and response.json()["project"] is None
    assert event_detail(last_event(None))["scope"] == "instance"
    assert [r["target"] for r in api(None).get(URL).json()["revocations"]] == ["a0b"]


@pytest.mark.parametrize(
    ("who", "status"), [("owner", 403), ("maintainer", 403), ("outsider", 403), (None, 401)]
)
def test_only_staff_revoke_instance_wide(
    project: Project, api: Any, who: str | None, status: int, request: Any, nothing_written: Any
) -> None:
    client = api(request.getfixturevalue(who) if who else None)
    with nothing_written():
        response = client.post(URL, _body(), format="json")
    assert response.status_code == status


def test_instance_and_project_lists_are_apart(
    project: Project, owner: Any, staff: Any, api: Any
) -> None:
    api(staff).post(URL, _body(), format="json")
    assert api(None).get(PROJECT_URL).json() == {"revocations": [], "next_cursor": None}
    api(owner).post(PROJECT_URL, _body(), format="json")  # the same target, another scope
    assert len(api(None).get(URL).json()["revocations"]) == 1
    assert Revocation.objects.count() == 2


@pytest.mark.parametrize(
    "body",
    [
        _body(target="cd" * 31),
        _body(target_kind="key"),
        _body(target_kind="certificate", target="g1"),
        _body(reason=""),
        _body(reason="r" * 501),
        _body(target="c" * 201),
        _body(target=123),
        _body(project="other"),
        {"target_kind": "entry", "target": LEAF},
    ],
)
def test_bad_revocations_are_400(
    project: Project, owner: Any, api: Any, body: dict[str, Any], nothing_written: Any
) -> None:
    client = api(owner)
    with nothing_written():
        response = client.post(PROJECT_URL, body, format="json")
    assert response.status_code == 400, response.json()


def test_revoking_twice_is_409(project: Project, owner: Any, api: Any) -> None:
    assert api(owner).post(PROJECT_URL, _body(), format="json").status_code == 201
    again = api(owner).post(PROJECT_URL, _body(target=LEAF.upper()), format="json")
    assert again.status_code == 409 and again.json()["code"] == "already_revoked"


# --- the admin page adds instance-wide revocations through revocation_add ----------------


def test_the_admin_adds_an_audited_instance_wide_revocation(
    rekor_log: Log, staff: Any, committed: Any
) -> None:
    from django.contrib import admin
    from django.test import RequestFactory

    model_admin = admin.site._registry[Revocation]
    request = RequestFactory().post("/admin/")
    request.user = staff
    form = model_admin.get_form(request)(
        data={"target_kind": "certificate", "target": "0X00FF", "reason": "mis-issued"}
    )
    assert form.is_valid(), form.errors
    obj = form.save(commit=False)
    assert obj.target == "ff"
    with committed():
        model_admin.save_model(request, obj, form, change=False)
    saved = Revocation.objects.get()
    assert (saved.pk, saved.project, saved.revoked_by) == (obj.pk, None, staff)
    assert event_detail(last_event(None))["target"] == "ff"
    again = model_admin.get_form(request)(
        data={"target_kind": "certificate", "target": "ff", "reason": "again"}
    )
    assert not again.is_valid()
    assert not model_admin.has_change_permission(request, saved)
    assert not model_admin.has_delete_permission(request, saved)


def test_revocations_page_newest_first(project: Project, owner: Any, api: Any) -> None:
    targets = [f"{n:064x}" for n in range(1, 6)]
    for target in targets:
        assert api(owner).post(PROJECT_URL, _body(target=target), format="json").status_code == 201
    seen, cursor = [], None
    while True:
        query = {"limit": 2} | ({"cursor": cursor} if cursor else {})
        page = api(None).get(PROJECT_URL, query).json()
        seen += [r["target"] for r in page["revocations"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == targets[::-1]
    assert api(None).get(PROJECT_URL, {"cursor": "-1"}).status_code == 400
