"""bench/search: latency of the portal's search page, search API, entry page and home page
on a large log, through gunicorn + PostgreSQL, against the raw SQL lookup each must make.

The log is loaded by bench/scale's loader (hashedrekord-shaped entries through the real
integrator, with digest and email search keys), then every entry gets the other kinds of
search key a Fulcio certificate brings: a GitHub workflow URI (1,000 organisations), a
key fingerprint (5,000 keys) and a unique certificate serial. Then, for each query type,
one client sends `--samples` requests over keep-alive HTTP (sequentially: latency, not
throughput) and the same number of bare psycopg queries that look up the same search key
(the baseline: what any implementation must at least pay).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres python -m bench.search \
        --entries 500000 --database sigportal_search --keep

Resumable like bench/scale: the same --database continues loading where it stopped.
Traffic goes to loopback only; every loop is bounded in count.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import os
import random
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import psycopg

from bench import scale
from bench.report import report
from sigportal.livetest import ROOT, free_port

ORGS, KEYS = 1000, 5000
EMAILS = 100_000  # bench/scale's user{n % 100000}@example.test


def _key(n: int) -> str:
    return "sha256:" + hashlib.sha256(f"k{n % KEYS}".encode()).hexdigest()


def _serial(n: int) -> str:
    return format(n * 7919 + 1, "x")


_ENRICH = [
    # (kind, SQL of the entry's number i): the values _cases and _key/_serial search for.
    (
        "uri",
        "'https://github.com/org' || (i %% 1000) || '/repo' || (i %% 7)"
        " || '/.github/workflows/release.yml@refs/heads/main'",
    ),
    ("key", "'sha256:' || encode(sha256(convert_to('k' || (i %% 5000), 'UTF8')), 'hex')"),
    ("cert_serial", "to_hex(i * 7919 + 1)"),
]


def _enrich(dsn: str) -> float:
    """Add certificate-like search keys to entries that lack them (resumable)."""
    started = time.monotonic()
    with psycopg.connect(dsn, autocommit=True) as conn:
        for kind, expression in _ENRICH:
            row = conn.execute(
                "SELECT coalesce(max(entry_id), 0) FROM tlog_searchkey WHERE kind = %s", [kind]
            ).fetchone()
            # The genesis entry (index 0) gets none; bench/scale's entry n has index n + 1.
            conn.execute(
                f"INSERT INTO tlog_searchkey (entry_id, kind, value) SELECT id, %s, {expression}"
                ' FROM (SELECT e.id, e."index" - 1 AS i FROM tlog_entry e JOIN tlog_log l'
                " ON l.id = e.log_id WHERE l.kind = 'rekor' AND e.\"index\" > 0 AND e.id > %s) t",
                [kind, row[0]],
            )
        conn.execute("VACUUM (ANALYZE) tlog_searchkey")
    return round(time.monotonic() - started, 1)


def _start_server(dsn: str, data_dir: Path, port: int) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "DATABASE_URL": dsn,
        "SIGPORTAL_DATA_DIR": str(data_dir),
        "SIGPORTAL_KEY_PASSPHRASE": scale.bench_passphrase(data_dir),
        "SIGPORTAL_TASKS_IN_PROCESS": "false",
        "BIND": f"127.0.0.1:{port}",
        "WEB_WORKERS": "2",
        "WEB_THREADS": "4",
    }
    log = open(data_dir / "gunicorn.log", "wb")  # closed when the process exits
    process = subprocess.Popen(
        [str(ROOT / "bin" / "sigportal"), "web"], cwd=ROOT, env=env, stdout=log, stderr=log
    )
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            conn.request("GET", "/api/v1/log")
            if conn.getresponse().status == 200:
                return process
        except OSError:
            time.sleep(0.2)
    process.kill()
    raise RuntimeError((data_dir / "gunicorn.log").read_text()[-3000:])


def _percentiles(ms: list[float]) -> dict[str, float]:
    ordered = sorted(ms)

    def at(p: float) -> float:
        return round(ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))], 2)

    return {"p50_ms": at(50), "p95_ms": at(95), "p99_ms": at(99)}


def _http(conn: http.client.HTTPConnection, path: str) -> float:
    start = time.perf_counter()
    try:
        conn.request("GET", path)
        response = conn.getresponse()
    except (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError):
        # gunicorn closes a keep-alive connection idle for 2 s (while the other
        # connection was measured): reconnect, as a browser would, and time that too.
        conn.close()
        conn.request("GET", path)
        response = conn.getresponse()
    response.read()
    elapsed = (time.perf_counter() - start) * 1000
    if response.status != 200:
        raise RuntimeError(f"GET {path}: {response.status}")
    return elapsed


def _sql(conn: psycopg.Connection[Any], sql: str, params: Any) -> float:
    # Client-side binding, as Django's PostgreSQL backend does: a LIKE prefix must reach
    # the planner as a constant to use the pattern-ops index (a server-side parameter
    # makes a generic plan that scans).
    start = time.perf_counter()
    psycopg.ClientCursor(conn).execute(sql, params).fetchall()
    return (time.perf_counter() - start) * 1000


_BY_KEY = (
    "SELECT entry_id FROM tlog_searchkey WHERE kind = %s AND value = %s"
    " ORDER BY entry_id DESC LIMIT 26"
)


def _prefix_params(prefix: str) -> dict[str, Any]:
    """Parameters of tlog.search's loose index scan for one page of a prefix search."""
    return {
        "kind": "uri",
        "like": prefix + "%",
        "max_values": 201,
        "cursor": 2**63 - 1,
        "limit": 26,
    }


