"""Writes to the transparency logs: creating logs, accepting entries, integrating them.

Failure model (STYLE.md habit 5), for one upload:

1. A request (outside any transaction) hands its verified entry to its process's
   integrator thread in memory (tlog/integrator.py); nothing is stored yet. A crash now
   loses an entry nobody was told was logged: the client's connection drops and it
   retries. Entries queued inside a caller's transaction (`entry_enqueue`, the portal's
   audit events), and requests whose round failed or found the shard frozen, are
   committed to `PendingEntry` with their search keys instead: a crash after that leaves
   a pending entry (no index, not in the tree, not served) that the `integrate_pending`
   beat task or the next round integrates; nothing is lost, the uploader just never got
   its answer.
2. The integrator locks the log row (one integrator per log: PostgreSQL row lock; under
   SQLite the write lock plus a process lock), writes the entries it was handed and a
   batch of pending ones to `Entry` with the next indexes and their search keys, appends
   their hashes to the tiles, signs a checkpoint over the new root and stores it, moves
   the log's size and root and deletes the batch from `PendingEntry`, all in ONE
   transaction. A crash anywhere inside leaves the previous tree untouched (the pending
   entries still pending, the handed ones unanswered): no gap, no fork, no index handed
   out twice. A checkpoint signed in a transaction that then fails never leaves the
   process. `Entry` is insert-only. Only after this commit does any request answer.
3. Before appending, the integrator recomputes the root of the stored tiles and refuses
   to go on (and marks the log faulty, so it is no longer served) if it differs from the
   last checkpoint: it never signs a checkpoint inconsistent with the last one.

Errors that stop the integrator for a log: `LogFaulty` (stored state disagrees with the
last checkpoint). Errors that fail one request: `DuplicateEntry`, `LogUnavailable`.
"""

from __future__ import annotations

import base64
import json
import logging
import secrets
import threading
import time
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field

import rfc8785
from django.conf import settings
from django.db import IntegrityError, OperationalError, connection, transaction
from django.utils import timezone

from sigportal import keys
from sigportal.db import execute_prepared
from tlog import integrator, selectors
from tlog.core import merkle, note, tiles
from tlog.errors import DuplicateEntry, LogFaulty, LogUnavailable
from tlog.kinds import AcceptedEntry
from tlog.models import Checkpoint, Entry, Log, LogEvent, PendingEntry


# Test hook for fault injection: called with the name of each point inside the
# integration transaction. Tests replace it with a function that raises.
def _fault_point(name: str) -> None:
    return None


logger = logging.getLogger(__name__)
# Reentrant: a rotation holds it across its transaction, and the genesis entry of the
# new shard is integrated inside that transaction (log_create -> log_integrate).
_process_lock = threading.RLock()
# How long an upload waits for its entry before answering 503 (the entry stays pending
# and is integrated later; the client may retry and gets a 409 with its location).
AWAIT_SECONDS = 60.0
# How long of that a request waits for its process's integrator thread before falling
# back to the pending table and the row lock (a thread stuck on a dead connection must
# not hold every upload of its process for the whole minute).
HANDOFF_SECONDS = 25.0
# No statement of an integration runs longer than this (a round's statements take
# milliseconds; a connection that stopped answering must not hang the integrator).
STATEMENT_TIMEOUT = "30s"
# A lock wait longer than this means a stuck integrator (or a partitioned connection
# idle in its transaction): fail the request rather than hang a web worker.
LOCK_TIMEOUT = "20s"


@contextmanager
def _integrator_guard() -> Iterator[None]:
    # PostgreSQL serialises integrators with the log row lock (any number of processes and
    # machines). SQLite has no row locks; its write lock serialises processes, and this
    # lock keeps the threads of one process from spinning on it.
    if settings.IS_POSTGRES:
        yield
        return
    with _process_lock:
        yield


# --- logs -----------------------------------------------------------------------------


