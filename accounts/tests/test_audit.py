"""accounts.audit: every change is signed, chained and logged with the change."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.contrib.auth.models import User
from django.db import transaction

from accounts.audit import audit_record, document_verify
from accounts.models import AuditEvent, Identity, Project
from tlog import selectors
from tlog.models import Entry, Log, PendingEntry


@pytest.fixture
def alice(db: None) -> User:
    user = User.objects.create(username="alice")
    Identity.objects.create(user=user, issuer="https://idp.test", subject="a1", email="a@x.test")
    return user


def _record(project: Project, actor: User, action: str, **detail: Any) -> AuditEvent:
    with transaction.atomic():
        return audit_record(project=project, action=action, actor=actor, detail=detail)


def test_events_are_signed_chained_and_logged(
    rekor_log: Log, alice: User, django_capture_on_commit_callbacks: Any
) -> None:
    project = Project.objects.create(slug="demo", name="Demo")
    with django_capture_on_commit_callbacks(execute=True):
        first = _record(project, alice, "project.created", name="Demo")
        second = _record(project, alice, "signer.added", identity="bob@x.test")
    assert (first.sequence, second.sequence) == (1, 2)
    assert second.previous_sha256 == first.document_sha256
    doc = json.loads(bytes(second.document))
    assert doc["actor"] == {"issuer": "https://idp.test", "subject": "a1", "label": "a@x.test"}
    assert doc["previous"] == first.document_sha256 and doc["project"] == "demo"
    key_der = bytes(second.policy_key.public_key_der)
    assert document_verify(bytes(second.document), bytes(second.signature), key_der)
    assert not document_verify(bytes(second.document) + b" ", bytes(second.signature), key_der)
    for event in (first, second):
        entry = selectors.entry_by_leaf(rekor_log, bytes.fromhex(event.log_leaf_hash))
        assert entry is not None
        body = json.loads(bytes(entry.body))
        digest = hashlib.sha256(bytes(event.document)).hexdigest()
        assert body["spec"]["data"]["hash"]["value"] == digest
    assert not PendingEntry.objects.exists()


def test_a_failed_change_leaves_no_event_and_no_entry(rekor_log: Log, alice: User) -> None:
    project = Project.objects.create(slug="demo", name="Demo")
    entries = Entry.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        audit_record(project=project, action="signer.added", actor=alice, detail={})
        raise RuntimeError("the change failed after its audit record")
    assert not AuditEvent.objects.exists()
    assert not PendingEntry.objects.exists()
    assert Entry.objects.count() == entries


@pytest.mark.django_db(transaction=True)
def test_refuses_to_run_outside_a_transaction() -> None:
    alice = User.objects.create(username="alice")
    project = Project.objects.create(slug="demo", name="Demo")
    with pytest.raises(RuntimeError, match="inside"):
        audit_record(project=project, action="x", actor=alice, detail={})
