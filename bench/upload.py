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

from bench import cpu
from bench.report import report
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
    begin = time.time()
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
    out.put((latencies, 0, begin, time.time(), 0.0))


def baseline_inserts(dsn: str, clients: int, seconds: float) -> dict[str, Any]:
    with psycopg.connect(dsn, autocommit=True) as conn:
        conn.execute("DROP TABLE IF EXISTS bench_baseline")
        conn.execute("CREATE TABLE bench_baseline (id bigserial PRIMARY KEY, data bytea)")
    return _run_in_processes(_insert_worker, [dsn] * min(clients, 4), clients, seconds)


def _run_in_processes(
    target: Any, args: list[Any], clients: int, seconds: float, web_pid: int | None = None
) -> dict[str, Any]:
    """Run target(args[i], threads, seconds, queue) in len(args) processes; each reports
    (latencies, errors, wall start, wall end, its CPU seconds) of its own timed window
    only. With `web_pid`, also the CPU milliseconds per request of that web server, of
    PostgreSQL and of the clients."""
    cpu_before = cpu.snapshot(web_pid) if web_pid else None
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    nproc = len(args)
    per = [clients // nproc + (1 if i < clients % nproc else 0) for i in range(nproc)]
    procs = [
        ctx.Process(target=target, args=(arg, n, seconds, queue))
        for arg, n in zip(args, per, strict=True)
        if n
    ]
    for p in procs:
        p.start()
    latencies: list[float] = []
    errors = 0
    starts, ends = [], []
    client_cpu = 0.0
    for _ in procs:
        lat, err, start, end, used = queue.get(timeout=seconds + 300)
        latencies.extend(lat)
        errors += err
        starts.append(start)
        ends.append(end)
        client_cpu += used
    summary = _summary(latencies, max(ends) - min(starts), errors)
    if web_pid and cpu_before:
        summary["cpu_ms_per_request"] = cpu.per_request_ms(
            cpu_before, cpu.snapshot(web_pid), client_cpu, len(latencies)
        )
    for p in procs:
        p.join(timeout=30)
    return summary


# --- sigportal uploads ----------------------------------------------------------------


def _make_bodies(count: int) -> list[bytes]:
    from conftest import EntryMaker

    maker = EntryMaker()
    return [json.dumps(maker.hashedrekord()[0]).encode() for _ in range(count)]


def post_worker(
    work: tuple[str, int, str, dict[str, str], list[bytes]],
    threads: int,
    seconds: float,
    out: Any,
) -> None:
    """`threads` keep-alive HTTP clients POSTing the given bodies to one path until the
    time or the bodies run out; reports (latencies of 201s, other answers, start, end)."""
    host, port, path, headers, bodies = work
    latencies: list[float] = []
    errors = 0
    lock = threading.Lock()
    next_body = iter(bodies)
    begin = time.time()
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
            conn.request("POST", path, body, {"Content-Type": "application/json", **headers})
            response = conn.getresponse()
            response.read()
            if response.status == 201:
                mine.append(time.perf_counter() - start)
            else:
                bad += 1
        with lock:
            latencies.extend(mine)
            errors += bad

    cpu_start = time.process_time()
    workers = [threading.Thread(target=loop) for _ in range(threads)]
    for w in workers:
        w.start()
    for w in workers:
        w.join()
    out.put((latencies, errors, begin, time.time(), time.process_time() - cpu_start))


_last_counts = (0, 0)


def _entries_per_checkpoint(dsn: str) -> float:
    """Mean batch size since the previous call: entries integrated per checkpoint signed."""
    global _last_counts
    with psycopg.connect(dsn) as conn:
        row = conn.execute(
            "SELECT (SELECT count(*) FROM tlog_entry), (SELECT count(*) FROM tlog_checkpoint)"
        ).fetchone()
    assert row is not None
    entries, checkpoints = row[0] - _last_counts[0], row[1] - _last_counts[1]
    _last_counts = (row[0], row[1])
    return round(entries / checkpoints, 1) if checkpoints else 0.0


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--clients", type=int, nargs="+", default=[1, 16, 64])
    parser.add_argument("--seconds", type=float, default=15.0)
    parser.add_argument("--web-workers", type=int, default=2)
    parser.add_argument("--web-threads", type=int, default=16)
    parser.add_argument(
        "--max-rate", type=float, default=1500, help="entries signed up front per second of run"
    )
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
            _entries_per_checkpoint(server.database_url)
            for clients in args.clients:
                base = baseline_inserts(server.database_url, clients, args.seconds)
                # Entries are signed before the clock starts: client signing is not measured.
                nproc = min(clients, 4)
                bodies = _make_bodies(int(args.max_rate * args.seconds))
                work = [
                    (*target, "/api/v1/log/entries", {}, bodies[i::nproc]) for i in range(nproc)
                ]
                ours = _run_in_processes(
                    post_worker, work, clients, args.seconds, server.process.pid
                )
                ratio = ours["per_second"] / base["per_second"] if base["per_second"] else 0
                ours["entries_per_checkpoint"] = _entries_per_checkpoint(server.database_url)
                results["clients"][clients] = {
                    "baseline_insert_commit": base,
                    "sigportal_upload": ours,
                    "throughput_ratio": round(ratio, 3),
                }
                print(
                    f"{clients:>3} clients: batch {ours['entries_per_checkpoint']} "
                    f"sigportal {ours['per_second']:>7}/s "
                    f"p50 {ours['p50_ms']} ms p95 {ours['p95_ms']} ms p99 {ours['p99_ms']} ms "
                    f"(errors {ours['errors']}) CPU ms/upload {ours.get('cpu_ms_per_request')}"
                    " | baseline INSERT+COMMIT "
                    f"{base['per_second']:>7}/s p50 {base['p50_ms']} ms | ratio {ratio:.3f}",
                    flush=True,
                )
        finally:
            next(servers, None)
    results["settings"] = vars(args) | {"json": str(args.json) if args.json else None}
    results["cpu_count"] = os.cpu_count()
    report(results, args.json)


if __name__ == "__main__":
    main()