def log_create(
    *,
    kind: str,
    algorithm: keys.KeyAlgorithm = "ecdsa-p256",
    index_offset: int = 0,
    genesis: bool = True,
) -> Log:
    """Create a log with a fresh key, its genesis entry at index 0 and a first checkpoint.

    Index 0 is never a client's entry (INTEROP §4.8: sigstore-js omits zero values).
    Log keys are ECDSA P-256 or Ed25519: the only two both clients verify alike
    (INTEROP §1.5), and the only two the trusted root describes.
    """
    if algorithm not in ("ecdsa-p256", "ed25519"):
        raise ValueError(f"log keys are ecdsa-p256 or ed25519, not {algorithm}")
    tree_id = secrets.randbits(62) + 1
    signer = keys.key_create(name=f"log-{kind}-{tree_id}", algorithm=algorithm)
    spki = keys.spki_der(signer.public_key())
    with transaction.atomic():
        log = Log.objects.create(
            tree_id=tree_id,
            kind=kind,
            origin=f"{settings.PUBLIC_HOST} - {tree_id}",
            signer_name=settings.PUBLIC_HOST,
            key_ref=signer.key_ref,
            public_key_der=spki,
            index_offset=index_offset,
        )
        LogEvent.objects.create(log=log, action="created", detail=f"{kind} log, {algorithm}")
        if not genesis:
            _store_checkpoint(log, 0, merkle.EMPTY_ROOT)
            return log
        body = rfc8785.dumps(
            {
                "apiVersion": "0.0.1",
                "kind": "genesis",
                "spec": {
                    "origin": log.origin,
                    "publicKey": base64.b64encode(spki).decode(),
                    "createdAt": timezone.now().isoformat(),
                },
            }
        )
        PendingEntry.objects.create(
            log=log,
            leaf_hash=merkle.leaf_hash(body),
            body=body,
            kind="genesis",
            api_version="0.0.1",
        )
    log_integrate(log_id=log.id)
    log.refresh_from_db()
    return log


def log_freeze_and_rotate(*, kind: str, actor: str) -> tuple[Log, Log]:
    """Freeze the active shard of `kind` and start a new one after it, atomically.

    Under the old shard's exclusive lock (which waits for uploads inserting into it, see
    `_insert_pending`): integrate everything pending, sign a final checkpoint, freeze,
    and create the next shard, so that there is always exactly one active shard and no
    entry is stranded in a frozen one. The frozen shard keeps serving reads and proofs.

    On SQLite the process's integrator guard is taken before the transaction, in the
    order an integration takes them: otherwise this transaction held SQLite's write lock
    and waited, for the genesis integration, on the guard that this process's integrator
    thread held while it waited for that write lock: a 30 s stall ended by the thread's
    busy timeout failing its round.
    """
    with _integrator_guard(), transaction.atomic():
        old = Log.objects.select_for_update().get(pk=selectors.log_active(kind=kind).pk)
        while _integrate_pending_locked(old).consumed:
            pass
        _publish_checkpoint_locked(old)
        old.state = Log.State.FROZEN
        old.frozen_at = timezone.now()
        old.save(update_fields=["state", "frozen_at"])
        LogEvent.objects.create(log=old, action="frozen", actor=actor, detail="rotated")
        new = log_create(
            kind=kind,
            index_offset=old.index_offset + old.tree_size,
            genesis=kind == Log.Kind.REKOR,
        )
        LogEvent.objects.create(
            log=new, action="started", actor=actor, detail=f"after {old.tree_id}"
        )
    return old, new


# --- entries --------------------------------------------------------------------------


def _indexable(value: str) -> bool:
    """Search keys come from signer certificates the log does not chain-verify (Rekor
    v1 does not either), so they are attacker-controlled: index only printable text of a
    bounded size. A NUL here once made PostgreSQL refuse a whole batch at integration."""
    return 0 < len(value) <= 1024 and value.isprintable()


def entry_submit(*, kind: str, accepted: AcceptedEntry) -> Entry:
    """Store a verified entry and return it integrated and covered by a checkpoint.

    Raises DuplicateEntry when the same leaf is already logged, pending, or handed over
    by another request in the same round. (A pending duplicate racing the integration of
    its twin is dropped by the integrator, and this call then returns the twin: the same
    leaf, at the same index.)
    """
    return entry_submit_answered(kind=kind, accepted=accepted).entry


