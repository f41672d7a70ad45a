"""Each web process's integrator: one background thread per log that integrates the
entries this process's requests hand it, so that the requests themselves only wait.

Why a thread, and not each request integrating or waiting on the log's row lock itself
(`services._await_integration`, which stays as the fallback): with 16 or 64 requests in
flight, every waiter went round the lock in its own transaction (BEGIN, SET, SELECT ...
SKIP LOCKED or FOR SHARE, COMMIT, then a read), and all of them woke at every commit.
Here a request hands its verified entry to its process's thread in memory and waits on a
condition variable. The thread takes the log's row lock in turn with the other processes'
threads, integrates everything it holds plus whatever is in the pending table (entries
queued in a caller's transaction, or left by a dead process) in one tree update and one
checkpoint signature, commits, and hands each waiter its entry, the checkpoint and the
round's edge tiles to prove it from. A request runs no statement of its own beyond, at
most, reading a tile its proof needs that is neither in the round nor cached.

The entry is never stored as pending: it is durable only when its round commits, and the
request answers only after that. A process that dies first loses entries nobody was told
were logged (their clients see the connection drop and retry).

Failure: a round that finds the log faulty answers its waiters that (a 503; nothing of
theirs is stored). A round that raises otherwise (database gone), finds the shard frozen, or
outlasts the request's hand-off timeout answers its waiters None. A waiter then first
looks for its entry in the log (the round may have committed it, its answer lost), and
otherwise falls back to the pending table and the row-lock path, which integrates the
entry or reports the error itself. Nothing handed over is lost silently.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.db import connection

from tlog import selectors
from tlog.core import merkle, tiles
from tlog.errors import DuplicateEntry, LogFaulty
from tlog.models import Checkpoint, Entry, Log

if TYPE_CHECKING:
    from tlog.services import Pending, Round

logger = logging.getLogger(__name__)

# After a failed round, the next one waits this long (a database restart must not turn
# into a busy loop of failing connections).
_RETRY_PAUSE_SECONDS = 0.5
# A thread with nothing to do for this long closes its database connection.
_IDLE_SECONDS = 2.0
# ... and after this much longer it ends (a frozen shard's thread, or a quiet log's, is
# not kept for the life of the process); the next hand-off starts a new one.
_EXIT_SECONDS = 300.0


class _Slot:
    """One request's entry and, once its round has ended, the answer."""

    __slots__ = ("answer", "ended", "item")

    def __init__(self, item: Pending) -> None:
        self.item = item
        self.ended = False
        self.answer: Integrated | DuplicateEntry | LogFaulty | None = None


