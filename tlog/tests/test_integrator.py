"""Each process's background integrator (tlog/integrator.py), with committed data: the
requests of several threads answered from its rounds, duplicates, a frozen shard, and a
failed round falling back to the row-lock path without losing the entry."""

from __future__ import annotations

import threading
import time

import pytest
from django.db import connection

from tlog import integrator, services, tasks
from tlog.core import merkle
from tlog.invariants import log_check
from tlog.models import Entry, Log, PendingEntry, Tile
from tlog.tests.test_sequencer import InjectedCrash, accepted

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture(autouse=True)
def _fresh_shard_lookup(monkeypatch):
    # Each test's logs are new (the tables are emptied between these tests): forget the
    # active shard ids earlier tests cached in this process.
    monkeypatch.setattr(services, "_active_log_ids", {})


def _submit_all(
    numbers: list[int], errors: list[BaseException] | None = None
) -> list[integrator.Integrated]:
    answers: list[integrator.Integrated] = []
    failed: list[BaseException] = [] if errors is None else errors

    def one(n: int) -> None:
        try:
            answers.append(services.entry_submit_answered(kind="rekor", accepted=accepted(n)))
        except BaseException as exc:  # reported by the assertion below, or to the caller
            failed.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=one, args=(n,)) for n in numbers]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    if errors is None:
        assert failed == []
    return answers


def test_concurrent_requests_are_answered_from_the_rounds_with_proofs_that_verify():
    log = services.log_create(kind=Log.Kind.REKOR)
    answers = _submit_all(list(range(1, 25)))
    assert len(answers) == 24
    in_memory = 0
    for answer in answers:
        entry, checkpoint = answer.entry, answer.checkpoint
        assert entry.index is not None and checkpoint.tree_size > entry.index
        in_memory += answer.tiles is not None  # this process's round integrated it
        merkle.verify_inclusion(
            bytes(entry.leaf_hash),
            entry.index,
            checkpoint.tree_size,
            answer.proof(),
            checkpoint.root_hash,
        )
        stored = Entry.objects.get(log=log, leaf_hash=entry.leaf_hash)
        assert (stored.id, stored.index, bytes(stored.body)) == (
            entry.id,
            entry.index,
            bytes(entry.body),
        )
    assert in_memory > 0  # this process's integrator answered them, not the fallback
    assert sorted(Entry.objects.filter(log=log).values_list("index", flat=True)) == list(range(25))
    assert not PendingEntry.objects.exists()
    assert log_check(Log.objects.get(pk=log.id)) == []


def test_a_failed_background_round_falls_back_and_loses_nothing(monkeypatch):
    log = services.log_create(kind=Log.Kind.REKOR)
    failures: list[str] = []

    def crash_in_background(name: str) -> None:
        if name == "before_commit" and threading.current_thread().name.startswith("tlog-"):
            failures.append(name)
            raise InjectedCrash(name)

    monkeypatch.setattr(services, "_fault_point", crash_in_background)
    monkeypatch.setattr(integrator, "_RETRY_PAUSE_SECONDS", 0.0)
    answer = services.entry_submit_answered(kind="rekor", accepted=accepted(7))
    assert failures  # the background round crashed before its commit ...
    assert answer.tiles is None  # ... so the row-lock path integrated and answered it
    assert answer.entry.index == 1 and answer.checkpoint.tree_size == 2
    merkle.verify_inclusion(
        merkle.leaf_hash(b'{"n":7}'), 1, 2, answer.proof(), answer.checkpoint.root_hash
    )
    assert Entry.objects.get(log=log, index=1).body == b'{"n":7}'
    assert log_check(Log.objects.get(pk=log.id)) == []


def test_the_same_leaf_from_many_requests_is_logged_once_and_the_rest_are_duplicates():
    log = services.log_create(kind=Log.Kind.REKOR)
    errors: list[BaseException] = []
    answers = _submit_all([5] * 8, errors)
    assert len(answers) == 1 and len(errors) == 7
    assert all(isinstance(e, services.DuplicateEntry) for e in errors)
    assert {e.existing.leaf_hash for e in errors} == {merkle.leaf_hash(b'{"n":5}')}
    assert Entry.objects.filter(log=log).count() == 2  # the genesis entry and one
    with pytest.raises(services.DuplicateEntry):  # logged before: a duplicate at once
        services.entry_submit_answered(kind="rekor", accepted=accepted(5))
    assert log_check(Log.objects.get(pk=log.id)) == []


