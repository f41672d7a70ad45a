"""`sigclient check` end to end: a project's allow-list on a live instance, signatures by
a trusted and an untrusted identity, found in the log by digest or given as bundles,
online and offline, and a revocation."""

from __future__ import annotations

import contextlib
import io
import json
from pathlib import Path
from typing import Any

import pytest
import requests

from sigclient.cli import main
from sigportal.livetest import LiveServer

pytestmark = pytest.mark.live

OWNER = "owner@example.test"
ALICE = "alice@example.test"  # on the allow-list
MALLORY = "mallory@example.test"  # not on it

_MAKE_OWNER = """
from django.contrib.auth.models import User
from accounts.models import Identity
from accounts.services import api_token_create
user = User.objects.create(username="check-owner")
Identity.objects.create(user=user, issuer="{issuer}", subject="owner", email="{email}")
print(api_token_create(user=user, name="ci")[1])
"""


def _token(live: LiveServer, email: str) -> str:
    return live.manage("devtoken", email).stdout.strip().splitlines()[-1]


def run(env: dict[str, Any], *args: str, instance: bool = True) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    trust = ["--instance", env["url"]] if instance else ["--trust-config", str(env["config"])]
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main([*trust, "--pin-dir", str(env["pins"]), *args])
    return code, out.getvalue(), err.getvalue()


@pytest.fixture(scope="module")
def env(live_server_pg: LiveServer, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    work = tmp_path_factory.mktemp("check")
    url = live_server_pg.url
    issuer = f"{url}/oauth"
    script = _MAKE_OWNER.format(issuer=issuer, email=OWNER)
    api_token = live_server_pg.manage("shell", "-c", script).stdout.strip().splitlines()[-1]
    api = requests.Session()
    api.headers["Authorization"] = f"Bearer {api_token}"
    r = api.post(f"{url}/api/v1/projects", json={"slug": "widget", "name": "Widget"}, timeout=30)
    assert r.status_code == 201, r.text
    r = api.post(
        f"{url}/api/v1/projects/widget/signers",
        json={"issuer": issuer, "identity": ALICE, "match": "exact", "note": "release manager"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    artifact = work / "widget-1.0.tar.gz"
    artifact.write_bytes(b"release 1.0\n" * 100)
    env: dict[str, Any] = {"url": url, "issuer": issuer, "api": api, "pins": work / "pins"}
    env["artifact"] = artifact
    for who, email in (("alice", ALICE), ("mallory", MALLORY)):
        bundle = work / f"{who}.sigstore.json"
        code, _, err = run(
            env,
            "sign",
            "--identity-token",
            _token(live_server_pg, email),
            "--bundle",
            str(bundle),
            str(artifact),
        )
        assert code == 0, err
        env[who] = bundle
    env["config"] = next((work / "pins").glob("127.0.0.1_*.json"))
    return env


def test_online_check_finds_the_trusted_signature_in_the_log(env: dict[str, Any]) -> None:
    code, out, err = run(env, "check", str(env["artifact"]), "--project", "widget")
    assert code == 0, err
    assert out.startswith(f"ALLOWED {env['artifact']}: signed by {ALICE}")


def test_json_reports_every_signature_found(env: dict[str, Any]) -> None:
    args = ("check", str(env["artifact"]), "--project", "widget", "--format", "json")
    code, out, _ = run(env, *args)
    result = json.loads(out)
    assert code == 0 and result["allowed"] and result["verdict"] == "trusted"
    verdicts = {c["signer"]["identity"]: c["verdict"] for c in result["candidates"]}
    assert verdicts == {ALICE: "trusted", MALLORY: "untrusted"}


def test_a_bundle_by_an_identity_not_on_the_list_is_denied(env: dict[str, Any]) -> None:
    args = ("check", str(env["artifact"]), "--project", "widget", "--bundle", str(env["mallory"]))
    code, out, _ = run(env, *args)
    assert code == 1
    assert out.startswith(f"DENIED {env['artifact']} for project widget")
    assert MALLORY in out


def test_offline_check_with_a_saved_policy(env: dict[str, Any], tmp_path: Path) -> None:
    policy = tmp_path / "policy.json"
    policy.write_bytes(
        requests.get(f"{env['url']}/api/v1/projects/widget/policy", timeout=30).content
    )
    keys = requests.get(f"{env['url']}/api/v1/trust/policy_keys.json", timeout=30).json()
    key = tmp_path / "policy-key.pem"
    key.write_text(keys["keys"][0]["public_key"])
    offline = ("--policy", str(policy), "--policy-key", str(key))
    base = ("check", str(env["artifact"]), "--project", "widget", *offline)
    assert run(env, *base, "--bundle", str(env["alice"]), instance=False)[0] == 0
    assert run(env, *base, "--bundle", str(env["mallory"]), instance=False)[0] == 1
    code, _, err = run(env, *base, instance=False)  # no bundle and no instance to search
    assert code == 2 and "--bundle" in err


def test_a_modified_artifact_is_denied(env: dict[str, Any], tmp_path: Path) -> None:
    modified = tmp_path / env["artifact"].name
    modified.write_bytes(env["artifact"].read_bytes() + b"backdoor\n")
    code, out, _ = run(env, "check", str(modified), "--project", "widget")
    assert code == 1 and "no signature found" in out
    args = ("check", str(modified), "--project", "widget", "--bundle", str(env["alice"]))
    code, out, _ = run(env, *args)
    assert code == 1 and "invalid" in out


def test_unknown_project_is_an_error_not_a_denial(env: dict[str, Any]) -> None:
    code, _, err = run(env, "check", str(env["artifact"]), "--project", "nope")
    assert code == 2 and "404" in err


def test_a_revoked_entry_is_denied(env: dict[str, Any]) -> None:
    bundle = json.loads(env["alice"].read_text())
    entry = bundle["verificationMaterial"]["tlogEntries"][0]
    found = requests.post(
        f"{env['url']}/api/v1/log/entries/retrieve",
        json={"logIndexes": [int(entry["logIndex"])]},
        timeout=30,
    ).json()
    uuid = next(iter(found[0]))
    r = env["api"].post(
        f"{env['url']}/api/v1/projects/widget/revocations",
        json={"target_kind": "entry", "target": uuid, "reason": "signed by a stolen session"},
        timeout=30,
    )
    assert r.status_code == 201, r.text
    args = ("check", str(env["artifact"]), "--project", "widget", "--format", "json")
    code, out, _ = run(env, *args)
    assert code == 1
    assert json.loads(out)["verdict"] == "revoked"
