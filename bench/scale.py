"""bench/scale: a log of N entries (default 10 million) loaded through the real sequencing
path, then inclusion-proof, consistency-proof and search latency, and bytes per entry.

Entries are hashedrekord-shaped bodies with a certificate-sized verifier, handed to the
real integration round (`services.log_integrate_round`) as an upload's request hands them
to its process's integrator thread, a chunk (default 4,096) per round and checkpoint.
Signatures are random bytes: verification is the upload path's cost (bench/upload), not
the sequencer's.

    bench/tuned-postgres.sh start /var/tmp/bench-pg 5433   # sized for a large log
    DATABASE_URL=postgres://postgres@127.0.0.1:5433/postgres python -m bench.scale \
        --entries 10000000 --database sigportal_scale --keep

Resumable: run again with the same --database to continue loading where it stopped.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import random
import secrets
import statistics
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg

from bench.report import report


def _dsn(base: str, dbname: str) -> str:
    return urlunsplit(urlsplit(base)._replace(path=f"/{dbname}"))


def bench_passphrase(data_dir: Path) -> str:
    """The key passphrase of a bench's instance. A production-shaped server (PostgreSQL,
    no development provider) refuses to start without SIGPORTAL_KEY_PASSPHRASE; a bench
    keeps its own beside its data, so a resumed run opens the keys it made."""
    path = data_dir / "key_passphrase"
    if not path.exists():
        path.write_text(secrets.token_urlsafe(32))
        path.chmod(0o600)
    return path.read_text().strip()


def _setup(base: str, dbname: str, data_dir: Path) -> None:
    with psycopg.connect(_dsn(base, "postgres"), autocommit=True) as conn:
        exists = conn.execute("SELECT 1 FROM pg_database WHERE datname = %s", [dbname]).fetchone()
        if not exists:
            conn.execute(f'CREATE DATABASE "{dbname}"')
    os.environ["DATABASE_URL"] = _dsn(base, dbname)
    os.environ["SIGPORTAL_DATA_DIR"] = str(data_dir)
    os.environ["SIGPORTAL_KEY_PASSPHRASE"] = bench_passphrase(data_dir)
    os.environ.setdefault("SIGPORTAL_MAX_BATCH", "4096")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "sigportal.settings")
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    call_command("sigportal_init", verbosity=0)


_CERT_B64 = base64.b64encode(b"-----BEGIN CERTIFICATE-----\n" + b"M" * 900 + b"\n").decode()


def _body(n: int) -> tuple[bytes, str, str]:
    digest = hashlib.sha256(n.to_bytes(8, "big")).hexdigest()
    body = json.dumps(
        {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "data": {"hash": {"algorithm": "sha256", "value": digest}},
                "signature": {
                    "content": base64.b64encode(random.randbytes(71)).decode(),
                    "publicKey": {"content": _CERT_B64},
                },
            },
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()
    return body, digest, f"user{n % 100_000}@example.test"


def _load(total: int, chunk: int) -> dict[str, float]:
    from django.conf import settings
    from django.utils import timezone

    from tlog import selectors, services
    from tlog.core import merkle

    log = selectors.log_active(kind="rekor")
    have = log.tree_size - 1  # minus the genesis entry
    started = time.monotonic()
    prepare_s = integrate_s = 0.0
    while have < total:
        n = min(chunk, total - have)
        rows = [_body(have + i) for i in range(n)]
        t0 = time.monotonic()
        # What an upload's request hands its process's integrator, a chunk at a time.
        handed = [
            services.Pending(
                leaf_hash=merkle.leaf_hash(body),
                body=body,
                kind="hashedrekord",
                api_version="0.0.1",
                search_keys=json.dumps([["sha256", f"sha256:{d}"], ["email", e]]),
                submitted_at=timezone.now(),
            )
            for body, d, e in rows
        ]
        t1 = time.monotonic()
        done = services.log_integrate_round(log_id=log.id, handed=handed)
        assert len(done.integrated) == n, "every handed entry is integrated"
        integrate_s += time.monotonic() - t1
        prepare_s += t1 - t0
        have += n
        if have % (chunk * 20) == 0 or have >= total:
            rate = have / (time.monotonic() - started) if time.monotonic() > started else 0
            print(
                f"loaded {have:>10} entries  prepare {prepare_s:7.1f}s  integrate "
                f"{integrate_s:7.1f}s  (this run {rate:,.0f}/s, batch {settings.TLOG_MAX_BATCH})",
                flush=True,
            )
    return {"prepare_seconds": round(prepare_s, 1), "integrate_seconds": round(integrate_s, 1)}


# --- bulk loading (--bulk) ------------------------------------------------------------
#
# Loading through the sequencer runs at ~5,000 entries/s to 10 million (32 minutes) on a
# PostgreSQL sized for it (bench/tuned-postgres.sh), but slows to ~1,300/s past a few
# million on PostgreSQL's defaults (random-key index maintenance). --bulk
# writes the same rows the integrator would (entries with the same bodies, search keys,
# tiles from tlog.core, one checkpoint signed by the log's key) with PostgreSQL building
# the bodies itself and the secondary indexes rebuilt once at the end; `tlog_check`
# afterwards recomputes the root from every stored leaf. It is for the read benchmarks
# (proofs, search, pages); bench/upload measures the write path.

_BULK_TABLES = ("tlog_entry", "tlog_searchkey")
# The entry body of _body(n), built by PostgreSQL: the same JSON, byte for byte, except
# that the 71 random signature bytes are 64 bytes derived from n.
_BULK_BODY = (
    """'{"apiVersion":"0.0.1","kind":"hashedrekord","spec":{"data":{"hash":'"""
    """ || '{"algorithm":"sha256","value":"' || encode(sha256(int8send(n)), 'hex')"""
    """ || '"}},"signature":{"content":"' || replace(encode(sha256(int8send(-n))"""
    """ || sha256(int8send(n + 1)), 'base64'), E'\\n', '')"""
    """ || '","publicKey":{"content":"' || %s || '"}}}}'"""
)


def _secondary_indexes(cur: Any) -> list[tuple[str, str, str]]:
    """(table, name, CREATE/ALTER statement) of every index but the primary keys."""
    cur.execute(
        "SELECT t.relname, i.relname, coalesce("
        " 'ALTER TABLE ' || t.relname || ' ADD CONSTRAINT ' || c.conname || ' '"
        " || pg_get_constraintdef(c.oid), pg_get_indexdef(i.oid))"
        " FROM pg_index x JOIN pg_class i ON i.oid = x.indexrelid"
        " JOIN pg_class t ON t.oid = x.indrelid"
        " LEFT JOIN pg_constraint c ON c.conindid = i.oid AND c.contype = 'u'"
        " WHERE t.relname = ANY(%s) AND NOT x.indisprimary",
        [list(_BULK_TABLES)],
    )
    return cur.fetchall()


def _bulk_load(
    total: int, chunk: int, extra_keys: Sequence[tuple[str, str]] = ()
) -> dict[str, float]:
    """Load to `total` entries; `extra_keys` are more (kind, SQL of the entry number i)
    search keys per entry (bench/search's certificate-like keys)."""
    from django.db import connection, transaction

    from tlog import selectors, services
    from tlog.core import merkle, tiles

    log = selectors.log_active(kind="rekor")
    have = log.tree_size - 1  # minus the genesis entry
    timings: dict[str, float] = {}
    if have >= total:  # a kept database: nothing to load, the indexes stay
        return timings
    started = time.monotonic()
    with transaction.atomic(), connection.cursor() as cur:
        cur.execute("SET LOCAL maintenance_work_mem = '2GB'")
        # Django's foreign keys are deferred: checked now, so no trigger events are
        # pending when the indexes are rebuilt in this same transaction.
        cur.execute("SET CONSTRAINTS ALL IMMEDIATE")
        indexes = _secondary_indexes(cur)
        for table, name, _ in indexes:
            if name.endswith("_pkey"):
                continue
            cur.execute(f"ALTER TABLE {table} DROP CONSTRAINT IF EXISTS {name}")
            cur.execute(f"DROP INDEX IF EXISTS {name}")
        now = int(time.time())
        root = bytes(log.root_hash)
        for first in range(have, total, chunk):
            last = min(first + chunk, total)
            # One statement a chunk: the entries, their two search keys, and their leaf
            # hashes back for the tiles (no lookups: the indexes are rebuilt at the end).
            cur.execute(
                'WITH ins AS (INSERT INTO tlog_entry (log_id, "index", leaf_hash, body, kind,'
                " api_version, integrated_time, submitted_at) SELECT %s::bigint, n + 1,"
                " sha256('\\x00'::bytea || convert_to(b, 'UTF8')), convert_to(b, 'UTF8'),"
                " 'hashedrekord', '0.0.1', %s::bigint, now()"
                f" FROM (SELECT n, {_BULK_BODY} AS b"
                " FROM generate_series(%s::bigint, %s::bigint) AS n) AS t ORDER BY n"
                ' RETURNING id, "index", leaf_hash),'
                " keys AS (INSERT INTO tlog_searchkey (entry_id, kind, value)"
                " SELECT id, 'sha256', 'sha256:' || encode(sha256(int8send(\"index\" - 1)), 'hex')"
                " FROM ins UNION ALL SELECT id, 'email', 'user' || ((\"index\" - 1) %% 100000)"
                " || '@example.test' FROM ins"
                + "".join(
                    f" UNION ALL SELECT id, '{kind}', {expression}"
                    ' FROM (SELECT id, "index" - 1 AS i FROM ins) AS x'
                    for kind, expression in extra_keys
                )
                + ') SELECT leaf_hash FROM ins ORDER BY "index"',
                [log.id, now, _CERT_B64, first, last - 1],
            )
            leaves = [bytes(row[0]) for row in cur.fetchall()]
            root = _bulk_tiles(cur, log, first + 1, leaves, merkle, tiles)
            elapsed = time.monotonic() - started
            print(f"bulk-loaded {last:>10} entries ({elapsed:7.1f}s)", flush=True)
        timings["rows_and_tiles_seconds"] = round(time.monotonic() - started, 1)
        t0 = time.monotonic()
        for _, name, statement in indexes:
            print(f"rebuilding {name}", flush=True)
            cur.execute(statement)
        timings["index_seconds"] = round(time.monotonic() - t0, 1)
        services._store_checkpoint(log, total + 1, root)
        cur.execute(
            "UPDATE tlog_log SET tree_size = %s, root_hash = %s WHERE id = %s",
            [total + 1, root, log.id],
        )
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) tlog_entry")
        cur.execute("VACUUM (ANALYZE) tlog_searchkey")
    timings["total_seconds"] = round(time.monotonic() - started, 1)
    return timings


