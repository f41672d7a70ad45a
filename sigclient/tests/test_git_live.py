"""Real git (gpg.format=x509, gpg.x509.program = sigclient git) signing and verifying
commits against a live sigportal (gunicorn + PostgreSQL)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import requests

from sigclient.git import split_signed_commit
from sigportal.livetest import LiveServer

pytestmark = pytest.mark.live

SIGCLIENT = str(Path(sys.executable).parent / "sigclient")
IDENTITY = "gitter@example.test"


@pytest.fixture(scope="module")
def repo(live_server_pg: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    home = tmp_path_factory.mktemp("githome")
    wrapper = home / "sigclient-git"
    wrapper.write_text(f'#!/bin/sh\nexec "{SIGCLIENT}" git "$@"\n')
    wrapper.chmod(0o755)
    token = live_server_pg.manage("devtoken", IDENTITY).stdout.strip().splitlines()[-1]
    env = {
        "PATH": os.environ["PATH"],
        "HOME": str(home),
        "LANG": "C",
        "GIT_CONFIG_NOSYSTEM": "1",
        "SIGSTORE_ID_TOKEN": token,
        "SIGCLIENT_INSTANCE": live_server_pg.url,
    }
    work = home / "work"
    work.mkdir()
    r = {"url": live_server_pg.url, "issuer": f"{live_server_pg.url}/oauth", "env": env}
    r["dir"] = work
    git(r, "init", "-q", "-b", "main")
    git(r, "config", "user.name", "Git Ter")
    git(r, "config", "user.email", IDENTITY)
    git(r, "config", "gpg.format", "x509")
    git(r, "config", "gpg.x509.program", str(wrapper))
    (work / "README").write_text("hello\n")
    git(r, "add", "README")
    r["commit"] = git(r, "commit", "-S", "-m", "a signed commit")
    return r


def git(r: dict[str, Any], *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(
        ["git", *args],
        cwd=r["dir"],
        env=r["env"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )
    if check:
        assert done.returncode == 0, done.stdout + done.stderr
    return done


def sigclient(r: dict[str, Any], *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SIGCLIENT, *args],
        cwd=r["dir"],
        env=r["env"],
        capture_output=True,
        text=True,
        timeout=180,
        check=False,
    )


def policy(r: dict[str, Any], identity: str = IDENTITY) -> list[str]:
    return ["--cert-identity", identity, "--cert-oidc-issuer", r["issuer"]]


def raw_commit(r: dict[str, Any], rev: str = "HEAD") -> bytes:
    return subprocess.run(
        ["git", "cat-file", "commit", rev], cwd=r["dir"], env=r["env"], capture_output=True
    ).stdout


def test_commit_carries_a_cms_signature(repo):
    payload, signature = split_signed_commit(raw_commit(repo))
    assert signature is not None
    assert signature.startswith(b"-----BEGIN SIGNED MESSAGE-----\n")
    assert b"a signed commit" in payload


def test_git_verify_commit(repo):
    done = git(repo, "verify-commit", "HEAD")
    assert f"sigclient: Good signature from {IDENTITY}" in done.stderr
    assert "no identity policy" in done.stderr  # none configured in this repository


def test_git_log_show_signature(repo):
    out = git(repo, "log", "--show-signature", "-1").stdout
    assert f"sigclient: Good signature from {IDENTITY} (issuer {repo['issuer']})" in out
    assert "transparency log index" in out
    assert git(repo, "log", "-1", "--format=%G? %GS").stdout.strip() == f"G {IDENTITY}"


def test_git_config_policy(repo):
    policy_args = [
        "-c",
        f"sigclient.identity={IDENTITY}",
        "-c",
        f"sigclient.issuer={repo['issuer']}",
    ]
    done = git(repo, *policy_args, "verify-commit", "HEAD")
    assert "no identity policy" not in done.stderr
    wrong = ["-c", "sigclient.identity=mallory@example.test", *policy_args[2:]]
    done = git(repo, *wrong, "verify-commit", "HEAD", check=False)
    assert done.returncode != 0
    assert "error: the log entry for this signature does not verify" in done.stderr


def test_sigclient_verify_commit(repo):
    done = sigclient(repo, "verify-commit", "HEAD", *policy(repo))
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == f"OK: HEAD signed by {IDENTITY} (issuer {repo['issuer']})"


def test_wrong_identity_fails(repo):
    done = sigclient(repo, "verify-commit", "HEAD", *policy(repo, "mallory@example.test"))
    assert done.returncode == 1, done.stderr
    assert "error: " in done.stderr


def test_tampered_commit_keeping_the_signature_fails(repo):
    forged = raw_commit(repo).replace(b"a signed commit", b"a forged commit")
    sha = (
        subprocess.run(
            ["git", "hash-object", "-w", "-t", "commit", "--stdin"],
            cwd=repo["dir"],
            env=repo["env"],
            input=forged,
            capture_output=True,
            check=True,
        )
        .stdout.decode()
        .strip()
    )
    done = sigclient(repo, "verify-commit", sha, *policy(repo))
    assert done.returncode == 1, done.stderr
    assert "bad signature" in done.stderr and "does not match" in done.stderr
    done = git(repo, "verify-commit", sha, check=False)
    assert done.returncode != 0
    assert "Good signature" not in done.stderr


def test_unsigned_commit_fails(repo):
    git(repo, "commit", "--allow-empty", "-q", "-m", "unsigned")
    try:
        done = sigclient(repo, "verify-commit", "HEAD", *policy(repo))
        assert done.returncode == 1 and "is not signed" in done.stderr
    finally:
        git(repo, "reset", "-q", "--hard", "HEAD~1")


def test_the_log_holds_the_entry(repo):
    payload, _ = split_signed_commit(raw_commit(repo))
    digest = hashlib.sha256(payload).hexdigest()
    found = requests.post(
        f"{repo['url']}/api/v1/index/retrieve", json={"hash": f"sha256:{digest}"}, timeout=30
    )
    assert found.status_code == 200 and len(found.json()) == 1
    entry = requests.get(f"{repo['url']}/api/v1/log/entries/{found.json()[0]}", timeout=30).json()
    body = json.loads(base64.b64decode(next(iter(entry.values()))["body"]))
    assert body["kind"] == "hashedrekord"
    assert body["spec"]["data"]["hash"] == {"algorithm": "sha256", "value": digest}


def test_instance_from_git_config(repo):
    env = {k: v for k, v in repo["env"].items() if k != "SIGCLIENT_INSTANCE"}
    bare = {**repo, "env": env}
    assert git(bare, "verify-commit", "HEAD", check=False).returncode != 0  # no instance at all
    git(bare, "config", "sigclient.instance", repo["url"])
    try:
        assert "Good signature" in git(bare, "verify-commit", "HEAD").stderr
        assert sigclient(bare, "verify-commit", "HEAD", *policy(repo)).returncode == 0
    finally:
        git(bare, "config", "--unset", "sigclient.instance")