def entry_submit_answered(*, kind: str, accepted: AcceptedEntry) -> integrator.Integrated:
    """entry_submit, with a checkpoint of the entry's log that covers it (and the means
    to prove the entry against it: `.proof()`).

    Outside a transaction (every request) the entry goes to this process's integrator in
    memory and is answered once its round commits (commit point 2 directly: module
    docstring). Inside a caller's transaction, or when that round failed or found the
    shard frozen, it goes through the pending table and the row-lock path.
    """
    deadline = time.monotonic() + AWAIT_SECONDS
    if not connection.in_atomic_block:
        log_id = _active_log_ids.get(kind)
        if log_id is None:
            log_id = _active_log_ids[kind] = selectors.log_active(kind=kind).id
        pending = _pending(accepted)
        answer = integrator.for_log(log_id).submit(pending, HANDOFF_SECONDS)
        if isinstance(answer, integrator.Integrated):
            return answer
        if isinstance(answer, DuplicateEntry | LogFaulty):
            raise answer
        # The round failed, found the shard frozen, or is still running. It may have
        # committed the entry all the same (a timeout, or a COMMIT whose answer was lost):
        # then it is logged and covered by the checkpoint read with it. (In a shard
        # frozen since, a leaf may be logged again in the active one, as in `_queue`.)
        found = selectors.entry_with_checkpoint(log_id, pending.leaf_hash)
        if found is not None and found[0].log.state == Log.State.ACTIVE:
            return integrator.Integrated(*found)
    log_id, leaf = _queue(kind, accepted)
    return integrator.Integrated(*_await_integration(log_id=log_id, leaf=leaf, deadline=deadline))


def _search_keys(accepted: AcceptedEntry) -> list[list[str]]:
    return [[k.kind, k.value] for k in accepted.search_keys if _indexable(k.value)]


def _pending(accepted: AcceptedEntry) -> Pending:
    return Pending(
        leaf_hash=merkle.leaf_hash(accepted.canonical_body),
        body=accepted.canonical_body,
        kind=accepted.kind,
        api_version=accepted.api_version,
        search_keys=json.dumps(_search_keys(accepted)),
        submitted_at=timezone.now(),
    )


def entry_enqueue(*, kind: str, accepted: AcceptedEntry) -> bytes:
    """Queue a verified entry inside the caller's transaction; return its leaf hash.

    For entries that must commit atomically with other records (the portal's audit
    events): the entry is pending when the caller commits, or never exists. After the
    commit it is integrated at once (waiting for the log's lock); if that fails, the
    `integrate_pending` beat task integrates it. Raises DuplicateEntry like entry_submit.
    """
    log_id, leaf = _queue(kind, accepted)
    transaction.on_commit(lambda: _integrate_after_commit(log_id))
    return leaf


def _integrate_after_commit(log_id: int) -> None:
    # The caller's transaction has committed: its answer must not depend on this.
    try:
        log_integrate(log_id=log_id)
    except Exception:
        logger.exception("integrating log %s after commit failed; beat will retry", log_id)


# The active shard of each kind, per process: looked up again only when an insert finds it
# no longer active (a rotation), since the insert itself checks the log's state.
_active_log_ids: dict[str, int] = {}


def _queue(kind: str, accepted: AcceptedEntry) -> tuple[int, bytes]:
    leaf = merkle.leaf_hash(accepted.canonical_body)
    search = _search_keys(accepted)
    for _ in range(3):  # a shard rotation may freeze the log between lookup and insert
        log_id = _active_log_ids.get(kind)
        if log_id is None:
            log_id = _active_log_ids[kind] = selectors.log_active(kind=kind).id
        try:
            if _insert_pending(kind, log_id, leaf, accepted, search):
                return log_id, leaf
        except IntegrityError:  # pending already (the pending table's unique leaf)
            raise DuplicateEntry(Entry(log=Log.objects.get(pk=log_id), leaf_hash=leaf)) from None
        existing = selectors.entry_with_checkpoint(log_id, leaf)
        if existing is not None and existing[0].log.state == Log.State.ACTIVE:
            raise DuplicateEntry(existing[0])
        # The cached shard is frozen (a rotation): like every other process, look up the
        # active one and try there (a leaf logged in a frozen shard may be logged again).
        _active_log_ids.pop(kind, None)
    raise LogUnavailable(f"no active {kind} log accepted the entry")


