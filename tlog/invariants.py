"""The log invariant check, run after every log test and by `manage.py tlog_check`.

It reads everything (O(n) in the log size), so it is for tests, audits and operators,
not for the request path:
1. indexes are gapless 0..size-1 and every stored leaf hash is SHA-256(0x00 || body);
2. the root recomputed from the stored leaves equals the log's root;
3. the stored tiles equal the tiles recomputed from the leaves;
4. every checkpoint verifies with the log key, names the log's origin, and its root is
   the root of the leaves up to its size;
5. successive checkpoints are consistent: sizes never shrink, and a consistency proof
   built from the stored tiles verifies between each pair.
"""

from __future__ import annotations

from cryptography.hazmat.primitives.serialization import load_der_public_key
from django.db import connection, transaction

from tlog import selectors
from tlog.core import merkle, note, tiles
from tlog.models import Checkpoint, Entry, Log, PendingEntry, Tile


def log_check(log: Log) -> list[str]:
    """Return every violated invariant of `log` (empty when all hold).

    Reads one consistent snapshot (REPEATABLE READ on PostgreSQL), so it can run
    against a live log.
    """
    nested = connection.in_atomic_block  # inside a caller's transaction: its snapshot
    with transaction.atomic():
        if connection.vendor == "postgresql" and not nested:
            with connection.cursor() as cur:
                cur.execute("SET TRANSACTION ISOLATION LEVEL REPEATABLE READ")
        return _check(log)


def _check(log: Log) -> list[str]:
    problems: list[str] = []
    log.refresh_from_db()
    rows = Entry.objects.filter(log=log).order_by("index")
    leaves: list[bytes] = []
    for index, (body, leaf) in enumerate(rows.values_list("body", "leaf_hash").iterator()):
        computed = merkle.leaf_hash(bytes(body))
        if computed != bytes(leaf):
            problems.append(f"entry {index}: stored leaf hash is not the hash of its body")
        leaves.append(computed)
    indexes = list(rows.values_list("index", flat=True))
    if indexes != list(range(len(indexes))):
        problems.append("entry indexes are not gapless from 0")
    if len(leaves) != log.tree_size:
        problems.append(f"{len(leaves)} integrated entries but the log size is {log.tree_size}")
    if merkle.root_from_leaf_hashes(leaves) != bytes(log.root_hash):
        problems.append("the root recomputed from the stored leaves differs from the log's root")
    expected = tiles.append_leaves(0, {}, leaves) if leaves else {}
    stored = {(t.level, t.index): bytes(t.hashes) for t in Tile.objects.filter(log=log)}
    if stored != expected:
        bad = sorted(set(stored.items()) ^ set(expected.items()))[:5]
        problems.append(
            f"stored tiles differ from the recomputed tiles, e.g. {[k for k, _ in bad]}"
        )
    problems.extend(_check_checkpoints(log, len(leaves), expected))
    return problems


def _check_checkpoints(log: Log, size: int, expected: dict[tuple[int, int], bytes]) -> list[str]:
    def root_at(n: int) -> bytes:  # from the recomputed tiles: O(log n) per checkpoint
        return merkle.tree_root(n, tiles.make_tile_reader(lambda _wanted: expected))

    problems: list[str] = []
    verifier = note.NoteVerifier(
        log.signer_name,
        note.rekor_key_hint(bytes(log.public_key_der)),
        load_der_public_key(bytes(log.public_key_der)),
    )
    previous: Checkpoint | None = None
    for cp in Checkpoint.objects.filter(log=log).order_by("id"):
        try:
            text, _ = note.open_note(cp.note, [verifier])
            parsed = note.Checkpoint.from_text(text)
        except ValueError as exc:
            problems.append(f"checkpoint {cp.id}: {exc}")
            continue
        if (parsed.origin, parsed.size, parsed.root_hash) != (
            log.origin,
            cp.tree_size,
            bytes(cp.root_hash),
        ):
            problems.append(f"checkpoint {cp.id}: note text disagrees with its row")
        if cp.tree_size > size or root_at(cp.tree_size) != bytes(cp.root_hash):
            problems.append(f"checkpoint {cp.id}: root is not the root of the stored leaves")
        if previous is not None:
            if cp.tree_size < previous.tree_size:
                problems.append(f"checkpoint {cp.id}: size shrank from {previous.tree_size}")
            elif previous.tree_size > 0:
                try:
                    proof = selectors.consistency_proof(
                        log, previous.tree_size, cp.tree_size, cached=False
                    )
                    merkle.verify_consistency(
                        previous.tree_size,
                        cp.tree_size,
                        proof,
                        bytes(previous.root_hash),
                        bytes(cp.root_hash),
                    )
                except (ValueError, selectors.TilesMissing) as exc:
                    problems.append(f"checkpoint {cp.id}: inconsistent with the previous: {exc}")
        previous = cp
    if previous is None or (previous.tree_size, bytes(previous.root_hash)) != (
        log.tree_size,
        bytes(log.root_hash),
    ):
        problems.append("the newest checkpoint is not the log's size and root")
    if PendingEntry.objects.filter(log=log).exists() and log.state == Log.State.FROZEN:
        problems.append("entries are stranded pending in a frozen shard")
    return problems