class LogIntegrator:
    """The background integrator of one log in this process."""

    def __init__(self, log_id: int) -> None:
        self.log_id = log_id
        lock = threading.Lock()
        # Two conditions on one lock: a request wakes only the thread, and a finished
        # round the waiters (with one condition, every request woke every waiter).
        self._work = threading.Condition(lock)
        self._finished = threading.Condition(lock)
        self._queue: list[_Slot] = []
        self._thread: threading.Thread | None = None

    def submit(
        self, item: Pending, timeout: float
    ) -> Integrated | DuplicateEntry | LogFaulty | None:
        """Hand over a verified entry and wait for the round that takes it: the entry
        integrated and covered by the round's checkpoint, or DuplicateEntry (the leaf was
        logged before, or by another request in the same round), LogFaulty (the log is
        not served: nothing is stored), or None when the round
        failed, found the shard frozen, or `timeout` passed (the caller falls back)."""
        slot = _Slot(item)
        with self._work:
            if self._thread is None or not self._thread.is_alive():
                thread = threading.Thread(
                    target=self._run, name=f"tlog-integrator-{self.log_id}", daemon=True
                )
                thread.start()  # before the slot is queued: a failure here queues nothing
                self._thread = thread
            self._queue.append(slot)
            self._work.notify()
        with self._finished:
            if not self._finished.wait_for(lambda: slot.ended, timeout):
                if slot in self._queue:
                    self._queue.remove(slot)
                # else a round holds it: the caller first looks for the entry in the
                # log (that round may have committed it), then falls back
                return None
            return slot.answer

    def _run(self) -> None:
        from tlog import services  # services imports this module

        while True:
            with self._work:
                idle = not self._work.wait_for(lambda: self._queue, _IDLE_SECONDS)
            if idle:
                # Give the connection back (PostgreSQL's DROP DATABASE, for one, waits
                # only 5 s for other sessions to leave), outside the lock.
                _close_connection()
                with self._work:
                    if not self._work.wait_for(lambda: self._queue, _EXIT_SECONDS):
                        # Under the lock with nothing queued: a later submit sees no
                        # thread and starts one, so no slot is left without a thread.
                        self._thread = None
                        return
            with self._work:
                slots, self._queue = self._queue, []
            ok = False
            try:
                done = services.log_integrate_round(
                    log_id=self.log_id, handed=[slot.item for slot in slots]
                )
                self._answer(slots, done)
                ok = True
            except LogFaulty as exc:  # the log is not served: say so, do not fall back
                ok = True
                logger.error("log %s is faulty; not integrating: %s", self.log_id, exc)
                for slot in slots:
                    slot.answer = exc
            except Exception:  # any other failure ends these waits; the waiters fall back
                logger.exception("background integration of log %s failed", self.log_id)
                _close_connection()  # a broken connection is opened afresh next round
            finally:  # whatever happened, no waiter of this round waits on
                with self._finished:
                    for slot in slots:
                        slot.ended = True
                    self._finished.notify_all()
            if not ok:
                time.sleep(_RETRY_PAUSE_SECONDS)

    @staticmethod
    def _answer(slots: list[_Slot], done: Round) -> None:
        if done.log is None:  # the shard was frozen: nothing was integrated
            return
        for slot in slots:
            leaf = slot.item.leaf_hash
            if slot.item in done.integrated:
                assert done.checkpoint is not None
                slot.answer = Integrated(done.entries[leaf], done.checkpoint, done.tiles)
            else:
                slot.answer = DuplicateEntry(Entry(log=done.log, leaf_hash=leaf))


def _close_connection() -> None:
    try:
        connection.close()
    except Exception:  # a connection that cannot even close is dropped all the same
        logger.exception("closing the integrator's database connection failed")


def _reader(log: Log, held: Mapping[tuple[int, int], bytes]) -> merkle.SubtreeReader:
    """Subtree hashes from the tiles a round left in memory, reading any other tile (a
    proof reaching left of the edge) from the store; through the log's subtree cache."""

    def fetch(wanted: Sequence[tuple[int, int, int]]) -> dict[tuple[int, int], bytes]:
        have = {
            (lv, ix): held[(lv, ix)]
            for lv, ix, width in wanted
            if len(held.get((lv, ix), b"")) >= width * merkle.HASH_SIZE
        }
        missing = [w for w in wanted if (w[0], w[1]) not in have]
        return {**have, **selectors.tiles_fetch(log.id, missing)}

    reader: merkle.SubtreeReader = selectors.subtree_cache(log).reader(
        tiles.make_tile_reader(fetch)
    )
    return reader


@dataclass(frozen=True)
class Integrated:
    """An integrated entry, a checkpoint covering it and, when this process's round
    integrated it, the edge tiles that round left (to prove it without reading them)."""

    entry: Entry
    checkpoint: Checkpoint
    tiles: Mapping[tuple[int, int], bytes] | None = None

    def proof(self) -> list[bytes]:
        """The entry's inclusion proof against the checkpoint."""
        assert self.entry.index is not None
        log = self.entry.log
        read = selectors.subtree_reader(log) if self.tiles is None else _reader(log, self.tiles)
        return merkle.inclusion_proof(self.entry.index, self.checkpoint.tree_size, read)


_integrators: dict[int, LogIntegrator] = {}
_integrators_lock = threading.Lock()


def for_log(log_id: int) -> LogIntegrator:
    """This process's integrator of a log, created (its thread started) on first use."""
    with _integrators_lock:
        found = _integrators.get(log_id)
        if found is None:
            found = _integrators[log_id] = LogIntegrator(log_id)
        return found
