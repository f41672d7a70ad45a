"""bench/core: the Merkle and tile core against pymerkle on the same workload.

Workload: append N leaves (default 100,000), then 1,000 inclusion proofs and
1,000 consistency proofs at random tree sizes. Ours keeps tiles in a dict, fed
by ``append_leaves`` in random batches of 256 to 1,024 leaves, and answers
proofs through ``make_tile_reader``; pymerkle uses its ``InmemoryTree``.

Baseline, measured in the same run: raw SHA-256 of N 33-byte messages (one
leaf hash each), so every time is also given as a multiple of it.

    .venv/bin/python -m bench.core [--size N] [--proofs P] [--seed S] [--json]
"""

from __future__ import annotations

import argparse
import hashlib
import json
import platform
import random
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import pymerkle

from tlog.core.merkle import (
    SubtreeReader,
    consistency_proof,
    inclusion_proof,
    leaf_hash,
    tree_root,
    verify_consistency,
)
from tlog.core.tiles import append_leaves, edge_tiles, make_tile_reader


@dataclass
class Workload:
    entries: list[bytes]
    batches: list[int]
    inclusions: list[tuple[int, int]]  # (index, size)
    consistencies: list[tuple[int, int]]  # (old size, new size)


def make_workload(size: int, proofs: int, seed: int) -> Workload:
    rng = random.Random(seed)
    entries = [rng.randbytes(32) for _ in range(size)]
    batches = []
    left = size
    while left:
        batches.append(min(left, rng.randint(256, 1024)))
        left -= batches[-1]
    inclusions = []
    for _ in range(proofs):
        tree_size = rng.randint(1, size)
        inclusions.append((rng.randrange(tree_size), tree_size))
    consistencies = []
    for _ in range(proofs):
        new = rng.randint(1, size)
        consistencies.append((rng.randint(1, new), new))
    return Workload(entries, batches, inclusions, consistencies)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    start = time.perf_counter()
    result = fn()
    return time.perf_counter() - start, result


# --- ours ---------------------------------------------------------------------------


class TileStore:
    def __init__(self) -> None:
        self.tiles: dict[tuple[int, int], bytes] = {}
        self.size = 0

    def append(self, entries: list[bytes]) -> None:
        edge = {(lvl, idx): self.tiles[(lvl, idx)] for lvl, idx, _ in edge_tiles(self.size)}
        self.tiles.update(append_leaves(self.size, edge, [leaf_hash(e) for e in entries]))
        self.size += len(entries)

    def fetch(self, needed: list[tuple[int, int, int]]) -> dict[tuple[int, int], bytes]:
        return {(lvl, idx): self.tiles[(lvl, idx)] for lvl, idx, _ in needed}


def ours_append(work: Workload) -> TileStore:
    store = TileStore()
    pos = 0
    for batch in work.batches:
        store.append(work.entries[pos : pos + batch])
        pos += batch
    return store


def ours_inclusions(work: Workload, read: SubtreeReader) -> list[list[bytes]]:
    return [inclusion_proof(index, size, read) for index, size in work.inclusions]


def ours_consistencies(work: Workload, read: SubtreeReader) -> list[list[bytes]]:
    return [consistency_proof(old, new, read) for old, new in work.consistencies]


# --- pymerkle (indices count from one there) ------------------------------------------


def pymerkle_append(work: Workload) -> pymerkle.InmemoryTree:
    tree = pymerkle.InmemoryTree()
    for entry in work.entries:
        tree.append_entry(entry)
    return tree


def pymerkle_inclusions(work: Workload, tree: pymerkle.InmemoryTree) -> list[Any]:
    return [tree.prove_inclusion(index + 1, size) for index, size in work.inclusions]


def pymerkle_consistencies(work: Workload, tree: pymerkle.InmemoryTree) -> list[Any]:
    return [tree.prove_consistency(old, new) for old, new in work.consistencies]


# --- baseline -------------------------------------------------------------------------


def time_baseline(work: Workload) -> float:
    messages = [b"\x00" + e for e in work.entries]  # built outside the timed loop
    sha256 = hashlib.sha256
    start = time.perf_counter()
    for message in messages:
        sha256(message).digest()
    return time.perf_counter() - start


# --- run ------------------------------------------------------------------------------