# One statement, so one round trip in autocommit: the entry is queued only if its log is
# still the active one of its kind and does not hold the leaf already (a 409 then).
_INSERT_PENDING = (
    "INSERT INTO tlog_pendingentry (log_id, leaf_hash, body, kind, api_version,"
    " search_keys, submitted_at) SELECT %s, %s, %s, %s, %s, %s, %s"
    " WHERE NOT EXISTS (SELECT 1 FROM tlog_entry WHERE log_id = %s AND leaf_hash = %s)"
    " AND EXISTS (SELECT 1 FROM tlog_log WHERE id = %s AND kind = %s AND state = 'active'"
)


def _insert_pending(
    kind: str, log_id: int, leaf: bytes, accepted: AcceptedEntry, search: list[list[str]]
) -> bool:
    """Commit point 1: the entry is durable, pending (module docstring). False if the
    log is no longer the active one or already holds the leaf.

    FOR KEY SHARE on the log row makes a concurrent freeze (FOR UPDATE) wait for this
    insert, or this insert see the frozen state: no entry is stranded in a frozen shard.
    It does not conflict with the integrator's FOR NO KEY UPDATE. Plain SQL on this
    path: the ORM's query compilation cost more than PostgreSQL did. Outside a caller's
    transaction this is a single autocommitted statement (no BEGIN/COMMIT round trips);
    inside one (entry_enqueue) a savepoint keeps a duplicate from aborting the caller's.
    """
    sql = _INSERT_PENDING + (" FOR KEY SHARE)" if settings.IS_POSTGRES else ")")
    scope = transaction.atomic() if connection.in_atomic_block else nullcontext()
    with scope, connection.cursor() as cur:
        execute_prepared(
            cur,
            sql,
            [
                log_id,
                leaf,
                accepted.canonical_body,
                accepted.kind,
                accepted.api_version,
                json.dumps(search),
                timezone.now(),
                log_id,
                leaf,
                log_id,
                kind,
            ],
        )
        return cur.rowcount == 1


def _await_integration(*, log_id: int, leaf: bytes, deadline: float) -> tuple[Entry, Checkpoint]:
    """Return the entry once integrated: integrate it ourselves if no one else is.

    PostgreSQL, one transaction per round: take the log row lock with SKIP LOCKED.
    Holding it, integrate everything pending (our entry and every other upload's: the
    group commit). Not getting it, wait FOR SHARE, which blocks until the current
    integrator commits and then wakes all waiters at once; those whose entry it took
    return, the rest go round again and one of them integrates all of theirs in the next
    batch. So batches grow with the load instead of every waiter taking the exclusive
    lock in turn.
    """
    while True:
        try:
            with _integration(log_id):
                locked = selectors.log_try_lock(log_id)
                if locked is None:
                    with connection.cursor() as cur:
                        execute_prepared(
                            cur, "SELECT 1 FROM tlog_log WHERE id = %s FOR SHARE", [log_id]
                        )
                elif locked.state == Log.State.ACTIVE or locked.fault:
                    _integrate_pending_locked(locked)
                # else: frozen, so the freeze integrated everything pending: read it.
        except OperationalError as exc:
            if not _lock_not_available(exc):
                raise
            # Waited LOCK_TIMEOUT for a slow integrator or freeze: wait again until the
            # deadline, then answer 503 (the entry stays pending), never a 500.
        found = selectors.entry_with_checkpoint(log_id, leaf)
        if found is not None:
            return found
        if time.monotonic() >= deadline:
            raise LogUnavailable("the log is busy; the entry is pending and will be integrated")


def _lock_not_available(exc: OperationalError) -> bool:
    return getattr(exc.__cause__, "sqlstate", None) == "55P03"  # lock_timeout


