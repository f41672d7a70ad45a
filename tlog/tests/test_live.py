"""The log driven over HTTP the way clients do: gunicorn + PostgreSQL, concurrent
processes, a real Celery worker and beat over Redis, and `make run` (embedded SQLite)."""

from __future__ import annotations

import base64
import json
import multiprocessing
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests

from conftest import ROOT, EntryMaker, LiveServer, free_port
from tlog.core import merkle, note
from tlog.tests.verify import sigstore_verify

pytestmark = pytest.mark.live


def _public_key_der(url: str) -> bytes:
    from cryptography.hazmat.primitives import serialization

    pem = requests.get(f"{url}/api/v1/log/publicKey", timeout=10).content
    return serialization.load_pem_public_key(pem).public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def test_upload_through_gunicorn_and_postgres(live_server_pg: LiveServer):
    url = live_server_pg.url
    entry, _ = EntryMaker().hashedrekord()
    r = requests.post(f"{url}/api/v1/log/entries", json=entry, timeout=30)
    assert r.status_code == 201, r.text
    sigstore_verify(r.json(), _public_key_der(url))
    bad = requests.post(
        f"{url}/api/v1/log/entries",
        data=b"x" * 200_000,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert bad.status_code == 413 and bad.json()["reason"] == "body_too_large"
    schema = requests.get(f"{url}/api/schema/", timeout=30)
    assert schema.status_code == 200 and b"/api/v1/log/entries" in schema.content


def _uploader(url: str, count: int, queue: Any) -> None:
    maker = EntryMaker()
    session = requests.Session()
    for _ in range(count):
        entry, _ = maker.hashedrekord()
        r = session.post(f"{url}/api/v1/log/entries", json=entry, timeout=60)
        queue.put((r.status_code, r.json()))


def test_concurrent_processes_get_consistent_proofs(live_server_pg: LiveServer):
    url = live_server_pg.url
    ctx = multiprocessing.get_context("spawn")
    queue = ctx.Queue()
    procs = [ctx.Process(target=_uploader, args=(url, 15, queue)) for _ in range(6)]
    for p in procs:
        p.start()
    results = [queue.get(timeout=300) for _ in range(6 * 15)]
    for p in procs:
        p.join(timeout=60)
    spki = _public_key_der(url)
    indexes = []
    checkpoints: dict[int, str] = {}
    for status, doc in results:
        assert status == 201, doc
        sigstore_verify(doc, spki)
        ((_, e),) = doc.items()
        indexes.append(e["logIndex"])
        proof = e["verification"]["inclusionProof"]
        checkpoints[proof["treeSize"]] = proof["rootHash"]
    assert len(set(indexes)) == len(indexes), "every entry has its own index"
    sizes = sorted(checkpoints)
    # Group commit: concurrent uploads share checkpoints.
    assert len(sizes) < len(results)
    for i, first in enumerate(sizes):
        for last in sizes[i + 1 :]:
            r = requests.get(
                f"{url}/api/v1/log/proof", params={"firstSize": first, "lastSize": last}, timeout=30
            )
            merkle.verify_consistency(
                first,
                last,
                [bytes.fromhex(h) for h in r.json()["hashes"]],
                bytes.fromhex(checkpoints[first]),
                bytes.fromhex(checkpoints[last]),
            )
    out = live_server_pg.manage("tlog_check")
    assert "FAILED" not in out.stdout


def _insert_pending(server: LiveServer) -> str:
    """Simulate a web worker that died after commit point 1: a pending entry."""
    code = (
        "from tlog.models import PendingEntry, Log; from tlog.core import merkle; import secrets;"
        'b = (\'{"orphan":"%s"}\' % secrets.token_hex(8)).encode();'
        "log = Log.objects.get(kind='rekor', state='active');"
        "PendingEntry.objects.create(log=log, leaf_hash=merkle.leaf_hash(b), body=b, kind='t',"
        " api_version='0'); print(merkle.leaf_hash(b).hex())"
    )
    return server.manage("shell", "--no-imports", "-c", code).stdout.strip().splitlines()[-1]


def _wait_integrated(url: str, leaf_hex: str, seconds: float) -> dict[str, Any]:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        r = requests.get(f"{url}/api/v1/log/entries/{leaf_hex}", timeout=10)
        if r.status_code == 200:
            return r.json()
        time.sleep(0.5)
    raise AssertionError(f"entry {leaf_hex} was not integrated within {seconds} s")


def test_celery_worker_and_beat_integrate_orphaned_entries(live_server_pg: LiveServer):
    redis_url = os.environ.get("REDIS_URL", "")
    if not redis_url.startswith("redis://"):
        pytest.skip("needs Redis: set REDIS_URL (make test does)")
    leaf = _insert_pending(live_server_pg)
    env = {**live_server_pg.env, "REDIS_URL": redis_url}
    log = open(live_server_pg.data_dir / "celery.log", "wb")
    worker = subprocess.Popen(
        [
            str(ROOT / "bin" / "sigportal"),
            "worker",
            "--beat",
            "--concurrency",
            "1",
            "--schedule",
            str(live_server_pg.data_dir / "beat-schedule"),
        ],
        cwd=ROOT,
        env=env,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        doc = _wait_integrated(live_server_pg.url, leaf, 60)
        assert next(iter(doc.values()))["verification"]["inclusionProof"]["checkpoint"]
    finally:
        worker.terminate()
        worker.wait(timeout=30)
        log.close()


def test_make_run_embedded_default(tmp_path: Path):
    """A newcomer's `make run`: SQLite, keys under the data dir, tasks in-process."""
    port = free_port()
    env = {
        k: v for k, v in os.environ.items() if k not in ("DATABASE_URL", "REDIS_URL", "MAKEFLAGS")
    }
    env.update(PORT=str(port), SIGPORTAL_DATA_DIR=str(tmp_path / "var"))
    out = open(tmp_path / "make-run.log", "wb")
    proc = subprocess.Popen(
        ["make", "run", f"VENV={Path(sys.executable).parent.parent}"],
        cwd=ROOT,
        env=env,
        stdout=out,
        stderr=subprocess.STDOUT,
        start_new_session=True,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 120
        while True:
            try:
                if requests.get(f"{url}/api/v1/log", timeout=2).status_code == 200:
                    break
            except requests.ConnectionError:
                pass
            assert proc.poll() is None and time.monotonic() < deadline, (
                tmp_path / "make-run.log"
            ).read_text()[-3000:]
            time.sleep(0.3)
        assert (tmp_path / "var" / "sigportal.sqlite3").exists()
        assert any((tmp_path / "var" / "keys").iterdir())
        entry, _ = EntryMaker().hashedrekord()
        r = requests.post(f"{url}/api/v1/log/entries", json=entry, timeout=30)
        assert r.status_code == 201, r.text
        doc = r.json()
        sigstore_verify(doc, _public_key_der(url))
        info = requests.get(f"{url}/api/v1/log", timeout=10).json()
        text = info["signedTreeHead"]
        assert text.splitlines()[0] == f"127.0.0.1:{port} - {info['treeID']}"
        assert "\n\n\u2014 " in text
        # The in-process beat integrates an entry orphaned by a dead worker.
        server = LiveServer(url, "", tmp_path / "var", env, proc)
        leaf = _insert_pending(server)
        _wait_integrated(url, leaf, 40)
        _readme_curl_flow(url, port, tmp_path, env)
        _sigstore_python_against(url, tmp_path, env)
        sig_line = text.rstrip("\n").splitlines()[-1]
        assert base64.b64decode(sig_line.split(" ")[2])[:4] == note.rekor_key_hint(
            _public_key_der(url)
        )
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
        out.close()


def _readme_curl_flow(url: str, port: int, tmp: Path, env: dict[str, str]) -> None:
    """Run README.md's "Try it" shell block as written (openssl + curl)."""
    readme = (ROOT / "README.md").read_text()
    block = readme.split("## Try it", 1)[1].split("```sh\n", 1)[1].split("```", 1)[0]
    script = block.replace("http://127.0.0.1:8000", url)
    work = tmp / "readme"
    work.mkdir()
    out = subprocess.run(
        ["bash", "-euo", "pipefail", "-c", script],
        cwd=work,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    doc = json.loads(out.stdout)
    sigstore_verify(doc, _public_key_der(url))


def _sigstore_python_against(url: str, tmp: Path, env: dict[str, str]) -> None:
    """A newcomer signs with sigstore-python against `make run` (the development
    identity provider is on in the embedded default)."""
    sigstore = str(Path(sys.executable).parent / "sigstore")
    config = tmp / "trust.json"
    config.write_text(requests.get(f"{url}/api/v1/trust/client_trust_config.json", timeout=30).text)
    token = (
        subprocess.run(
            [sys.executable, "manage.py", "devtoken", "newcomer@example.test"],
            cwd=ROOT,
            env=env,
            capture_output=True,
            text=True,
            check=True,
            timeout=60,
        )
        .stdout.strip()
        .splitlines()[-1]
    )
    artifact = tmp / "hello.txt"
    artifact.write_text("hello\n")
    for args in (
        ["sign", "--identity-token", token, str(artifact)],
        [
            "verify",
            "identity",
            "--cert-identity",
            "newcomer@example.test",
            "--cert-oidc-issuer",
            f"{url}/oauth",
            str(artifact),
        ],
    ):
        r = subprocess.run(
            [sigstore, "--trust-config", str(config), *args],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stderr[-3000:]
