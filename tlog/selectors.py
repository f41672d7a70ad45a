"""Reads from the transparency logs: logs, entries, checkpoints, tiles and proofs."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import reduce
from operator import or_

from django.db import connection
from django.db.models import Q
from django.utils import timezone

from sigportal.db import execute_prepared
from tlog.core import merkle, tiles
from tlog.errors import LogUnavailable
from tlog.models import Checkpoint, Entry, Log, SearchKey


class NotFound(Exception):
    pass


class TilesMissing(Exception):
    """A tile the tree needs is absent or too narrow: the store is inconsistent."""


# Reads on the upload path use plain SQL: compiling ORM queries cost more CPU than
# PostgreSQL spent answering them (measured with py-spy under bench/upload).
_LOG_COLUMNS = (
    "id",
    "tree_id",
    "kind",
    "state",
    "origin",
    "signer_name",
    "key_ref",
    "public_key_der",
    "index_offset",
    "tree_size",
    "root_hash",
    "fault",
)
_LOG_SELECT = "SELECT " + ", ".join(_LOG_COLUMNS) + " FROM tlog_log"  # noqa: S608 - fixed names


def log_from_row(row: Sequence[object]) -> Log:
    return Log(**dict(zip(_LOG_COLUMNS, row, strict=True)))


def log_active(*, kind: str) -> Log:
    with connection.cursor() as cur:
        execute_prepared(cur, _LOG_SELECT + " WHERE kind = %s AND state = 'active'", [kind])
        row = cur.fetchone()
    if row is None:
        raise LogUnavailable(f"this instance has no active {kind} log")
    return log_from_row(row)


def log_for_update(log_id: int) -> Log:
    """The log row, locked for the integrator (PostgreSQL; SQLite has no row locks).

    FOR NO KEY UPDATE: exclusive among integrators and against waiters' FOR SHARE,
    but not against uploads' FOR KEY SHARE; a freeze takes FOR UPDATE, which is.
    """
    log = _log_locked(log_id, " FOR NO KEY UPDATE")
    if log is None:
        raise NotFound(f"no log {log_id}")
    return log


def log_try_lock(log_id: int) -> Log | None:
    """log_for_update, or None at once if another transaction holds a conflicting lock."""
    return _log_locked(log_id, " FOR NO KEY UPDATE SKIP LOCKED")


def _log_locked(log_id: int, clause: str) -> Log | None:
    sql = _LOG_SELECT + " WHERE id = %s"
    if connection.features.has_select_for_update:
        sql += clause
    with connection.cursor() as cur:
        execute_prepared(cur, sql, [log_id])
        row = cur.fetchone()
    return None if row is None else log_from_row(row)


def logs_of_kind(*, kind: str) -> list[Log]:
    """Every shard of a kind, oldest first (inactive shards, then the active one)."""
    return list(Log.objects.filter(kind=kind).order_by("index_offset", "id"))


def log_by_tree_id(*, kind: str, tree_id: int | None) -> Log:
    if tree_id is None:
        return log_active(kind=kind)
    log = Log.objects.filter(kind=kind, tree_id=tree_id).first()
    if log is None:
        raise NotFound(f"no log with treeID {tree_id}")
    return log


def checkpoint_latest(log: Log) -> Checkpoint | None:
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            "SELECT id, tree_size, root_hash, note, created_at FROM tlog_checkpoint"
            " WHERE log_id = %s ORDER BY id DESC LIMIT 1",
            [log.id],
        )
        row = cur.fetchone()
    return None if row is None else _checkpoint_from_row(log, row)


def _checkpoint_from_row(log: Log, row: Sequence[object]) -> Checkpoint | None:
    pk, size, root, text, created = row
    if pk is None:
        return None
    if isinstance(created, str):  # SQLite through a plain cursor
        created = datetime.fromisoformat(created)
    assert isinstance(created, datetime)
    if timezone.is_naive(created):
        created = timezone.make_aware(created, UTC)
    assert isinstance(root, bytes | memoryview)
    return Checkpoint(
        id=pk, log=log, tree_size=size, root_hash=bytes(root), note=text, created_at=created
    )


def tiles_fetch(
    log_id: int, wanted: Sequence[tuple[int, int, int]]
) -> dict[tuple[int, int], bytes]:
    """Read the tiles (level, index) of a log, each at least `width` hashes wide.

    One query per proof, in plain SQL: this runs on every upload and every proof.
    """
    if not wanted:
        return {}
    where = " OR ".join(['(level = %s AND "index" = %s)'] * len(wanted))
    params: list[int] = [log_id]
    for lv, ix, _ in wanted:
        params += [lv, ix]
    with connection.cursor() as cur:
        cur.execute(
            # Only placeholders are interpolated; every value is a parameter.
            f'SELECT level, "index", hashes FROM tlog_tile WHERE log_id = %s AND ({where})',  # noqa: S608
            params,
        )
        found = {(lv, ix): bytes(data) for lv, ix, data in cur.fetchall()}
    for lv, ix, width in wanted:
        if len(found.get((lv, ix), b"")) < width * tiles.HASH_SIZE:
            raise TilesMissing(
                f"tile {lv}/{ix} of log {log_id} is missing or narrower than {width}"
            )
    return found


# Per process, per log (its id and random tree id, so a recreated database cannot alias).
_subtree_caches: dict[tuple[int, int], tiles.SubtreeCache] = {}


def subtree_cache(log: Log) -> tiles.SubtreeCache:
    key = (log.id, log.tree_id)
    found = _subtree_caches.get(key)
    if found is None:
        found = _subtree_caches.setdefault(key, tiles.SubtreeCache())
    return found


def subtree_reader(log: Log, *, cached: bool = True) -> merkle.SubtreeReader:
    """Subtree hashes from the stored tiles; `cached=False` hashes every tile afresh (the
    invariant check, which must see what is stored, not what was)."""
    read = tiles.make_tile_reader(lambda wanted: tiles_fetch(log.id, wanted))
    return subtree_cache(log).reader(read) if cached else read


def tree_root(log: Log, size: int) -> bytes:
    return merkle.tree_root(size, subtree_reader(log))


def inclusion_proof(log: Log, index: int, size: int) -> list[bytes]:
    return merkle.inclusion_proof(index, size, subtree_reader(log))


def consistency_proof(
    log: Log, old_size: int, new_size: int, *, cached: bool = True
) -> list[bytes]:
    return merkle.consistency_proof(old_size, new_size, subtree_reader(log, cached=cached))


# --- entries --------------------------------------------------------------------------

_HEX_RE = re.compile(r"^[0-9a-f]+$")


def entry_uuid(entry: Entry) -> str:
    return uuid_of(entry.log.tree_id, entry.leaf_hash)


def uuid_of(tree_id: int, leaf_hash: bytes | memoryview) -> str:
    """Rekor v1's entry UUID with its shard: 16 hex digits of tree id + hex leaf hash."""
    return f"{tree_id:016x}{bytes(leaf_hash).hex()}"