def test_a_shard_frozen_under_the_integrator_sends_the_entry_to_the_new_one():
    old = services.log_create(kind=Log.Kind.REKOR)
    first = services.entry_submit_answered(kind="rekor", accepted=accepted(1))
    assert first.entry.log_id == old.id and first.tiles is not None
    services.log_freeze_and_rotate(kind="rekor", actor="test")
    # This process still names the frozen shard: its round integrates nothing there, and
    # the fallback finds the active shard.
    again = services.entry_submit_answered(kind="rekor", accepted=accepted(1))
    new = Log.objects.get(kind=Log.Kind.REKOR, state=Log.State.ACTIVE)
    assert again.entry.log_id == new.id
    assert not Entry.objects.filter(log=old, index__gt=1).exists()
    for log in Log.objects.all():
        assert log_check(log) == []


def test_a_round_that_commits_after_its_waiter_gave_up_answers_201_not_409(monkeypatch):
    """The waiter's hand-off timeout passes while its round is committing (or its answer
    is lost): the request finds its entry in the log and answers with it."""
    log = services.log_create(kind=Log.Kind.REKOR)
    monkeypatch.setattr(services, "HANDOFF_SECONDS", 0.05)
    answer_late = integrator.LogIntegrator._answer

    def slow_answer(slots, done):
        time.sleep(0.5)  # the round has committed; its waiter stopped waiting
        answer_late(slots, done)

    monkeypatch.setattr(integrator.LogIntegrator, "_answer", staticmethod(slow_answer))
    answer = services.entry_submit_answered(kind="rekor", accepted=accepted(3))
    assert answer.entry.index == 1 and answer.tiles is None  # read back from the log
    assert Entry.objects.filter(log=log, leaf_hash=merkle.leaf_hash(b'{"n":3}')).count() == 1
    assert not PendingEntry.objects.exists()


def test_a_waiter_that_gives_up_on_a_slow_round_falls_back_and_logs_once(monkeypatch):
    """The hand-off times out while the round still holds the log: the request commits a
    pending copy, waits for the lock, and answers with the entry the round logged; the
    copy is consumed as a duplicate, never logged twice."""
    log = services.log_create(kind=Log.Kind.REKOR)
    monkeypatch.setattr(services, "HANDOFF_SECONDS", 0.05)

    def slow_commit(name: str) -> None:
        if name == "before_commit" and threading.current_thread().name.startswith("tlog-"):
            time.sleep(0.5)

    monkeypatch.setattr(services, "_fault_point", slow_commit)
    answer = services.entry_submit_answered(kind="rekor", accepted=accepted(4))
    assert answer.entry.index == 1
    assert tasks.integrate_pending() == 1  # the pending copy the waiter committed ...
    leaf = merkle.leaf_hash(b'{"n":4}')
    assert Entry.objects.filter(log=log, leaf_hash=leaf).count() == 1  # ... is not logged
    assert not PendingEntry.objects.exists()
    assert log_check(Log.objects.get(pk=log.id)) == []


def test_a_faulty_log_answers_503_and_stores_nothing_of_the_upload():
    """Stored tiles that disagree with the checkpoint stop the log; the uploads handed
    over then get LogFaulty (a 503), and no pending row is left behind in that log."""
    log = services.log_create(kind=Log.Kind.REKOR)
    services.entry_submit_answered(kind="rekor", accepted=accepted(1))
    tile = Tile.objects.get(log=log, level=0, index=0)
    tile.hashes = bytes(32) + bytes(tile.hashes)[32:]
    tile.save()
    for n in (2, 3):  # the round that finds it, then one on the log already faulty
        with pytest.raises(services.LogFaulty):
            services.entry_submit_answered(kind="rekor", accepted=accepted(n))
    assert "stored tiles give root" in Log.objects.get(pk=log.id).fault
    assert not PendingEntry.objects.exists()
    assert Entry.objects.filter(log=log).count() == 2


def test_an_idle_integrator_thread_ends_and_the_next_upload_starts_a_new_one(monkeypatch):
    monkeypatch.setattr(integrator, "_IDLE_SECONDS", 0.05)
    monkeypatch.setattr(integrator, "_EXIT_SECONDS", 0.05)
    log = services.log_create(kind=Log.Kind.REKOR)
    monkeypatch.setattr(services, "HANDOFF_SECONDS", 5)  # a restart that fails, fails fast
    first = _submit_all([1])[0]
    worker = integrator.for_log(log.id)
    quiet = worker._thread
    assert quiet is not None
    quiet.join(timeout=10)
    assert not quiet.is_alive() and worker._thread is None  # the quiet thread ended
    second = _submit_all([2])[0]
    assert second.tiles is not None  # answered by a new thread's round, not the fallback
    assert (first.entry.index, second.entry.index) == (1, 2)
    assert log_check(Log.objects.get(pk=log.id)) == []
