"""The integrator under injected failures, corrupted storage and shard rotation.

Each test ends with the invariant check of the `rekor_log` fixture (leaves, root, tiles,
checkpoint signatures, consistency between successive checkpoints).
"""

from __future__ import annotations

import pytest
from django.conf import settings

from tlog import services, tasks
from tlog.invariants import log_check
from tlog.kinds import AcceptedEntry
from tlog.models import Checkpoint, Entry, Log, LogEvent, PendingEntry, Tile
from tlog.tests.test_api_entries import post_json


class InjectedCrash(Exception):
    pass


def accepted(n: int) -> AcceptedEntry:
    return AcceptedEntry(
        kind="test",
        api_version="0.0.1",
        canonical_body=f'{{"n":{n}}}'.encode(),
        search_keys=(),
        certificates=(),
    )


@pytest.mark.parametrize(
    "point", ["after_entries", "after_tiles", "after_checkpoint", "before_commit"]
)
def test_crash_inside_integration_loses_nothing(monkeypatch, rekor_log, point):
    for n in range(3):
        services.entry_submit(kind="rekor", accepted=accepted(n))
    checkpoints = Checkpoint.objects.count()

    def crash(name: str) -> None:
        if name == point:
            raise InjectedCrash(name)

    monkeypatch.setattr(services, "_fault_point", crash)
    with pytest.raises(InjectedCrash):
        services.entry_submit(kind="rekor", accepted=accepted(99))
    # The entry was accepted (commit point 1) but not integrated; the tree is unchanged.
    assert PendingEntry.objects.filter(body=b'{"n":99}').exists()
    assert not Entry.objects.filter(body=b'{"n":99}').exists()
    rekor_log.refresh_from_db()
    assert rekor_log.tree_size == 4
    assert Checkpoint.objects.count() == checkpoints
    assert log_check(rekor_log) == []

    monkeypatch.setattr(services, "_fault_point", lambda name: None)
    assert tasks.integrate_pending() == 1  # what the beat task does after a crash
    assert Entry.objects.get(body=b'{"n":99}').index == 4
    assert not PendingEntry.objects.exists()
    assert log_check(rekor_log) == []


def test_batch_integrates_everything_pending_in_one_checkpoint(rekor_log):
    from tlog.core import merkle

    for n in range(5):  # five uploads accepted while no integrator ran
        body = f'{{"p":{n}}}'.encode()
        PendingEntry.objects.create(
            log=rekor_log, leaf_hash=merkle.leaf_hash(body), body=body, kind="t", api_version="0"
        )
    before = Checkpoint.objects.count()
    assert services.log_integrate(log_id=rekor_log.id) == 5
    assert Checkpoint.objects.count() == before + 1
    assert list(Entry.objects.order_by("index").values_list("index", flat=True)) == list(range(6))


def test_corrupted_tiles_stop_the_log(client, rekor_log, entry_maker):
    entry, _ = entry_maker.hashedrekord()
    assert post_json(client, "/api/v1/log/entries", entry).status_code == 201
    tile = Tile.objects.get(log=rekor_log, level=0, index=0)
    tile.hashes = bytes(32) + bytes(tile.hashes)[32:]
    tile.save()
    checkpoints = Checkpoint.objects.count()
    other, _ = entry_maker.hashedrekord()
    r = post_json(client, "/api/v1/log/entries", other)
    assert r.status_code == 503 and r.json()["reason"] == "log_inconsistent"
    assert Checkpoint.objects.count() == checkpoints, "never sign over an inconsistent tree"
    rekor_log.refresh_from_db()
    assert "stored tiles give root" in rekor_log.fault
    assert LogEvent.objects.filter(log=rekor_log, action="fault").exists()
    assert client.get("/api/v1/log").status_code == 503
    assert client.get("/api/v1/log/entries?logIndex=1").status_code == 503  # not served
    assert log_check(rekor_log) != []
    # The log stays faulty (and unserved) until an operator acts; the fixture's
    # invariant check skips faulty logs.


def test_freeze_and_rotate_keeps_global_indexes(client, rekor_log, entry_maker):
    first, _ = entry_maker.hashedrekord()
    doc1 = post_json(client, "/api/v1/log/entries", first).json()
    old, new = services.log_freeze_and_rotate(kind="rekor", actor="test")
    assert old.state == Log.State.FROZEN and new.index_offset == 2
    second, _ = entry_maker.hashedrekord()
    doc2 = post_json(client, "/api/v1/log/entries", second).json()
    ((_, e2),) = doc2.items()
    assert e2["logIndex"] == 3  # new shard: genesis at global 2, this entry at 3
    assert e2["verification"]["inclusionProof"]["logIndex"] == 1
    ((uuid1, e1),) = doc1.items()
    assert client.get(f"/api/v1/log/entries?logIndex={e1['logIndex']}").json()[uuid1]
    info = client.get("/api/v1/log").json()
    assert info["treeID"] == str(new.tree_id)
    assert [s["treeID"] for s in info["inactiveShards"]] == [str(old.tree_id)]
    assert client.get(f"/api/v1/log?treeID={old.tree_id}").json()["treeSize"] == 2
    assert LogEvent.objects.filter(log=old, action="frozen", actor="test").exists()
    for log in (old, new):
        assert log_check(log) == []


