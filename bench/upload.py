"""bench/upload: concurrent HTTP clients posting distinct valid hashedrekord entries to
gunicorn + PostgreSQL; entries/s and latency percentiles.

Baseline, measured in the same run at the same concurrency: bare single-row
INSERT + COMMIT transactions into PostgreSQL (what any durable write must at least cost).

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/sigportal python -m bench.upload

Traffic goes to loopback only and every loop is bounded in count and time.
"""

from __future__ import annotations

import argparse
import http.client
import json
import multiprocessing
import os
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import psycopg

from sigportal.livetest import start_live_server


def _percentile(values: list[float], p: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(p / 100 * len(ordered)))]


def _summary(latencies: list[float], elapsed: float, errors: int) -> dict[str, Any]:
    return {
        "count": len(latencies),
        "errors": errors,
        "per_second": round(len(latencies) / elapsed, 1) if elapsed else 0.0,
        "p50_ms": round(_percentile(latencies, 50) * 1000, 2),
        "p95_ms": round(_percentile(latencies, 95) * 1000, 2),
        "p99_ms": round(_percentile(latencies, 99) * 1000, 2),
    }


# --- baseline: bare INSERT + COMMIT ---------------------------------------------------


def _insert_worker(dsn: str, threads: int, seconds: float, out: Any) -> None:
    latencies: list[float] = []
    lock = threading.Lock()
    deadline = time.monotonic() + seconds

    def loop() -> None:
        with psycopg.connect(dsn) as conn:
            mine = []
            while time.monotonic() < deadline:
                start = time.perf_counter()
                conn.execute("INSERT INTO bench_baseline (data) VALUES (%s)", [os.urandom(512)])
                conn.commit()
                mine.append(time.perf_counter() - start)
            with lock:
                latencies.extend(mine)

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put(latencies)


def baseline_inserts(dsn: str, clients: int, seconds: float) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_baseline")
        conn.execute("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, data bytea)")
    return _run_in_processes(_insert_worker, dsn, clients, seconds)


def _run_in_processes(target: Any, arg: Any, clients: int, seconds: float) -> dict[str, Any]:
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    nproc = min(clients, 4)
    per = [clients // nproc + (1 if i < clients % nproc else 0) for i in range(nproc)]
    procs = [ctx.Process(target=target, args=(arg, n, seconds, queue)) for n in per]
    start = time.monotonic()
    for p in procs:
        p.start()
    latencies: list[float] = []
    errors = 0
    for _ in procs:
        got = queue.get(timeout=seconds + 120)
        if isinstance(got, tuple):
            latencies.extend(got[0])
            errors += got[1]
        else:
            latencies.extend(got)
    for p in procs:
        p.join(timeout=30)
    return _summary(latencies, time.monotonic() - start, errors)


# --- sigportal uploads ----------------------------------------------------------------


def _make_bodies(count: int) -> list[bytes]:
    from conftest import EntryMaker

    maker = EntryMaker()
    return [json.dumps(maker.hashedrekord()[0]).encode() for _ in range(count)]


def _upload_worker(target: tuple[str, int], threads: int, seconds: float, out: Any) -> None:
    host, port = target
    # Entries are signed before the clock starts: the client's signing is not measured.
    bodies = _make_bodies(max(50, int(threads * seconds * 40)))
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    next_body = iter(bodies)
    deadline = time.monotonic() + seconds

    def loop() -> None:
        nonlocal errors
        conn = http.client.HTTPConnection(host, port, timeout=60)
        mine: list[float] = []
        bad = 0
        while time.monotonic() < deadline:
            with lock:
                body = next(next_body, None)
            if body is None:
                break
            start = time.perf_counter()
            conn.request("POST", "/api/v1/log/entries", body, {"Content-Type": "application/json"})
            response = conn.getresponse()
            response.read()
            if response.status == 201:
                mine.append(time.perf_counter() - start)
            else:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, errors))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--web-workers", type=int, default=4)
    parser.add_argument("--web-threads", type=int, default=16)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()
    dsn = os.environ.get("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sigportal")
    os.environ["DATABASE_URL"] = dsn
    results: dict[str, Any] = {"clients": {}}
    with tempfile.TemporaryDirectory() as tmp:
        servers = start_live_server(Path(tmp), workers=args.web_workers, threads=args.web_threads)
        server = next(servers)
        try:
            host_port = server.url.removeprefix("http://").split(":")
            target = (host_port[0], int(host_port[1]))
            for clients in args.clients:
                base = baseline_inserts(server.database_url, clients, args.seconds)
                ours = _run_in_processes(_upload_worker, target, clients, args.seconds)
                ratio = ours["per_second"] / base["per_second"] if base["per_second"] else 0
                results["clients"][clients] = {
                    "baseline_insert_commit": base,
                    "sigportal_upload": ours,
                    "throughput_ratio": round(ratio, 3),
                }
                print(
                    f"{clients:>3} clients: sigportal {ours['per_second']:>7}/s "
                    f"p50 {ours['p50_ms']} ms p95 {ours['p95_ms']} ms p99 {ours['p99_ms']} ms "
                    f"(errors {ours['errors']}) | baseline INSERT+COMMIT "
                    f"{base['per_second']:>7}/s p50 {base['p50_ms']} ms | ratio {ratio:.3f}",
                    flush=True,
                )
        finally:
            next(servers, None)
    results["settings"] = vars(args) | {"json": str(args.json) if args.json else None}
    results["cpu_count"] = os.cpu_count()
    text = json.dumps(results, indent=2)
    if args.json:
        args.json.parent.mkdir(parents=True, exist_ok=True)
        args.json.write_text(text)
    print(text)


if __name__ == "__main__":
    main()