def global_index(entry: Entry) -> int:
    assert entry.index is not None
    return entry.log.index_offset + entry.index


def entry_by_uuid(uuid: str, *, kind: str = Log.Kind.REKOR) -> Entry:
    uuid = uuid.lower()
    if len(uuid) not in (64, 80) or not _HEX_RE.match(uuid):
        raise ValueError("an entry UUID is 64 or 80 lowercase hex digits")
    qs = Entry.objects.select_related("log").filter(
        log__kind=kind, leaf_hash=bytes.fromhex(uuid[-64:])
    )
    if len(uuid) == 80:
        qs = qs.filter(log__tree_id=int(uuid[:16], 16))
    entry = qs.first()
    if entry is None:
        raise NotFound(f"no entry with UUID {uuid}")
    return entry


_ENTRY_COLUMNS = ("id", "index", "leaf_hash", "body", "kind", "api_version", "integrated_time")


def entry_by_leaf(log: Log, leaf_hash: bytes) -> Entry | None:
    """The integrated entry with this leaf hash in this log (plain SQL: upload path)."""
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            'SELECT id, "index", leaf_hash, body, kind, api_version, integrated_time'
            " FROM tlog_entry WHERE log_id = %s AND leaf_hash = %s",
            [log.id, leaf_hash],
        )
        row = cur.fetchone()
    if row is None:
        return None
    fields = dict(zip(_ENTRY_COLUMNS, row, strict=True))
    return Entry(log=log, **fields)


_ANSWER_COLUMNS = (
    ", ".join(f'e."{c}"' for c in _ENTRY_COLUMNS)
    + ", "
    + ", ".join(f"l.{c}" for c in _LOG_COLUMNS)
    + ", c.id, c.tree_size, c.root_hash, c.note, c.created_at"
)
_ANSWER_SELECT = (
    f"SELECT {_ANSWER_COLUMNS}"  # noqa: S608 - fixed column names only
    " FROM tlog_entry e JOIN tlog_log l ON l.id = e.log_id"
    " LEFT JOIN tlog_checkpoint c"
    " ON c.id = (SELECT max(id) FROM tlog_checkpoint WHERE log_id = e.log_id)"
    " WHERE e.log_id = %s AND e.leaf_hash = %s"
)


def entry_with_checkpoint(log_id: int, leaf_hash: bytes) -> tuple[Entry, Checkpoint] | None:
    """An integrated entry, its log (as it is now) and the log's newest checkpoint, in one
    query: what an upload's answer needs. None if the entry is not integrated."""
    with connection.cursor() as cur:
        execute_prepared(cur, _ANSWER_SELECT, [log_id, leaf_hash])
        row = cur.fetchone()
    if row is None:
        return None
    n_entry, n_log = len(_ENTRY_COLUMNS), len(_LOG_COLUMNS)
    log = log_from_row(row[n_entry : n_entry + n_log])
    entry = Entry(log=log, **dict(zip(_ENTRY_COLUMNS, row[:n_entry], strict=True)))
    checkpoint = _checkpoint_from_row(log, row[n_entry + n_log :])
    if checkpoint is None:  # impossible: the integration that made the entry signed one
        raise LogUnavailable(f"log {log.tree_id} has no checkpoint yet")
    return entry, checkpoint


