"""sign-image and verify-image against a real OCI registry (Debian's docker-registry 2.8,
which has no referrers API) and a live sigportal, cross-checked with the sigstore CLI."""

from __future__ import annotations

import base64
import contextlib
import gzip
import hashlib
import io
import json
import os
import secrets
import subprocess
import sys
import tarfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import bcrypt
import pytest
import requests

from sigclient.cli import main
from sigportal.livetest import LiveServer, free_port

pytestmark = pytest.mark.live

REGISTRY_BIN = "/usr/bin/docker-registry"
SIGSTORE = str(Path(sys.executable).parent / "sigstore")
IDENTITY = "alice@example.test"
OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"


@pytest.fixture(scope="session")
def registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """docker-registry on a free loopback port with its own storage; yields host:port."""
    yield from _serve_registry(tmp_path_factory.mktemp("registry"), "")


@pytest.fixture(scope="module")
def private_registry(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A docker-registry that requires a user and password (HTTP Basic, htpasswd)."""
    root = tmp_path_factory.mktemp("private-registry")
    user, password = "ci", secrets.token_urlsafe(16)
    digest = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=4)).decode()
    (root / "htpasswd").write_text(f"{user}:{digest}\n")
    auth = f"auth:\n  htpasswd:\n    realm: sigclient-test\n    path: {root / 'htpasswd'}\n"
    for host in _serve_registry(root, auth):
        AUTH[host] = (user, password)
        yield host
        del AUTH[host]


def _serve_registry(root: Path, auth: str) -> Iterator[str]:
    if not Path(REGISTRY_BIN).exists():
        pytest.skip(f"{REGISTRY_BIN} is missing (scripts/install-system.sh installs it)")
    host = f"127.0.0.1:{free_port()}"
    config = root / "config.yml"
    config.write_text(
        "version: 0.1\n"
        "log:\n  level: warn\n"
        f"storage:\n  filesystem:\n    rootdirectory: {root / 'data'}\n"
        "  delete:\n    enabled: true\n"
        f"http:\n  addr: {host}\n  secret: sigclient-test-only\n" + auth
    )
    with open(root / "registry.log", "wb") as log:
        process = subprocess.Popen(
            [REGISTRY_BIN, "serve", str(config)], stdout=log, stderr=subprocess.STDOUT
        )
        try:
            _wait_for(f"http://{host}/v2/", process, root / "registry.log")
            yield host
        finally:
            process.terminate()
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_for(url: str, process: subprocess.Popen[bytes], log: Path) -> None:
    deadline = time.monotonic() + 30
    while True:
        with contextlib.suppress(requests.RequestException):
            if requests.get(url, timeout=2).status_code in (200, 401):
                return
        if process.poll() is not None or time.monotonic() > deadline:
            process.kill()
            raise RuntimeError(f"docker-registry did not start: {log.read_text()[-2000:]}")
        time.sleep(0.1)


@pytest.fixture(scope="module")
def env(
    live_server_pg: LiveServer,
    registry: str,
    tmp_path_factory: pytest.TempPathFactory,
) -> Iterator[dict[str, Any]]:
    work = tmp_path_factory.mktemp("images")
    token = live_server_pg.manage("devtoken", IDENTITY).stdout.strip().splitlines()[-1]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("DOCKER_CONFIG", str(work / "docker"))  # no credentials from the user
        yield {
            "url": live_server_pg.url,
            "issuer": f"{live_server_pg.url}/oauth",
            "token": token,
            "registry": registry,
            "work": work,
            "pins": work / "pins",
        }


def cli(env: dict[str, Any], *args: str) -> int:
    return main(["--instance", env["url"], "--pin-dir", str(env["pins"]), *args])


def sign(env: dict[str, Any], ref: str) -> int:
    return cli(env, "sign-image", ref, "--identity-token", env["token"])


def verify(env: dict[str, Any], ref: str, identity: str = IDENTITY) -> int:
    return cli(
        env, "verify-image", ref, "--cert-identity", identity, "--cert-oidc-issuer", env["issuer"]
    )


# --- a minimal registry client for the test's own pushes and inspections ---------------

# The user and password of each registry that requires them (the htpasswd registry).
AUTH: dict[str, tuple[str, str]] = {}


def push_blob(host: str, repo: str, data: bytes) -> dict[str, Any]:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    start = requests.post(
        f"http://{host}/v2/{repo}/blobs/uploads/", timeout=10, auth=AUTH.get(host)
    )
    assert start.status_code == 202, start.text
    location = requests.compat.urljoin(start.url, start.headers["Location"])
    done = requests.put(
        location, params={"digest": digest}, data=data, timeout=10, auth=AUTH.get(host)
    )
    assert done.status_code == 201, done.text
    return {"digest": digest, "size": len(data)}


def put_manifest(host: str, repo: str, ref: str, manifest: dict[str, Any]) -> str:
    raw = json.dumps(manifest).encode()
    r = requests.put(
        f"http://{host}/v2/{repo}/manifests/{ref}",
        data=raw,
        headers={"Content-Type": manifest["mediaType"]},
        timeout=10,
        auth=AUTH.get(host),
    )
    assert r.status_code == 201, r.text
    return "sha256:" + hashlib.sha256(raw).hexdigest()


def get_manifest(host: str, repo: str, ref: str) -> dict[str, Any]:
    r = requests.get(
        f"http://{host}/v2/{repo}/manifests/{ref}",
        headers={"Accept": f"{OCI_MANIFEST}, {OCI_INDEX}"},
        timeout=10,
        auth=AUTH.get(host),
    )
    assert r.status_code == 200, r.text
    return dict(r.json())


def get_blob(host: str, repo: str, digest: str) -> bytes:
    r = requests.get(f"http://{host}/v2/{repo}/blobs/{digest}", timeout=10, auth=AUTH.get(host))
    assert r.status_code == 200, r.text
    return r.content


def push_image(host: str, repo: str, tag: str, text: str) -> str:
    """Push a one-layer image (a gzipped tar holding one file); return its digest."""
    tar = io.BytesIO()
    with tarfile.open(fileobj=tar, mode="w") as archive:
        info = tarfile.TarInfo("hello.txt")
        info.size = len(text.encode())
        archive.addfile(info, io.BytesIO(text.encode()))
    layer = gzip.compress(tar.getvalue(), mtime=0)
    config = {
        "architecture": "amd64",
        "os": "linux",
        "config": {"Cmd": ["cat", "/hello.txt"]},
        "rootfs": {
            "type": "layers",
            "diff_ids": ["sha256:" + hashlib.sha256(tar.getvalue()).hexdigest()],
        },
    }
    config_desc = push_blob(host, repo, json.dumps(config).encode())
    layer_desc = push_blob(host, repo, layer)
    manifest = {
        "schemaVersion": 2,
        "mediaType": OCI_MANIFEST,
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", **config_desc},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", **layer_desc}],
    }
    return put_manifest(host, repo, tag, manifest)


def sig_tag(digest: str) -> str:
    return digest.replace(":", "-") + ".sig"


def index_tag(digest: str) -> str:
    return digest.replace(":", "-")


# --- the tests ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def app(env: dict[str, Any]) -> dict[str, Any]:
    """demo/app:v1, signed once."""
    host, repo = env["registry"], "demo/app"
    digest = push_image(host, repo, "v1", "hello from v1\n")
    out = io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(io.StringIO()):
        assert sign(env, f"{host}/{repo}:v1") == 0
    return {"host": host, "repo": repo, "ref": f"{host}/{repo}:v1", "digest": digest, "out": out}


def test_sign_image_signs_the_digest_both_ways(app):
    lines = app["out"].getvalue().splitlines()
    name = f"{app['host']}/{app['repo']}"
    assert lines[0].startswith(f"signed {name}@{app['digest']} (log index ")
    assert lines[1] == f"cosign signature: {name}:{sig_tag(app['digest'])}"
    assert lines[2].startswith(f"OCI referrer: {name}@sha256:")
    assert lines[2].endswith(f"(listed in the tag {index_tag(app['digest'])})")


def test_verify_image_finds_and_verifies_both_forms(env, app, capsys):
    assert verify(env, app["ref"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{app['host']}/{app['repo']}@{app['digest']}"
    assert out[1].startswith("OK: OCI referrer sha256:")
    assert out[2] == (
        f"OK: cosign signature {app['host']}/{app['repo']}:{sig_tag(app['digest'])} layer 1"
    )


def test_cosign_form_is_what_cosign_writes(app):
    host, repo, digest = app["host"], app["repo"], app["digest"]
    manifest = get_manifest(host, repo, sig_tag(digest))
    [layer] = manifest["layers"]
    assert layer["mediaType"] == SIMPLE_SIGNING
    payload = json.loads(get_blob(host, repo, layer["digest"]))
    assert payload == {
        "critical": {
            "identity": {"docker-reference": f"{host}/{repo}"},
            "image": {"docker-manifest-digest": digest},
            "type": "cosign container image signature",
        },
        "optional": None,
    }
    notes = layer["annotations"]
    assert base64.b64decode(notes["dev.cosignproject.cosign/signature"])
    assert notes["dev.sigstore.cosign/certificate"].startswith("-----BEGIN CERTIFICATE-----")
    assert notes["dev.sigstore.cosign/chain"].startswith("-----BEGIN CERTIFICATE-----")
    rekor = json.loads(notes["dev.sigstore.cosign/bundle"])
    assert set(rekor) == {"SignedEntryTimestamp", "Payload"}
    assert set(rekor["Payload"]) == {"body", "integratedTime", "logIndex", "logID"}
    assert json.loads(base64.b64decode(rekor["Payload"]["body"]))["kind"] == "hashedrekord"
    config = json.loads(get_blob(host, repo, manifest["config"]["digest"]))
    assert config["rootfs"]["diff_ids"] == [layer["digest"]]


def test_referrer_is_listed_in_the_fallback_index(app):
    host, repo, digest = app["host"], app["repo"], app["digest"]
    index = get_manifest(host, repo, index_tag(digest))
    assert index["mediaType"] == OCI_INDEX
    [entry] = index["manifests"]
    assert entry["artifactType"] == BUNDLE_TYPE
    assert entry["annotations"]["dev.sigstore.bundle.content"] == "message-signature"
    referrer = get_manifest(host, repo, entry["digest"])
    assert referrer["subject"]["digest"] == digest
    assert referrer["artifactType"] == BUNDLE_TYPE
    assert [layer["mediaType"] for layer in referrer["layers"]] == [BUNDLE_TYPE]


def test_referrer_bundle_verifies_with_the_real_sigstore_cli(env, app):
    host, repo = app["host"], app["repo"]
    entry = get_manifest(host, repo, index_tag(app["digest"]))["manifests"][0]
    referrer = get_manifest(host, repo, entry["digest"])
    payload = env["work"] / "payload.json"
    payload.write_bytes(get_blob(host, repo, referrer["config"]["digest"]))
    bundle = env["work"] / "payload.json.sigstore.json"
    bundle.write_bytes(get_blob(host, repo, referrer["layers"][0]["digest"]))
    config = env["pins"] / f"127.0.0.1_{env['url'].rsplit(':', 1)[1]}.json"
    r = subprocess.run(
        [
            SIGSTORE,
            "--trust-config",
            str(config),
            "verify",
            "identity",
            "--offline",
            "--cert-identity",
            IDENTITY,
            "--cert-oidc-issuer",
            env["issuer"],
            "--bundle",
            str(bundle),
            str(payload),
        ],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert r.returncode == 0, r.stderr[-3000:]


def test_wrong_identity_fails(env, app, capsys):
    assert verify(env, app["ref"], "mallory@example.test") == 1
    err = capsys.readouterr().err
    assert f"error: no valid signature for {app['ref']} ({app['digest']})" in err
    assert "OCI referrer sha256:" in err and "cosign signature" in err


def test_a_moved_tag_fails(env, capsys):
    host, repo = env["registry"], "demo/moving"
    signed = push_image(host, repo, "prod", "the reviewed build\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert sign(env, f"{host}/{repo}:prod") == 0
        assert verify(env, f"{host}/{repo}:prod") == 0
    other = push_image(host, repo, "prod", "something else\n")  # the tag moves
    capsys.readouterr()
    assert verify(env, f"{host}/{repo}:prod") == 1
    assert f"error: no signatures found for {host}/{repo}:prod ({other})" in capsys.readouterr().err
    assert verify(env, f"{host}/{repo}@{signed}") == 0  # the signed digest still verifies


def test_signatures_copied_to_another_digest_fail(env, app, capsys):
    """Copy both forms of app's signature onto another image: each must be refused."""
    host, repo, signed = app["host"], app["repo"], app["digest"]
    other = push_image(host, repo, "v2", "hello from v2\n")
    put_manifest(host, repo, sig_tag(other), get_manifest(host, repo, sig_tag(signed)))
    index = get_manifest(host, repo, index_tag(signed))
    referrer = get_manifest(host, repo, index["manifests"][0]["digest"])
    referrer["subject"]["digest"] = other  # the subject is not what is signed
    moved = put_manifest(host, repo, "copied-referrer", referrer)
    index["manifests"][0]["digest"] = moved
    index["manifests"][0]["size"] = len(json.dumps(referrer).encode())
    put_manifest(host, repo, index_tag(other), index)
    assert verify(env, f"{host}/{repo}:v2") == 1
    err = capsys.readouterr().err
    assert err.count(f"it signs {signed}, not {other}") == 2, err


def test_signing_again_appends_to_both_forms(env, capsys):
    host, repo = env["registry"], "demo/twice"
    digest = push_image(host, repo, "v1", "signed twice\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert sign(env, f"{host}/{repo}:v1") == 0
        assert sign(env, f"{host}/{repo}@{digest}") == 0
    assert len(get_manifest(host, repo, sig_tag(digest))["layers"]) == 2
    assert len(get_manifest(host, repo, index_tag(digest))["manifests"]) == 2
    assert verify(env, f"{host}/{repo}:v1") == 0
    assert capsys.readouterr().out.count("OK: ") == 4


def test_a_swapped_signature_fails(env, app, capsys):
    """Another image's signature in the cosign annotation is refused; with the referrer
    gone too, nothing verifies."""
    host, repo = env["registry"], "demo/swapped"
    digest = push_image(host, repo, "v1", "to be tampered with\n")
    with contextlib.redirect_stdout(io.StringIO()):
        assert sign(env, f"{host}/{repo}:v1") == 0
    manifest = get_manifest(host, repo, sig_tag(digest))
    theirs = get_manifest(app["host"], app["repo"], sig_tag(app["digest"]))["layers"][0]
    key = "dev.cosignproject.cosign/signature"
    manifest["layers"][0]["annotations"][key] = theirs["annotations"][key]
    put_manifest(host, repo, sig_tag(digest), manifest)
    assert verify(env, f"{host}/{repo}:v1") == 0  # the referrer still verifies
    captured = capsys.readouterr()
    assert "OK: cosign" not in captured.out
    assert f"ignored: cosign signature {host}/{repo}:{sig_tag(digest)} layer 1: " in captured.err
    empty = {"schemaVersion": 2, "mediaType": OCI_INDEX, "manifests": []}
    put_manifest(host, repo, index_tag(digest), empty)
    assert verify(env, f"{host}/{repo}:v1") == 1
    assert "error: no valid signature for" in capsys.readouterr().err


def test_missing_image_and_unreachable_registry_are_errors(env, capsys):
    assert verify(env, f"{env['registry']}/demo/nothing:v1") == 2
    assert "was not found in the registry" in capsys.readouterr().err
    assert verify(env, f"127.0.0.1:{free_port()}/demo/app:v1") == 2
    assert "cannot reach the registry" in capsys.readouterr().err


# --- a registry that requires credentials ----------------------------------------------


def _docker_config(env: dict[str, Any], config: dict[str, Any]) -> None:
    directory = Path(os.environ["DOCKER_CONFIG"])
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "config.json").write_text(json.dumps(config))


@pytest.fixture
def docker_config(env: dict[str, Any]) -> Iterator[Any]:
    """Write the Docker config sigclient reads; removed after the test."""
    yield lambda config: _docker_config(env, config)
    (Path(os.environ["DOCKER_CONFIG"]) / "config.json").unlink(missing_ok=True)


def test_a_private_registry_needs_credentials(env, private_registry, docker_config, capsys):
    push_image(private_registry, "team/app", "v1", "private\n")
    ref = f"{private_registry}/team/app:v1"
    assert sign(env, ref) == 2
    err = capsys.readouterr().err
    assert f"the registry {private_registry} requires authentication" in err
    assert f"docker login {private_registry}" in err
    docker_config({"auths": {private_registry: {"auth": base64.b64encode(b"ci:wrong").decode()}}})
    assert sign(env, ref) == 2
    assert "failed with HTTP 401" in capsys.readouterr().err


def test_the_auths_entry_of_the_docker_config_signs_and_verifies(
    env, private_registry, docker_config, capsys
):
    digest = push_image(private_registry, "team/auths", "v1", "private auths\n")
    user, password = AUTH[private_registry]
    auth = base64.b64encode(f"{user}:{password}".encode()).decode()
    docker_config({"auths": {private_registry: {"auth": auth}}})
    ref = f"{private_registry}/team/auths:v1"
    assert sign(env, ref) == 0
    capsys.readouterr()
    assert verify(env, ref) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0] == f"{private_registry}/team/auths@{digest}"
    assert [line.split(" ")[0] for line in out[1:]] == ["OK:", "OK:"]
    assert get_manifest(private_registry, "team/auths", sig_tag(digest))["layers"]