def _prefix_sql() -> str:
    from tlog.search import PREFIX_SQL  # after django.setup()

    return PREFIX_SQL


_BY_INDEX = 'SELECT id FROM tlog_entry WHERE log_id = %s AND "index" = %s'
_BY_LEAF = "SELECT id, body FROM tlog_entry WHERE log_id = %s AND leaf_hash = %s"
_LATEST = "SELECT note FROM tlog_checkpoint WHERE log_id = %s ORDER BY id DESC LIMIT 1"


def _cases(size: int, log_id: int, tree_id: int, leaves: list[bytes]) -> dict[str, Any]:
    """Per query type: (search text for n, baseline SQL, its parameters for n)."""

    def n_of(rng: random.Random) -> int:
        return rng.randrange(size - 1)

    return {
        "email": (
            lambda n: f"user{n % EMAILS}@example.test",
            _BY_KEY,
            lambda n: ["email", f"user{n % EMAILS}@example.test"],
        ),
        "identity_prefix": (
            lambda n: f"https://github.com/org{n % ORGS}/*",
            _prefix_sql(),
            lambda n: _prefix_params(f"https://github.com/org{n % ORGS}/"),
        ),
        "digest": (
            lambda n: "sha256:" + hashlib.sha256(n.to_bytes(8, "big")).hexdigest(),
            _BY_KEY,
            lambda n: ["sha256", "sha256:" + hashlib.sha256(n.to_bytes(8, "big")).hexdigest()],
        ),
        "index": (lambda n: str(n + 1), _BY_INDEX, lambda n: [log_id, n + 1]),
        "uuid": (
            lambda n: f"{tree_id:016x}{leaves[n % len(leaves)].hex()}",
            _BY_LEAF,
            lambda n: [log_id, leaves[n % len(leaves)]],
        ),
        "serial": (
            lambda n: f"serial:{_serial(n)}",
            _BY_KEY,
            lambda n: ["cert_serial", _serial(n)],
        ),
        "key": (lambda n: f"key:{_key(n)}", _BY_KEY, lambda n: ["key", _key(n)]),
        "_n": n_of,
    }


def _prewarm(db: psycopg.Connection[Any]) -> None:
    """Load the search and entry indexes into memory first, as they are on an instance
    that has been serving for a while (sized as docs/operations.md says): otherwise the
    first query type measured pays for reading them from disk, the last one does not."""
    db.execute("CREATE EXTENSION IF NOT EXISTS pg_prewarm")
    for index in (
        "searchkey_lookup",
        "searchkey_prefix",
        "entry_unique_leaf",
        "entry_unique_index",
    ):
        db.execute("SELECT pg_prewarm(%s)", [index])