@contextmanager
def _integration(log_id: int) -> Iterator[None]:
    """One integrator's transaction: a store found inconsistent marks the log faulty
    (outside the rolled-back transaction) and stops it; see the module docstring."""
    try:
        with _integrator_guard(), transaction.atomic():
            if settings.IS_POSTGRES:
                with connection.cursor() as cur:
                    execute_prepared(
                        cur,
                        "SELECT set_config('lock_timeout', %s, true),"
                        " set_config('statement_timeout', %s, true)",
                        [LOCK_TIMEOUT, STATEMENT_TIMEOUT],
                    )
            yield
    except _Inconsistent as exc:
        _mark_faulty(log_id, str(exc))
        raise LogFaulty(str(exc)) from None


@dataclass
class Round:
    """What one integration round consumed and committed, for the process's integrator
    to hand to its waiters (tlog/integrator.py) once the transaction has committed."""

    log: Log | None = None  # the log as the round found it, None if it did not run
    consumed: int = 0  # pending-table rows taken
    # The Pending objects logged now (compared by identity: Pending has eq=False).
    integrated: set[Pending] = field(default_factory=set)
    checkpoint: Checkpoint | None = None
    entries: Mapping[bytes, Entry] = field(default_factory=dict)  # by leaf hash
    tiles: Mapping[tuple[int, int], bytes] = field(default_factory=dict)  # the new edge


def _integrate_pending_locked(log: Log, handed: Sequence[Pending] = ()) -> Round:
    """Integrate a batch from the pending table, and the entries a process's integrator
    `handed` over from memory (never stored as pending: see the module docstring)."""
    if log.fault:
        raise LogFaulty(log.fault)
    if log.state != Log.State.ACTIVE:
        raise LogUnavailable(f"log {log.tree_id} is frozen")
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            "SELECT id, leaf_hash, body, kind, api_version, search_keys, submitted_at"
            " FROM tlog_pendingentry WHERE log_id = %s ORDER BY id LIMIT %s",
            [log.id, settings.TLOG_MAX_BATCH],
        )
        rows = cur.fetchall()
    if not rows and not handed:
        return Round()
    pending = [
        Pending(bytes(leaf), bytes(body), kind, version, keys, at, pk)
        for pk, leaf, body, kind, version, keys, at in rows
    ]
    batch = [*pending, *handed]
    # Only the integrator writes Entry, under this lock: this check cannot race. A leaf
    # logged before, or twice in this batch, is integrated once (the first comes first).
    seen = selectors.leaves_logged(log, [p.leaf_hash for p in batch])
    fresh = []
    for p in batch:
        if p.leaf_hash not in seen:
            seen.add(p.leaf_hash)
            fresh.append(p)
    done = _integrate_locked(log, fresh) if fresh else Round()
    done.log = log
    done.consumed = len(pending)
    done.integrated = set(fresh)
    if pending:
        with connection.cursor() as cur:
            marks = ", ".join(["%s"] * len(pending))
            cur.execute(
                f"DELETE FROM tlog_pendingentry WHERE id IN ({marks})",  # noqa: S608 - placeholders only
                [p.id for p in pending],
            )
    return done


@dataclass(eq=False)
class Pending:
    """An entry waiting for integration: a pending-table row (with its id), or one a
    process's integrator holds in memory (id None)."""

    leaf_hash: bytes
    body: bytes
    kind: str
    api_version: str
    search_keys: str  # JSON: [[kind, value], ...]
    submitted_at: object
    id: int | None = None


def log_integrate(*, log_id: int) -> int:
    """Integrate one batch of pending entries, waiting for the log's lock; return how
    many pending entries it consumed (0 when none were pending or the log is frozen)."""
    return log_integrate_round(log_id=log_id).consumed


def log_integrate_round(*, log_id: int, handed: Sequence[Pending] = ()) -> Round:
    """log_integrate, with entries handed over from memory, answering what the round
    committed (once it has committed). Nothing handed is integrated into a frozen log."""
    with _integration(log_id):
        log = selectors.log_for_update(log_id)
        if log.state != Log.State.ACTIVE and not log.fault:
            return Round()
        return _integrate_pending_locked(log, handed)