def cross_check(
    work: Workload,
    store: TileStore,
    tree: pymerkle.InmemoryTree,
    ours: tuple[list[list[bytes]], list[list[bytes]]],
    theirs: tuple[list[Any], list[Any]],
) -> None:
    """Refuse to report times for answers that disagree."""
    read = make_tile_reader(store.fetch)
    size = len(work.entries)
    if tree_root(size, read) != tree.get_root(size):
        raise SystemExit("roots differ between our tiles and pymerkle")
    for mine, proof in zip(ours[0], theirs[0], strict=True):
        # pymerkle's path starts with the leaf hash itself.
        if mine != proof.path[1:]:
            raise SystemExit("an inclusion proof differs from pymerkle's")
    # pymerkle's consistency proofs are not in RFC 6962 order, so each side's
    # proof is checked by its own verifier against our tiles' roots.
    for (old, new), mine, proof in zip(work.consistencies, ours[1], theirs[1], strict=True):
        old_root, new_root = tree_root(old, read), tree_root(new, read)
        verify_consistency(old, new, mine, old_root, new_root)
        pymerkle.verify_consistency(old_root, new_root, proof, old, new)


def run(size: int, proofs: int, seed: int) -> dict[str, Any]:
    work = make_workload(size, proofs, seed)
    base = time_baseline(work)

    ours_t, store = timed(lambda: ours_append(work))
    theirs_t, tree = timed(lambda: pymerkle_append(work))
    read = make_tile_reader(store.fetch)
    ours_inc_t, ours_inc = timed(lambda: ours_inclusions(work, read))
    theirs_inc_t, theirs_inc = timed(lambda: pymerkle_inclusions(work, tree))
    ours_con_t, ours_con = timed(lambda: ours_consistencies(work, read))
    theirs_con_t, theirs_con = timed(lambda: pymerkle_consistencies(work, tree))
    cross_check(work, store, tree, (ours_inc, ours_con), (theirs_inc, theirs_con))

    rows = [
        (f"append {size} leaves", ours_t, theirs_t),
        (f"{proofs} inclusion proofs", ours_inc_t, theirs_inc_t),
        (f"{proofs} consistency proofs", ours_con_t, theirs_con_t),
    ]
    return {
        "size": size,
        "proofs": proofs,
        "seed": seed,
        "python": platform.python_version(),
        "pymerkle": pymerkle.__version__,
        "baseline": {"workload": f"{size} x sha256(33 bytes)", "seconds": round(base, 4)},
        "results": [
            {
                "workload": name,
                "ours_seconds": round(ours, 4),
                "pymerkle_seconds": round(theirs, 4),
                "ours_over_pymerkle": round(ours / theirs, 3),
                "ours_over_baseline": round(ours / base, 2),
                "pymerkle_over_baseline": round(theirs / base, 2),
            }
            for name, ours, theirs in rows
        ],
    }


def format_table(report: dict[str, Any]) -> str:
    header = (
        f"{'workload':<26} {'ours s':>8} {'pymerkle s':>11} {'ours/pym':>9} "
        f"{'ours/base':>10} {'pym/base':>9}"
    )
    lines = [header, "-" * len(header)]
    for r in report["results"]:
        lines.append(
            f"{r['workload']:<26} {r['ours_seconds']:>8.3f} {r['pymerkle_seconds']:>11.3f} "
            f"{r['ours_over_pymerkle']:>9.3f} {r['ours_over_baseline']:>10.1f} "
            f"{r['pymerkle_over_baseline']:>9.1f}"
        )
    b = report["baseline"]
    lines.append(f"baseline: {b['workload']} = {b['seconds']:.4f} s (base)")
    lines.append(f"python {report['python']}, pymerkle {report['pymerkle']}, seed {report['seed']}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--size", type=int, default=100_000, help="leaves to append")
    parser.add_argument("--proofs", type=int, default=1000, help="proofs of each kind")
    parser.add_argument("--seed", type=int, default=1)
    parser.add_argument("--json", action="store_true", help="print JSON instead of a table")
    args = parser.parse_args(argv)
    if not 1 <= args.size <= 10_000_000 or not 0 <= args.proofs <= 1_000_000:
        parser.error("--size must be 1..10,000,000 and --proofs 0..1,000,000")
    report = run(args.size, args.proofs, args.seed)
    print(json.dumps(report, indent=2) if args.json else format_table(report))
    return 0


if __name__ == "__main__":
    sys.exit(main())