def leaves_logged(log: Log, leaf_hashes: Sequence[bytes]) -> set[bytes]:
    """Which of these leaf hashes are already integrated in the log."""
    if not leaf_hashes:
        return set()
    marks = ", ".join(["%s"] * len(leaf_hashes))
    with connection.cursor() as cur:
        cur.execute(
            f"SELECT leaf_hash FROM tlog_entry WHERE log_id = %s AND leaf_hash IN ({marks})",  # noqa: S608 - placeholders only
            [log.id, *leaf_hashes],
        )
        return {bytes(row[0]) for row in cur.fetchall()}


def entry_by_global_index(index: int, *, kind: str = Log.Kind.REKOR) -> Entry:
    for log in logs_of_kind(kind=kind):
        if log.index_offset <= index < log.index_offset + log.tree_size:
            entry = (
                Entry.objects.select_related("log")
                .filter(log=log, index=index - log.index_offset)
                .first()
            )
            if entry is not None:
                return entry
    raise NotFound(f"no entry at log index {index}")


def entries_in_range(log: Log, start: int, count: int) -> list[Entry]:
    return list(
        Entry.objects.filter(log=log, index__gte=start, index__lt=start + count).order_by("index")
    )


@dataclass(frozen=True)
class SearchPage:
    uuids: list[str]  # entry UUIDs with their shard's tree id, as entry_uuid() makes them
    next_cursor: int | None


def entries_search(
    *, criteria: Mapping[str, Sequence[str]], operator: str, cursor: int, limit: int
) -> SearchPage:
    """The UUIDs of integrated entries matching search keys, in log order across shards.

    criteria maps a key kind to accepted values; "or" matches any criterion, "and" all.
    Paginated by entry id (assigned in submission order, which is index order in a shard
    and shard order across shards): stable while the log grows.
    """
    # Only what a UUID and the cursor need: with the covering index entry_search_cover
    # (migration 0004) PostgreSQL answers from the index, never the ~2 KB rows. Tuples,
    # not model instances: building 200 of them (entry and log) per page was half the
    # time of a search at 10 million entries (docs/benchmarks.md).
    qs = Entry.objects.filter(id__gt=cursor)
    per_kind = [  # one condition per (kind, value), so "and" means every one of them
        Q(id__in=SearchKey.objects.filter(kind=kind, value=value).values("entry_id"))
        for kind, values in criteria.items()
        for value in values
    ]
    if not per_kind:
        return SearchPage([], None)
    if operator == "and":
        for cond in per_kind:
            qs = qs.filter(cond)
    else:
        qs = qs.filter(reduce(or_, per_kind))
    rows = list(qs.order_by("id").values_list("id", "log__tree_id", "leaf_hash")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return SearchPage(
        [uuid_of(tree_id, leaf) for _, tree_id, leaf in rows],
        rows[-1][0] if more else None,
    )


# --- portal pages ----------------------------------------------------------------------


def logs_active() -> list[Log]:
    """The active log of each kind (Rekor first, then CT)."""
    return list(Log.objects.filter(state=Log.State.ACTIVE).order_by("-kind"))


def logs_frozen(*, kind: str) -> list[Log]:
    return list(Log.objects.filter(kind=kind, state=Log.State.FROZEN).order_by("-index_offset"))


def log_sizes_at(log: Log, times: Sequence[datetime]) -> list[int]:
    """The log's size at each time: its newest checkpoint's size then (0 before any).

    One statement of one index probe per time (index checkpoint_time), so the home page's
    hourly chart costs the same at ten entries or ten million. Plain SQL: compiling the
    same 48 subqueries through the ORM cost ~50 ms of CPU, far more than PostgreSQL.
    """
    if not times:
        return []
    probe = (
        "(SELECT tree_size FROM tlog_checkpoint WHERE log_id = %s AND created_at <= %s"
        " ORDER BY created_at DESC LIMIT 1)"
    )
    params: list[object] = []
    for moment in times:
        params += [log.pk, connection.ops.adapt_datetimefield_value(moment)]
    with connection.cursor() as cur:
        cur.execute("SELECT " + ", ".join([probe] * len(times)), params)
        row = cur.fetchone()
    return [int(v or 0) for v in row]


def checkpoints_page(
    log: Log, *, before: int | None, limit: int
) -> tuple[list[Checkpoint], int | None]:
    """Checkpoints newest first, keyset-paginated by id: (page, cursor of the next page)."""
    qs = Checkpoint.objects.filter(log_id=log.pk)
    if before is not None:
        qs = qs.filter(id__lt=before)
    rows = list(qs.order_by("-id")[: limit + 1])
    more = len(rows) > limit
    rows = rows[:limit]
    return rows, rows[-1].id if more and rows else None
