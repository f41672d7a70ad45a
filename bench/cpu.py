"""Where a benchmark's CPU goes: seconds used by the web server's processes and by
PostgreSQL's, read from /proc (Linux), so a bench can report CPU milliseconds per request
next to its throughput. Everything runs on the same cores, so these say what limits it."""

from __future__ import annotations

import os
from pathlib import Path

_TICKS = os.sysconf("SC_CLK_TCK")


def _stat(pid: str) -> tuple[int, float] | None:
    """(parent pid, CPU seconds) of a process, None if it is gone."""
    try:
        text = (Path("/proc") / pid / "stat").read_text()
    except OSError:
        return None
    fields = text.rsplit(")", 1)[1].split()
    return int(fields[1]), (int(fields[11]) + int(fields[12])) / _TICKS


def _is_postgres(pid: str) -> bool:
    try:
        return (Path("/proc") / pid / "cmdline").read_bytes().startswith(b"postgres")
    except OSError:
        return False


def snapshot(web_pid: int) -> dict[str, float]:
    """CPU seconds so far of the web server (`web_pid` and its descendants) and of every
    PostgreSQL process (its backends live as long as their connections)."""
    stats = {pid: st for pid in os.listdir("/proc") if pid.isdigit() and (st := _stat(pid))}
    children: dict[int, list[int]] = {}
    for pid, (ppid, _) in stats.items():
        children.setdefault(ppid, []).append(int(pid))
    web, todo = 0.0, [web_pid]
    while todo:
        pid = todo.pop()
        if (st := stats.get(str(pid))) is not None:
            web += st[1]
        todo += children.get(pid, [])
    postgres = sum(st[1] for pid, st in stats.items() if _is_postgres(pid))
    return {"web": web, "postgres": postgres}


def per_request_ms(
    before: dict[str, float], after: dict[str, float], client_s: float, count: int
) -> dict[str, float]:
    """CPU milliseconds per completed request: web server, PostgreSQL, load generator."""
    if not count:
        return {}
    spent = {key: after[key] - before[key] for key in before} | {"client": client_s}
    return {key: round(seconds * 1000 / count, 2) for key, seconds in spent.items()}