def _helper(bin_dir: Path, name: str, script: str) -> None:
    path = bin_dir / f"docker-credential-{name}"
    path.write_text(f"#!{sys.executable}\n{script}")
    path.chmod(0o755)


def test_a_credential_helper_signs_and_verifies(
    env, private_registry, docker_config, tmp_path, monkeypatch, capsys
):
    """The docker credential helper protocol: `docker-credential-<name> get`, the server
    on stdin, {"Username", "Secret"} on stdout; "credentials not found" when it has none."""
    user, password = AUTH[private_registry]
    asked = tmp_path / "asked"
    _helper(
        tmp_path,
        "sptest",
        "import json, sys\n"
        "assert sys.argv[1:] == ['get'], sys.argv\n"
        "server = sys.stdin.read().strip()\n"
        f"open({str(asked)!r}, 'a').write(server + '\\n')\n"
        f"if server != {private_registry!r}:\n"
        "    print('credentials not found in native keychain'); sys.exit(1)\n"
        f"answer = {{'ServerURL': server, 'Username': {user!r}, 'Secret': {password!r}}}\n"
        "print(json.dumps(answer))\n",
    )
    _helper(
        tmp_path,
        "empty",
        "print('credentials not found in native keychain')\nraise SystemExit(1)\n",
    )
    monkeypatch.setenv("PATH", f"{tmp_path}:{os.environ['PATH']}")
    digest = push_image(private_registry, "team/helper", "v1", "private helper\n")
    ref = f"{private_registry}/team/helper:v1"

    docker_config({"credHelpers": {private_registry: "sptest"}, "credsStore": "empty"})
    assert sign(env, ref) == 0
    capsys.readouterr()
    assert verify(env, ref) == 0
    assert capsys.readouterr().out.splitlines()[0] == f"{private_registry}/team/helper@{digest}"
    assert asked.read_text().splitlines()[0] == private_registry
    # A public registry never asks: no helper runs for it.
    calls = len(asked.read_text().splitlines())
    assert verify(env, app_ref(env)) in (0, 1)
    assert len(asked.read_text().splitlines()) == calls

    docker_config({"credsStore": "sptest"})  # the store for every registry
    assert verify(env, ref) == 0
    docker_config({"credsStore": "empty", "auths": {private_registry: {}}})
    assert verify(env, ref) == 2
    assert "requires authentication" in capsys.readouterr().err
    docker_config({"credsStore": "missing"})
    assert verify(env, ref) == 2
    assert "docker-credential-missing, which is not installed" in capsys.readouterr().err


def app_ref(env: dict[str, Any]) -> str:
    """An image in the anonymous registry, pushed if it is not there yet."""
    push_image(env["registry"], "demo/public", "v1", "public\n")
    return f"{env['registry']}/demo/public:v1"
