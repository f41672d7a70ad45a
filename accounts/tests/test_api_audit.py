"""/api/v1/projects/<slug>/audit: anyone can check a project's history."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from django.contrib.auth.models import User

from accounts import services
from accounts.audit import document_verify
from accounts.models import Project
from accounts.tests.conftest import ISSUER
from tlog import selectors as tlog_selectors

URL = "/api/v1/projects/demo/audit"


@pytest.fixture
def history(project: Project, owner: User, committed: Any) -> Project:
    """demo's events: created, maintainer added, signer added, signer removed (logged)."""
    with committed():
        signer = services.signer_add(
            actor=owner, project=project, issuer=ISSUER, identity="a@x.test"
        )
        services.signer_remove(actor=owner, signer=signer)
    return project


def _verifies(event: dict[str, Any]) -> bool:
    document = base64.b64decode(event["document"])
    key = serialization.load_pem_public_key(event["public_key"].encode())
    der = key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return document_verify(document, base64.b64decode(event["signature"]), der)


def test_anyone_checks_the_whole_chain(history: Project, api: Any) -> None:
    response = api(None).get(URL)
    assert response.status_code == 200
    page = response.json()
    assert page["next_cursor"] is None
    events = page["events"]
    assert [e["action"] for e in events] == [
        "project.created",
        "maintainer.added",
        "signer.added",
        "signer.removed",
    ]
    previous = ""
    for n, event in enumerate(events, start=1):
        document = base64.b64decode(event["document"])
        assert event["sequence"] == n
        assert hashlib.sha256(document).hexdigest() == event["document_sha256"]
        assert json.loads(document)["previous"] == previous == event["previous_sha256"]
        assert _verifies(event)
        assert event["actor"] == "owner@x.test"
        entry = tlog_selectors.entry_by_uuid(event["log_entry"]["uuid"])
        assert bytes(entry.leaf_hash).hex() == event["log_leaf_hash"]
        body = json.loads(bytes(entry.body))
        assert body["spec"]["data"]["hash"]["value"] == event["document_sha256"]
        assert tlog_selectors.global_index(entry) == event["log_entry"]["log_index"]
        previous = event["document_sha256"]


def test_pages_follow_the_cursor(history: Project, api: Any) -> None:
    seen: list[int] = []
    cursor: int | None = None
    while True:
        query = {"limit": 3} | ({"cursor": cursor} if cursor is not None else {})
        page = api(None).get(URL, query).json()
        seen += [e["sequence"] for e in page["events"]]
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == [1, 2, 3, 4]


def test_an_entry_not_yet_integrated_has_no_log_entry(project: Project, api: Any) -> None:
    # The fixture's changes ran in the test's transaction: their on-commit integration
    # has not happened.
    events = api(None).get(URL).json()["events"]
    assert events[0]["log_entry"] is None and len(events[0]["log_leaf_hash"]) == 64


@pytest.mark.parametrize(
    "query",
    [{"cursor": -1}, {"cursor": "x"}, {"limit": 0}, {"limit": 201}, {"cursor": 2**40}, {"a": 1}],
)
def test_bad_paging_is_400(project: Project, api: Any, query: dict[str, Any]) -> None:
    response = api(None).get(URL, query)
    assert response.status_code == 400
    assert set(response.json()) == {"code", "message"}


def test_an_unknown_project_is_404(project: Project, api: Any) -> None:
    assert api(None).get("/api/v1/projects/nope/audit").status_code == 404
