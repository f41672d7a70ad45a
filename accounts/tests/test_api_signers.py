"""/api/v1/projects/<slug>/signers[/<id>]: the allow-list, managed by owners and maintainers."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import User

from accounts import services
from accounts.models import Project, TrustedSigner
from accounts.tests.conftest import ISSUER, event_detail, last_event

URL = "/api/v1/projects/demo/signers"
WORKFLOW = "https://github.com/org/repo/.github/workflows/release.yml@refs/tags/*"


@pytest.fixture
def signer(project: Project, owner: User) -> TrustedSigner:
    return services.signer_add(actor=owner, project=project, issuer=ISSUER, identity="a@x.test")


def test_anyone_reads_the_allow_list(signer: TrustedSigner, api: Any) -> None:
    listed = api(None).get(URL)
    assert listed.status_code == 200
    assert [s["identity"] for s in listed.json()] == ["a@x.test"]
    one = api(None).get(f"{URL}/{signer.pk}")
    assert one.status_code == 200
    assert one.json()["match"] == "exact" and one.json()["issuer"] == ISSUER


@pytest.mark.parametrize("who", ["owner", "maintainer"])
def test_owners_and_maintainers_add_and_remove_rules(
    project: Project, api: Any, who: str, request: Any, committed: Any
) -> None:
    client = api(request.getfixturevalue(who))
    body = {
        "issuer": ISSUER,
        "identity": WORKFLOW,
        "match": "pattern",
        "source_ref": "refs/tags/v1",
        "build_trigger": "push",
        "note": "release workflow",
    }
    with committed():
        added = client.post(URL, body, format="json")
    assert added.status_code == 201, added.json()
    event = last_event(project)
    assert event.action == "signer.added"
    detail = event_detail(event)
    assert detail["identity"] == WORKFLOW and detail["match"] == "pattern"
    assert detail["constraints"] == {
        "source_repository": "",
        "source_ref": "refs/tags/v1",
        "build_trigger": "push",
    }
    with committed():
        removed = client.delete(f"{URL}/{added.json()['id']}")
    assert removed.status_code == 204
    assert last_event(project).action == "signer.removed"
    assert not TrustedSigner.objects.exists()


@pytest.mark.parametrize(("who", "status"), [("outsider", 403), ("staff", 403), (None, 401)])
def test_nobody_else_touches_the_allow_list(
    signer: TrustedSigner,
    api: Any,
    who: str | None,
    status: int,
    request: Any,
    nothing_written: Any,
) -> None:
    client = api(request.getfixturevalue(who) if who else None)
    with nothing_written():
        added = client.post(URL, {"issuer": ISSUER, "identity": "b@x.test"}, format="json")
        removed = client.delete(f"{URL}/{signer.pk}")
    assert (added.status_code, removed.status_code) == (status, status)


def test_an_unconfigured_issuer_is_refused_with_the_reason(
    project: Project, owner: User, api: Any
) -> None:
    response = api(owner).post(
        URL, {"issuer": "https://accounts.google.com", "identity": "a@x.test"}, format="json"
    )
    assert response.status_code == 400
    assert response.json()["code"] == "unknown_issuer"
    assert "this instance's CA" in response.json()["message"]


@pytest.mark.parametrize(
    "body",
    [
        {"issuer": ISSUER},
        {"identity": "a@x.test"},
        {"issuer": ISSUER, "identity": "a@x.test", "match": "regex"},
        {"issuer": ISSUER, "identity": "https://*/x", "match": "pattern"},
        {"issuer": ISSUER, "identity": "x" * 1025},
        {"issuer": ISSUER, "identity": "a@x.test", "note": "n" * 501},
        {"issuer": ISSUER, "identity": "a@x.test", "source_ref": "r\u0000"},
        {"issuer": ISSUER, "identity": "a@x.test", "note": "tab\u200bhidden\u0007"},
        {"issuer": ISSUER, "identity": {"a": 1}},
        {"issuer": ISSUER, "identity": "a@x.test", "project": "other"},
    ],
)
def test_bad_rules_are_400(
    project: Project, owner: User, api: Any, body: dict[str, Any], nothing_written: Any
) -> None:
    client = api(owner)
    with nothing_written():
        response = client.post(URL, body, format="json")
    assert response.status_code == 400, response.json()
    assert set(response.json()) == {"code", "message"}


def test_a_duplicate_rule_is_409(signer: TrustedSigner, owner: User, api: Any) -> None:
    response = api(owner).post(URL, {"issuer": ISSUER, "identity": "a@x.test"}, format="json")
    assert response.status_code == 409


def test_a_rule_of_another_project_is_404(
    signer: TrustedSigner, outsider: User, owner: User, api: Any
) -> None:
    services.project_create(actor=outsider, slug="other", name="Other")
    assert api(outsider).delete(f"/api/v1/projects/other/signers/{signer.pk}").status_code == 404
    assert api(None).get(f"{URL}/{signer.pk + 1000}").status_code == 404
    assert TrustedSigner.objects.filter(pk=signer.pk).exists()