def _bulk_tiles(
    cur: Any, log: Any, size: int, leaves: list[bytes], merkle: Any, tiles: Any
) -> bytes:
    """Append `leaves` (at index `size` onwards) to the stored tiles as the integrator
    does; return the new root."""
    from tlog import selectors

    edge = selectors.tiles_fetch(log.id, tiles.edge_tiles(size))
    changed = tiles.append_leaves(size, edge, leaves)
    cur.executemany(
        'INSERT INTO tlog_tile (log_id, level, "index", hashes) VALUES (%s, %s, %s, %s)'
        ' ON CONFLICT (log_id, level, "index") DO UPDATE SET hashes = excluded.hashes',
        [(log.id, lv, ix, data) for (lv, ix), data in changed.items()],
    )
    merged = {**edge, **changed}
    new_size = size + len(leaves)
    return bytes(merkle.tree_root(new_size, tiles.make_tile_reader(lambda _wanted: merged)))


def _timed(fn: Any, samples: int) -> dict[str, float]:
    times = []
    for _ in range(samples):
        t = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t) * 1000)
    times.sort()
    return {
        "p50_ms": round(statistics.median(times), 3),
        "p99_ms": round(times[min(len(times) - 1, int(0.99 * len(times)))], 3),
    }


def _measure(samples: int, seed: int = 7) -> dict[str, Any]:
    from django.db import connection

    from tlog import rekor, selectors, services
    from tlog.models import Entry

    services.pending_vacuum()
    # Measured in the state autovacuum leaves an insert-only table in (visibility map set,
    # so the covering indexes answer without heap fetches), not mid-way to it.
    with connection.cursor() as cur:
        cur.execute("VACUUM (ANALYZE) tlog_entry")
        cur.execute("VACUUM (ANALYZE) tlog_searchkey")
    log = selectors.log_active(kind="rekor")
    size = log.tree_size
    rng = random.Random(seed)  # which entries, emails and digests are asked for

    def inclusion() -> None:
        selectors.inclusion_proof(log, rng.randrange(size), size)

    def consistency() -> None:
        old = rng.randrange(1, size)
        selectors.consistency_proof(log, old, size)

    def entry_by_index() -> None:  # what GET /api/v1/log/entries?logIndex= does
        entry = selectors.entry_by_global_index(rng.randrange(1, size))
        rekor.entry_document(entry)

    def search_email() -> None:
        email = f"user{rng.randrange(100_000)}@example.test"
        selectors.entries_search(criteria={"email": [email]}, operator="or", cursor=0, limit=100)

    def search_digest() -> None:
        n = rng.randrange(size - 1)
        digest = hashlib.sha256(n.to_bytes(8, "big")).hexdigest()
        selectors.entries_search(
            criteria={"sha256": [f"sha256:{digest}"]}, operator="or", cursor=0, limit=100
        )

    results = {
        name: _timed(fn, samples)
        for name, fn in [
            ("inclusion_proof", inclusion),
            ("consistency_proof", consistency),
            ("entry_with_proof_and_set", entry_by_index),
            ("search_by_email", search_email),
            ("search_by_digest", search_digest),
        ]
    }
    with connection.cursor() as cur:
        cur.execute(
            "SELECT sum(pg_total_relation_size(c.oid)) FROM pg_class c"
            " WHERE c.relkind = 'r' AND c.relname LIKE 'tlog_%%'"
        )
        total_bytes = int(cur.fetchone()[0])
        cur.execute(
            "SELECT pg_total_relation_size('tlog_entry'), pg_total_relation_size("
            "'tlog_tile'), pg_total_relation_size('tlog_searchkey')"
        )
        entry_b, tile_b, key_b = cur.fetchone()
    results["tree_size"] = size

    results["bytes_per_entry"] = {
        "all_tables": round(total_bytes / size, 1),
        "entries": round(entry_b / size, 1),
        "tiles": round(tile_b / size, 1),
        "search_keys": round(key_b / size, 1),
    }
    results["mean_body_bytes"] = round(
        sum(
            len(bytes(b))
            for b in Entry.objects.filter(index__lt=1000).values_list("body", flat=True)
        )
        / 1000,
        1,
    )
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=10_000_000)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--samples", type=int, default=1000)
    parser.add_argument(
        "--seed", type=int, default=7, help="another seed asks for other entries (colder reads)"
    )
    parser.add_argument("--database", default="sigportal_scale")
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-scale"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--bulk", action="store_true", help="load with SQL and rebuilt indexes (see _bulk_load)"
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    args.data_dir.mkdir(parents=True, exist_ok=True)
    _setup(base, args.database, args.data_dir.resolve())
    load = (_bulk_load if args.bulk else _load)(args.entries, args.chunk)
    results = {"load": load, **_measure(args.samples, args.seed)}
    report(results, args.json)
    if not args.keep:
        from django.db import connections

        connections.close_all()
        with psycopg.connect(_dsn(base, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
