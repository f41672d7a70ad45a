"""sigclient against a live sigportal (gunicorn + PostgreSQL), cross-checked with the real
sigstore-python CLI."""

from __future__ import annotations

import base64
import contextlib
import io
import json
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from sigclient.cli import main
from sigportal.livetest import ROOT, LiveServer

pytestmark = pytest.mark.live

SIGSTORE = str(Path(sys.executable).parent / "sigstore")
IDENTITY = "alice@example.test"
PREDICATE_TYPE = "https://slsa.dev/provenance/v1"


@pytest.fixture(scope="module")
def env(live_server_pg: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("sigclient")
    url = live_server_pg.url
    token = live_server_pg.manage("devtoken", IDENTITY).stdout.strip().splitlines()[-1]
    files = []
    for i in range(3):
        f = work / f"file{i}.txt"
        f.write_text(f"artifact number {i}\n")
        files.append(f)
    return {
        "url": url,
        "issuer": f"{url}/oauth",
        "token": token,
        "work": work,
        "pins": work / "pins",
        "files": files,
    }


def cli(env: dict[str, Any], *args: str) -> int:
    return main(["--instance", env["url"], "--pin-dir", str(env["pins"]), *args])


def policy(env: dict[str, Any], identity: str = IDENTITY) -> list[str]:
    return ["--cert-identity", identity, "--cert-oidc-issuer", env["issuer"]]


@pytest.fixture(scope="module")
def signed(env: dict[str, Any]) -> list[Path]:
    files = [str(f) for f in env["files"]]
    err = io.StringIO()
    with contextlib.redirect_stderr(err):
        assert cli(env, "sign", "--identity-token", env["token"], *files) == 0
    env["sign_stderr"] = err.getvalue()
    return [f.with_name(f.name + ".sigstore.json") for f in env["files"]]


def leaf(bundle: Path) -> bytes:
    """The DER of a bundle's leaf (signing) certificate."""
    material = json.loads(bundle.read_text())["verificationMaterial"]
    cert = material.get("certificate") or material["x509CertificateChain"]["certificates"][0]
    return base64.b64decode(cert["rawBytes"])


def log_index(bundle: Path) -> str:
    return json.loads(bundle.read_text())["verificationMaterial"]["tlogEntries"][0]["logIndex"]


def test_sign_many_files_under_one_certificate(env, signed, capsys):
    assert {leaf(b) for b in signed} == {leaf(signed[0])}
    assert (
        len(
            {
                json.loads(b.read_text())["verificationMaterial"]["tlogEntries"][0]["logIndex"]
                for b in signed
            }
        )
        == 3
    )
    assert cli(env, "verify", *map(str, env["files"]), *policy(env)) == 0
    assert capsys.readouterr().out.count("OK: ") == 3


def test_bundles_verify_with_the_real_sigstore_cli(env, signed):
    config = env["pins"] / f"127.0.0.1_{env['url'].rsplit(':', 1)[1]}.json"
    for artifact, bundle in zip(env["files"], signed, strict=True):
        r = subprocess.run(
            [
                SIGSTORE,
                "--trust-config",
                str(config),
                "verify",
                "identity",
                "--cert-identity",
                IDENTITY,
                "--cert-oidc-issuer",
                env["issuer"],
                "--bundle",
                str(bundle),
                str(artifact),
            ],
            capture_output=True,
            text=True,
            timeout=120,
            check=False,
        )
        assert r.returncode == 0, r.stderr[-3000:]


def test_tampered_file_fails_naming_the_file(env, signed, capsys):
    tampered = env["work"] / "tampered.txt"
    tampered.write_text(env["files"][1].read_text() + "!")
    args = [
        str(env["files"][0]),
        str(tampered),
        "--bundle",
        str(signed[0]),
        "--bundle",
        str(signed[1]),
    ]
    assert cli(env, "verify", *args, *policy(env)) == 1
    err = capsys.readouterr().err
    assert "1 of 2 file(s) failed verification" in err and str(tampered) in err


def test_wrong_identity_fails(env, signed, capsys):
    assert cli(env, "verify", str(env["files"][0]), *policy(env, "mallory@example.test")) == 1
    assert "error: " in capsys.readouterr().err


def test_attest_and_verify_attestation(env, capsys):
    artifact, other = env["files"][0], env["files"][2]
    predicate = env["work"] / "predicate.json"
    predicate.write_text(json.dumps({"buildDefinition": {"buildType": "https://x.test/b"}}))
    bundle = env["work"] / "file0.att.json"
    args = ["--predicate", str(predicate), "--type", PREDICATE_TYPE, "--bundle", str(bundle)]
    assert cli(env, "attest", str(artifact), "--identity-token", env["token"], *args) == 0
    verify = ["--bundle", str(bundle), *policy(env)]
    assert cli(env, "verify-attestation", str(artifact), *verify, "--type", PREDICATE_TYPE) == 0
    capsys.readouterr()
    assert cli(env, "verify-attestation", str(other), *verify) == 1
    assert "not about this file" in capsys.readouterr().err
    assert (
        cli(env, "verify-attestation", str(artifact), *verify, "--type", "https://x.test/other")
        == 1
    )
    assert "predicate type is" in capsys.readouterr().err


def test_python_dash_m_sigclient(env, signed):
    r = subprocess.run(
        [
            sys.executable,
            "-m",
            "sigclient",
            "--instance",
            env["url"],
            "--pin-dir",
            str(env["pins"]),
            "verify",
            str(env["files"][2]),
            *policy(env),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=ROOT,
        env={**os.environ, "PYTHONPATH": str(ROOT)},
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.strip() == f"OK: {env['files'][2]}"