def _measure(dsn: str, port: int, samples: int) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as db:
        log_id, tree_id, size = db.execute(
            "SELECT id, tree_id, tree_size FROM tlog_log WHERE kind = 'rekor' AND state = 'active'"
        ).fetchone()
        leaves = [
            bytes(r[0])
            for r in db.execute(
                "SELECT leaf_hash FROM tlog_entry WHERE log_id = %s AND id IN"
                " (SELECT id FROM tlog_entry TABLESAMPLE SYSTEM (1) LIMIT 2000)",
                [log_id],
            ).fetchall()
        ]
        plan = (
            psycopg.ClientCursor(db)
            .execute("EXPLAIN " + _prefix_sql(), _prefix_params("https://github.com/org7/"))
            .fetchall()
        )
        cases = _cases(size, log_id, tree_id, leaves)
        n_of: Callable[[random.Random], int] = cases.pop("_n")
        web = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        results: dict[str, Any] = {"tree_size": size, "samples": samples}
        _prewarm(db)
        for name, (text, sql, params) in cases.items():
            rng = random.Random(name)
            # Disjoint samples for the page, the API and the baseline: none of them
            # measures lookups another one has just brought into the caches.
            page_ns, api_ns, sql_ns = ([n_of(rng) for _ in range(samples)] for _ in range(3))
            for n in [n_of(rng) for _ in range(10)]:  # the connection and the plan caches
                _http(web, f"/search?q={quote(text(n), safe='')}")
            results[name] = {
                "page": _percentiles(
                    [_http(web, f"/search?q={quote(text(n), safe='')}") for n in page_ns]
                ),
                "api": _percentiles(
                    [_http(web, f"/api/v1/search?q={quote(text(n), safe='')}") for n in api_ns]
                ),
                "sql_baseline": _percentiles([_sql(db, sql, params(n)) for n in sql_ns]),
            }
        rng = random.Random("entry")
        picks = [leaves[rng.randrange(len(leaves))] for _ in range(samples)]
        results["entry_page"] = {
            "page": _percentiles(
                [_http(web, f"/entries/{tree_id:016x}{leaf.hex()}") for leaf in picks]
            ),
            "sql_baseline": _percentiles([_sql(db, _BY_LEAF, [log_id, leaf]) for leaf in picks]),
        }
        results["home_page"] = {
            "page": _percentiles([_http(web, "/") for _ in range(samples)]),
            "sql_baseline": _percentiles([_sql(db, _LATEST, [log_id]) for _ in range(samples)]),
        }
        results["prefix_plan"] = [row[0] for row in plan]
    return results


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--entries", type=int, default=500_000)
    parser.add_argument("--chunk", type=int, default=4096)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--database", default="sigportal_search")
    parser.add_argument("--data-dir", type=Path, default=Path("var/bench-search"))
    parser.add_argument("--keep", action="store_true", help="keep the database afterwards")
    parser.add_argument("--json", type=Path)
    parser.add_argument(
        "--bulk", action="store_true", help="bulk-load the log (bench/scale.py --bulk)"
    )
    args = parser.parse_args()
    base = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/postgres")
    data_dir = args.data_dir.resolve()
    data_dir.mkdir(parents=True, exist_ok=True)
    scale._setup(base, args.database, data_dir)
    dsn = scale._dsn(base, args.database)
    if args.bulk:
        load = scale._bulk_load(args.entries, args.chunk, extra_keys=_ENRICH)
    else:
        load = scale._load(args.entries, args.chunk)
    results: dict[str, Any] = {"load": load}
    results["load"]["enrich_seconds"] = _enrich(dsn)
    from django.db import connections

    connections.close_all()
    port = free_port()
    server = _start_server(dsn, data_dir, port)
    try:
        results.update(_measure(dsn, port, args.samples))
    finally:
        server.terminate()
        server.wait(timeout=30)
    report(results, args.json)
    if not args.keep:
        with psycopg.connect(scale._dsn(base, "postgres"), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE "{args.database}" WITH (FORCE)')


if __name__ == "__main__":
    sys.exit(main())