class _Inconsistent(Exception):
    pass


def _edge(log: Log, memo: tiles.SubtreeCache | None = None) -> dict[tuple[int, int], bytes]:
    """The right-edge tiles of the log, checked against its last checkpoint (hashing
    what is stored now; `memo` keeps those hashes for the rest of the round)."""
    size = log.tree_size
    memo = memo or tiles.SubtreeCache()
    try:
        edge = selectors.tiles_fetch(log.id, tiles.edge_tiles(size))
        root = merkle.tree_root(size, memo.reader(tiles.make_tile_reader(lambda _wanted: edge)))
    except (selectors.TilesMissing, ValueError) as exc:
        raise _Inconsistent(f"stored tiles at size {size} are unusable: {exc}") from None
    if root != bytes(log.root_hash):
        raise _Inconsistent(
            f"stored tiles give root {root.hex()} at size {size}, "
            f"but the log's checkpoint says {bytes(log.root_hash).hex()}"
        )
    return edge


def _integrate_locked(log: Log, pending: Sequence[Pending]) -> Round:
    size = log.tree_size
    # The subtrees the check of the stored edge hashed are the new root's left part.
    memo = tiles.SubtreeCache()
    edge = _edge(log, memo)
    changed = tiles.append_leaves(size, edge, [p.leaf_hash for p in pending])
    new_size = size + len(pending)
    merged: Mapping[tuple[int, int], bytes] = {**edge, **changed}
    new_root = merkle.tree_root(
        new_size, memo.reader(tiles.make_tile_reader(lambda _wanted: merged))
    )
    now = int(time.time())
    ids = _insert_entries(log, pending, first_index=size, integrated_time=now)
    _fault_point("after_entries")
    with connection.cursor() as cur:
        cur.executemany(
            'INSERT INTO tlog_tile (log_id, level, "index", hashes) VALUES (%s, %s, %s, %s)'
            ' ON CONFLICT (log_id, level, "index") DO UPDATE SET hashes = excluded.hashes',
            [(log.id, lv, ix, data) for (lv, ix), data in changed.items()],
        )
    _fault_point("after_tiles")
    checkpoint = _store_checkpoint(log, new_size, new_root)
    _fault_point("after_checkpoint")
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            "UPDATE tlog_log SET tree_size = %s, root_hash = %s WHERE id = %s",
            [new_size, new_root, log.id],
        )
    log.tree_size = new_size
    log.root_hash = new_root
    _fault_point("before_commit")
    # Commit point 2 is the end of the caller's transaction: entries, tiles, checkpoint,
    # size, and the removal from the pending table become visible together, or not at all.
    return Round(
        checkpoint=checkpoint,
        entries={
            p.leaf_hash: Entry(
                id=ids[size + i],
                log=log,
                index=size + i,
                leaf_hash=p.leaf_hash,
                body=p.body,
                kind=p.kind,
                api_version=p.api_version,
                integrated_time=now,
            )
            for i, p in enumerate(pending)
        },
        tiles=merged,
    )


