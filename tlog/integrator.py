"""Each web process's integrator: one background thread per log that integrates what
this process's requests queued, so that the requests themselves only wait.

Why a thread, and not each request integrating or waiting on the log's row lock itself
(`services._await_integration`, which stays as the fallback): with 16 or 64 requests in
flight, every waiter went round the lock in its own transaction (BEGIN, SET, SELECT ...
SKIP LOCKED or FOR SHARE, COMMIT, then a read), and all of them woke at every commit.
Here one thread per process takes the lock in turn with the other processes' threads,
integrates everything pending (any process's: the group commit), and wakes this
process's waiters in memory, with the entry, its checkpoint and the new edge tiles to
prove it from. A request costs one INSERT and a wait on a condition variable; a read only
when another process's round took its entry.

The guarantee a waiter gets (`wait`): a round that began after its `request()`
took the log's lock, read the pending table after the waiter's entry was committed, and
consumed it (or some other process's round did, before). A round that consumed fewer
than a full batch left nothing pending that was committed before it began.

Failure: a round that raises (database gone, log faulty or frozen) still ends the waits
it covered, with `wait` answering None: the waiter falls back to the row-lock
path, which reports the error itself. Nothing here is durable or needs to be: a process
that dies leaves its entries pending for the `integrate_pending` beat task.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings
from django.db import connection

from tlog import selectors
from tlog.core import merkle, tiles
from tlog.models import Checkpoint, Entry, Log

if TYPE_CHECKING:
    from tlog.services import Round

logger = logging.getLogger(__name__)

# After a failed round, the next one waits this long (a database restart must not turn
# into a busy loop of failing connections).
_RETRY_PAUSE_SECONDS = 0.5
# A thread with nothing to do for this long closes its database connection.
_IDLE_SECONDS = 2.0


class LogIntegrator:
    """The background integrator of one log in this process."""

    def __init__(self, log_id: int) -> None:
        self.log_id = log_id
        lock = threading.Lock()
        # Two conditions on one lock: a request wakes only the thread, and a finished
        # round the waiters (with one condition, every request woke every waiter).
        self._work = threading.Condition(lock)
        self._finished = threading.Condition(lock)
        self._requested = 0  # tickets handed out
        self._done = 0  # every ticket up to this one was covered by a finished round
        self._failed_through = 0  # ... and those up to this one by a failed round
        # The leaves this process's requests wait for, and what their round committed.
        self._watched: dict[bytes, tuple[Entry, Round] | None] = {}
        self._thread: threading.Thread | None = None

    def request(self, leaf: bytes) -> int:
        """Ask for a round that starts after now, for an entry whose insert has
        committed; answer the ticket to wait on."""
        with self._work:
            self._watched[leaf] = None
            self._requested += 1
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._run, name=f"tlog-integrator-{self.log_id}", daemon=True
                )
                self._thread.start()
            self._work.notify()
            return self._requested

    def wait(self, ticket: int, leaf: bytes, timeout: float) -> Integrated | None:
        """The entry once the round covering `ticket` has committed, with a checkpoint
        covering it; None if that round failed, `timeout` passed, or the entry is not in
        the log yet (a shard frozen meanwhile): the caller then falls back to the
        row-lock path."""
        with self._finished:
            finished = self._finished.wait_for(lambda: self._done >= ticket, timeout)
            mine = self._watched.pop(leaf, None)
            if not finished or ticket <= self._failed_through:
                return None
        if mine is None:  # another process's round took it: read it from the store
            found = selectors.entry_with_checkpoint(self.log_id, leaf)
            return None if found is None else Integrated(*found)
        entry, done = mine
        assert done.checkpoint is not None
        return Integrated(entry, done.checkpoint, done.tiles)

    def _wanted(self) -> bool:
        return self._requested > self._done

    def _run(self) -> None:
        from tlog import services  # services imports this module

        while True:
            with self._work:
                if not self._work.wait_for(self._wanted, _IDLE_SECONDS):
                    # Idle: give the connection back (PostgreSQL's DROP DATABASE, for
                    # one, waits only 5 s for other sessions to leave).
                    connection.close()
                    self._work.wait_for(self._wanted)
                target = self._requested
            ok = True
            try:
                while True:
                    done = services.log_integrate_round(log_id=self.log_id)  # committed
                    self._hand_over(done)
                    if done.consumed < settings.TLOG_MAX_BATCH:
                        break  # else more may have been pending when it began
            except Exception:  # any failure ends these waits; the waiters fall back
                ok = False
                logger.exception("background integration of log %s failed", self.log_id)
                connection.close()  # a broken connection is opened afresh next round
            with self._finished:
                self._done = target
                if not ok:
                    self._failed_through = target
                self._finished.notify_all()
            if not ok:
                time.sleep(_RETRY_PAUSE_SECONDS)

    def _hand_over(self, done: Round) -> None:
        if not done.entries:
            return
        with self._work:
            for leaf, entry in done.entries.items():
                if leaf in self._watched:
                    self._watched[leaf] = (entry, done)


def _reader(log: Log, held: Mapping[tuple[int, int], bytes]) -> merkle.SubtreeReader:
    """Subtree hashes from the tiles a round left in memory, reading any other tile (a
    proof reaching left of the edge) from the store; through the log's subtree cache."""

    def fetch(wanted: Sequence[tuple[int, int, int]]) -> dict[tuple[int, int], bytes]:
        have = {
            (lv, ix): held[(lv, ix)]
            for lv, ix, width in wanted
            if len(held.get((lv, ix), b"")) >= width * tiles.HASH_SIZE
        }
        missing = [w for w in wanted if (w[0], w[1]) not in have]
        return {**have, **selectors.tiles_fetch(log.id, missing)}

    return selectors.subtree_cache(log).reader(tiles.make_tile_reader(fetch))


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
