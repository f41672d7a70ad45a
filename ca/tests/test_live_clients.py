"""The real Sigstore clients against a live instance (gunicorn + PostgreSQL), given only
its published trust configuration: sigstore-python 4.5.1's CLI and sigstore-js 4.1.1
(interop/js), each signing, and each verifying the other's bundles."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import requests

from sigportal.livetest import ROOT, LiveServer

pytestmark = pytest.mark.live

SIGSTORE = str(Path(sys.executable).parent / "sigstore")
JS = ROOT / "interop" / "js"
IDENTITY = "alice@example.test"


def run(*args: str, timeout: int = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, capture_output=True, text=True, timeout=timeout, check=False)


@pytest.fixture(scope="module")
def instance(live_server_pg: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict:
    work = tmp_path_factory.mktemp("clients")
    url = live_server_pg.url
    config = work / "client_trust_config.json"
    config.write_text(requests.get(f"{url}/api/v1/trust/client_trust_config.json", timeout=30).text)
    root = work / "trusted_root.json"
    root.write_text(json.dumps(json.loads(config.read_text())["trustedRoot"]))
    return {"url": url, "config": config, "root": root, "work": work, "issuer": f"{url}/oauth"}


def token(server: LiveServer, email: str = IDENTITY) -> str:
    return server.manage("devtoken", email).stdout.strip().splitlines()[-1]


def py_sign(instance: dict, jwt: str, artifact: Path, bundle: Path) -> None:
    r = run(
        SIGSTORE,
        "--trust-config",
        str(instance["config"]),
        "sign",
        "--identity-token",
        jwt,
        "--bundle",
        str(bundle),
        str(artifact),
    )
    assert r.returncode == 0, r.stderr[-3000:]


def py_verify(
    instance: dict,
    artifact: Path,
    bundle: Path,
    *,
    identity: str = IDENTITY,
    issuer: str | None = None,
) -> subprocess.CompletedProcess[str]:
    return run(
        SIGSTORE,
        "--trust-config",
        str(instance["config"]),
        "verify",
        "identity",
        "--cert-identity",
        identity,
        "--cert-oidc-issuer",
        issuer or instance["issuer"],
        "--bundle",
        str(bundle),
        str(artifact),
    )


def js_verify(
    instance: dict, bundle: Path, artifact: Path | None = None, *, identity: str = IDENTITY
) -> subprocess.CompletedProcess[str]:
    args = [
        "node",
        str(JS / "verify.mjs"),
        "--trusted-root",
        str(instance["root"]),
        "--bundle",
        str(bundle),
        "--identity-email",
        identity,
        "--issuer",
        instance["issuer"],
    ]
    if artifact:
        args += ["--artifact", str(artifact)]
    return run(*args)


@pytest.fixture(scope="module")
def py_bundle(instance: dict, live_server_pg: LiveServer) -> tuple[Path, Path]:
    artifact = instance["work"] / "artifact.txt"
    artifact.write_text("hello from sigstore-python\n")
    bundle = instance["work"] / "artifact.txt.sigstore.json"
    py_sign(instance, token(live_server_pg), artifact, bundle)
    return artifact, bundle


def test_sigstore_python_signs_and_verifies(instance, py_bundle):
    artifact, bundle = py_bundle
    r = py_verify(instance, artifact, bundle)
    assert r.returncode == 0, r.stderr[-3000:]
    doc = json.loads(bundle.read_text())
    assert int(doc["verificationMaterial"]["tlogEntries"][0]["logIndex"]) >= 1


def test_sigstore_python_rejects_tampering_and_wrong_policy(instance, py_bundle):
    artifact, bundle = py_bundle
    tampered = instance["work"] / "tampered.txt"
    tampered.write_text(artifact.read_text() + "!")
    shutil.copy(bundle, instance["work"] / "tampered.txt.sigstore.json")
    assert py_verify(instance, tampered, bundle).returncode != 0
    assert py_verify(instance, artifact, bundle, identity="mallory@example.test").returncode != 0
    assert py_verify(instance, artifact, bundle, issuer="https://other.example").returncode != 0


def test_sigstore_python_attest_dsse(instance, live_server_pg):
    artifact = instance["work"] / "build.tar"
    artifact.write_bytes(b"pretend build output")
    predicate = instance["work"] / "predicate.json"
    predicate.write_text(
        json.dumps(
            {
                "buildDefinition": {
                    "buildType": "https://sigportal.example.test/build/v1",
                    "externalParameters": {},
                },
                "runDetails": {"builder": {"id": "https://sigportal.example.test/builder"}},
            }
        )
    )
    bundle = instance["work"] / "build.tar.sigstore.json"
    r = run(
        SIGSTORE,
        "--trust-config",
        str(instance["config"]),
        "attest",
        "--identity-token",
        token(live_server_pg),
        "--predicate",
        str(predicate),
        "--predicate-type",
        "https://slsa.dev/provenance/v1",
        "--bundle",
        str(bundle),
        str(artifact),
    )
    assert r.returncode == 0, r.stderr[-3000:]
    assert py_verify(instance, artifact, bundle).returncode == 0
    assert js_verify(instance, bundle).returncode == 0
    other = instance["work"] / "other.tar"
    other.write_bytes(b"something else")
    assert py_verify(instance, other, bundle).returncode != 0


def test_sigstore_js_verifies_a_python_bundle(instance, py_bundle):
    artifact, bundle = py_bundle
    r = js_verify(instance, bundle, artifact)
    assert r.returncode == 0, r.stderr[-3000:]
    assert js_verify(instance, bundle, artifact, identity="mallory@example.test").returncode != 0


@pytest.mark.parametrize("attest", [False, True])
def test_sigstore_js_signs_and_python_verifies(instance, live_server_pg, attest):
    artifact = instance["work"] / f"js-{attest}.txt"
    artifact.write_text(json.dumps({"hello": "from sigstore-js"}) if attest else "hello js\n")
    bundle = instance["work"] / f"js-{attest}.sigstore.json"
    args = [
        "node",
        str(JS / "sign.mjs"),
        "--fulcio-url",
        instance["url"],
        "--rekor-url",
        instance["url"],
        "--token",
        token(live_server_pg),
        "--artifact",
        str(artifact),
        "--bundle",
        str(bundle),
    ]
    if attest:
        args += ["--attest", "--payload-type", "application/json"]
    r = run(*args)
    assert r.returncode == 0, r.stderr[-3000:]
    assert js_verify(instance, bundle, artifact).returncode == 0
    if not attest:  # sigstore-python verifies message signatures against the artifact
        r = py_verify(instance, artifact, bundle)
        assert r.returncode == 0, r.stderr[-3000:]