def _insert_entries(
    log: Log, pending: Sequence[Pending], *, first_index: int, integrated_time: int
) -> dict[int, int]:
    """Insert the batch as entries with their search keys; answer their ids by index."""
    indexes = list(range(first_index, first_index + len(pending)))
    with connection.cursor() as cur:
        if settings.IS_POSTGRES:  # one statement for the batch
            execute_prepared(
                cur,
                'INSERT INTO tlog_entry (log_id, "index", leaf_hash, body, kind, api_version,'
                " integrated_time, submitted_at) SELECT %s, i, l, b, k, v, %s, t FROM unnest("
                "%s::bigint[], %s::bytea[], %s::bytea[], %s::text[], %s::text[],"
                ' %s::timestamptz[]) AS u(i, l, b, k, v, t) RETURNING "index", id',
                [
                    log.id,
                    integrated_time,
                    indexes,
                    [p.leaf_hash for p in pending],
                    [p.body for p in pending],
                    [p.kind for p in pending],
                    [p.api_version for p in pending],
                    [p.submitted_at for p in pending],
                ],
            )
            ids = dict(cur.fetchall())
        else:
            cur.executemany(
                'INSERT INTO tlog_entry (log_id, "index", leaf_hash, body, kind, api_version,'
                " integrated_time, submitted_at) VALUES (%s, %s, %s, %s, %s, %s, %s, %s)",
                [
                    (
                        log.id,
                        i,
                        p.leaf_hash,
                        p.body,
                        p.kind,
                        p.api_version,
                        integrated_time,
                        p.submitted_at,
                    )
                    for i, p in zip(indexes, pending, strict=True)
                ],
            )
            execute_prepared(
                cur,
                'SELECT "index", id FROM tlog_entry WHERE log_id = %s AND "index" >= %s',
                [log.id, first_index],
            )
            ids = dict(cur.fetchall())
        keyed = [(i, json.loads(p.search_keys)) for i, p in zip(indexes, pending, strict=True)]
        if not any(keys for _, keys in keyed):
            return ids
        rows = [(ids[i], kind, value) for i, keys in keyed for kind, value in keys]
        if settings.IS_POSTGRES:
            execute_prepared(
                cur,
                "INSERT INTO tlog_searchkey (entry_id, kind, value)"
                " SELECT * FROM unnest(%s::bigint[], %s::text[], %s::text[])",
                [[r[0] for r in rows], [r[1] for r in rows], [r[2] for r in rows]],
            )
        else:
            cur.executemany(
                "INSERT INTO tlog_searchkey (entry_id, kind, value) VALUES (%s, %s, %s)", rows
            )
    return ids


def pending_vacuum() -> None:
    """VACUUM the pending table (PostgreSQL). Its rows live for milliseconds; without
    this, deleted rows pile up in its index between autovacuum rounds and every
    integrator scan walks them."""
    if not settings.IS_POSTGRES:
        return
    with connection.cursor() as cur:
        in_atomic = not connection.get_autocommit()
        if not in_atomic:
            cur.execute("VACUUM (ANALYZE) tlog_pendingentry")


def _note_signer(log: Log) -> note.NoteSigner:
    return _LogNoteSigner(
        name=log.signer_name,
        key_hint=note.rekor_key_hint(bytes(log.public_key_der)),
        signer=keys.signer_load(log.key_ref),
    )


@dataclass
class _LogNoteSigner:
    name: str
    key_hint: bytes
    signer: keys.Signer

    def sign(self, message: bytes) -> bytes:
        return self.signer.sign(message)


def _store_checkpoint(log: Log, size: int, root: bytes) -> Checkpoint:
    body = note.Checkpoint(
        origin=log.origin,
        size=size,
        root_hash=root,
        extensions=(f"Timestamp: {time.time_ns()}",),
    ).to_text()
    signed = note.sign_note(body, [_note_signer(log)])
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            "INSERT INTO tlog_checkpoint (log_id, tree_size, root_hash, note, created_at)"
            " VALUES (%s, %s, %s, %s, %s)",
            [log.id, size, root, signed, timezone.now()],
        )
    return Checkpoint(log=log, tree_size=size, root_hash=root, note=signed)


def _publish_checkpoint_locked(log: Log) -> Checkpoint:
    _edge(log)
    return _store_checkpoint(log, log.tree_size, bytes(log.root_hash))


def checkpoint_publish(*, log_id: int, min_age_seconds: int) -> Checkpoint | None:
    """Sign a fresh checkpoint for monitors and witnesses if the newest is older than
    `min_age_seconds`. Same size and root; a new timestamp line."""
    with _integration(log_id):
        log = selectors.log_for_update(log_id)
        if log.fault or log.state != Log.State.ACTIVE:
            return None
        latest = selectors.checkpoint_latest(log)
        if latest and (timezone.now() - latest.created_at).total_seconds() < min_age_seconds:
            return None
        return _publish_checkpoint_locked(log)


def _mark_faulty(log_id: int, reason: str) -> None:
    with transaction.atomic():
        Log.objects.filter(pk=log_id, fault="").update(fault=reason[:2000])
        LogEvent.objects.create(log_id=log_id, action="fault", detail=reason[:2000])
