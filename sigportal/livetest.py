"""Start a real sigportal (bin/sigportal web: gunicorn) on loopback with its own fresh
PostgreSQL database. Used by the integration tests and the benchmarks."""

from __future__ import annotations

import os
import secrets
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import psycopg
import requests

ROOT = Path(__file__).resolve().parent.parent


class NeedsPostgres(RuntimeError):
    pass


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def _admin_dsn(url: str, dbname: str = "postgres") -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{dbname}"))


@dataclass
class LiveServer:
    url: str
    database_url: str
    data_dir: Path
    env: dict[str, str]
    process: subprocess.Popen[bytes]

    def manage(self, *args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "manage.py", *args],
            cwd=ROOT,
            env=self.env,
            capture_output=True,
            text=True,
            check=True,
            timeout=300,
        )


def start_live_server(
    tmp: Path, *, workers: int = 2, threads: int = 4, extra_env: dict[str, str] | None = None
) -> Iterator[LiveServer]:
    base = os.environ.get("DATABASE_URL", "")
    if not base.startswith("postgres"):
        raise NeedsPostgres("live-server tests need PostgreSQL: set DATABASE_URL (make test does)")
    dbname = f"sigportal_live_{secrets.token_hex(4)}"
    with psycopg.connect(_admin_dsn(base), autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{dbname}"')
    try:
        yield from _serve(tmp, base, dbname, workers, threads, extra_env or {})
    finally:  # whatever happened (init failed, the server never answered, the tests ended)
        with psycopg.connect(_admin_dsn(base), autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{dbname}" WITH (FORCE)')


def live_server_or_skip(tmp: Path, **kwargs: Any) -> Iterator[LiveServer]:
    """start_live_server for a pytest fixture: with the development identity provider on,
    and without PostgreSQL the tests that use it are skipped, saying why."""
    import pytest  # test support: pytest is there whenever a fixture calls this

    kwargs.setdefault("extra_env", {"SIGPORTAL_DEV_IDP": "true"})
    try:
        yield from start_live_server(tmp, **kwargs)
    except NeedsPostgres as exc:
        pytest.skip(str(exc))


def _serve(
    tmp: Path, base: str, dbname: str, workers: int, threads: int, extra_env: dict[str, str]
) -> Iterator[LiveServer]:
    port = free_port()
    env = {
        **os.environ,
        "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '')}",
        "DATABASE_URL": _admin_dsn(base, dbname),
        "SIGPORTAL_DATA_DIR": str(tmp),
        "SIGPORTAL_PUBLIC_URL": f"http://127.0.0.1:{port}",
        "SIGPORTAL_TASKS_IN_PROCESS": "false",
        # As production does: the key passphrase comes from the environment.
        "SIGPORTAL_KEY_PASSPHRASE": secrets.token_urlsafe(32),
        **extra_env,
    }
    # The image's own entrypoint (Dockerfile), run outside Docker: init, then web.
    init = subprocess.run(
        [str(ROOT / "bin" / "sigportal"), "init"],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    if init.returncode != 0:
        raise RuntimeError(f"bin/sigportal init failed:\n{init.stdout}{init.stderr}"[-4000:])
    env.update(BIND=f"127.0.0.1:{port}", WEB_WORKERS=str(workers), WEB_THREADS=str(threads))
    with open(tmp / "gunicorn.log", "wb") as log:
        process = subprocess.Popen(
            [str(ROOT / "bin" / "sigportal"), "web"],
            cwd=ROOT,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
        try:
            url = _wait_ready(process, port, tmp)
            yield LiveServer(url, env["DATABASE_URL"], tmp, env, process)
        finally:
            process.terminate()
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_ready(process: subprocess.Popen[bytes], port: int, tmp: Path) -> str:
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 120
    while True:
        try:
            if requests.get(f"{url}/api/v1/log", timeout=2).status_code == 200:
                return url
        except requests.RequestException:  # not listening yet, or still booting
            pass
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError((tmp / "gunicorn.log").read_text()[-4000:])
        time.sleep(0.2)