def test_duplicate_racing_its_twin_is_dropped_not_logged_twice(rekor_log):
    """A duplicate that slipped past the submission check (its twin was being
    integrated) is dropped by the integrator, never given a second index."""
    from tlog.core import merkle

    services.entry_submit(kind="rekor", accepted=accepted(7))
    body = b'{"n":7}'
    PendingEntry.objects.create(
        log=rekor_log, leaf_hash=merkle.leaf_hash(body), body=body, kind="t", api_version="0"
    )
    assert services.log_integrate(log_id=rekor_log.id) == 1  # consumed, not logged again
    assert Entry.objects.filter(body=body).count() == 1
    assert not PendingEntry.objects.exists()


def test_search_keys_with_control_characters_cannot_jam_the_log(rekor_log):
    """A signer certificate is attacker-controlled (Rekor v1 does not chain-verify it):
    a NUL in its SAN must not make PostgreSQL refuse every later batch."""
    from tlog.kinds import SearchKey

    poisoned = AcceptedEntry(
        kind="test",
        api_version="0.0.1",
        canonical_body=b'{"nul":1}',
        search_keys=(
            SearchKey("email", "a\x00@b.c"),
            SearchKey("uri", "x" * 5000),
            SearchKey("sha256", "sha256:" + "a" * 64),
        ),
        certificates=(),
    )
    entry = services.entry_submit(kind="rekor", accepted=poisoned)
    assert entry.index == 1
    assert services.entry_submit(kind="rekor", accepted=accepted(1)).index == 2
    from tlog.models import SearchKey as StoredKey

    assert list(StoredKey.objects.values_list("kind", flat=True)) == ["sha256"]


def test_freeze_waits_for_uploads_and_strands_nothing(rekor_log):
    """Entries pending in a shard when it is frozen are integrated into it first."""
    from tlog.core import merkle

    body = b'{"late":1}'
    PendingEntry.objects.create(
        log=rekor_log, leaf_hash=merkle.leaf_hash(body), body=body, kind="t", api_version="0"
    )
    old, new = services.log_freeze_and_rotate(kind="rekor", actor="test")
    assert Entry.objects.get(body=body).log_id == old.id
    assert not PendingEntry.objects.exists()
    assert Log.objects.filter(kind="rekor", state="active").get() == new


def test_a_leaf_logged_in_a_frozen_shard_goes_into_the_new_one(rekor_log):
    """A process that cached the frozen shard's id answers as a fresh process would: a
    201 in the active shard, not a 409 pointing into the frozen one."""
    first = services.entry_submit(kind="rekor", accepted=accepted(5))
    old, new = services.log_freeze_and_rotate(kind="rekor", actor="test")
    assert first.log_id == old.id
    again = services.entry_submit(kind="rekor", accepted=accepted(5))
    assert again.log_id == new.id
    with pytest.raises(services.DuplicateEntry) as dup:
        services.entry_submit(kind="rekor", accepted=accepted(5))
    assert dup.value.existing.log_id == new.id


@pytest.mark.django_db(transaction=True)
def test_a_log_locked_too_long_is_a_503_and_the_entry_stays_pending(monkeypatch):
    """An integrator (or freeze) holding the log longer than the lock timeout makes
    waiters answer LogUnavailable (a 503) at their deadline, never a database error; the
    entry is integrated afterwards."""
    import psycopg
    from django.conf import settings
    from django.db import connection

    if not settings.IS_POSTGRES:
        pytest.skip("row locks: PostgreSQL only")
    log = services.log_create(kind=Log.Kind.REKOR)
    monkeypatch.setattr(services, "LOCK_TIMEOUT", "200ms")
    monkeypatch.setattr(services, "AWAIT_SECONDS", 1.0)
    params = connection.get_connection_params()
    with psycopg.connect(
        dbname=params["dbname"], host=params.get("host"), user=params.get("user")
    ) as holder:
        holder.execute("SELECT 1 FROM tlog_log WHERE id = %s FOR NO KEY UPDATE", [log.id])
        with pytest.raises(services.LogUnavailable):
            services.entry_submit(kind="rekor", accepted=accepted(7))
        holder.rollback()
    assert PendingEntry.objects.filter(body=b'{"n":7}').exists()
    assert tasks.integrate_pending() == 1
    assert Entry.objects.get(body=b'{"n":7}').index == 1
    assert log_check(Log.objects.get(pk=log.id)) == []


def test_a_rotation_on_sqlite_holds_the_integrator_guard_before_its_transaction(
    rekor_log, monkeypatch
):
    """The embedded default's lock order: a rotation takes the process's integrator guard
    first, as an integration does, so this process's integrator thread waits on the
    guard, not on SQLite's write lock that the rotation holds (a 30 s stall)."""
    import threading

    monkeypatch.setattr(settings, "IS_POSTGRES", False)  # the guard SQLite uses
    seen: list[bool] = []
    real = services._publish_checkpoint_locked

    def probe(log):
        # Another thread (as the integrator thread is) cannot take the guard meanwhile.
        other = threading.Thread(target=lambda: seen.append(_take_and_release()))
        other.start()
        other.join(5)
        return real(log)

    def _take_and_release() -> bool:
        taken = services._process_lock.acquire(timeout=0.2)
        if taken:
            services._process_lock.release()
        return taken

    monkeypatch.setattr(services, "_publish_checkpoint_locked", probe)
    old, new = services.log_freeze_and_rotate(kind="rekor", actor="test")
    assert seen and not any(seen)  # held from before the freeze's first write
    assert (old.state, new.state) == ("frozen", "active") and new.tree_size == 1
    assert _take_and_release()  # and given back
