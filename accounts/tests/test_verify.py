"""POST /api/v1/projects/<slug>/verify: every verdict, with real bundles.

The live tests sign with the real sigstore-python 4.5.1 against a live instance
(gunicorn + PostgreSQL, development identity provider) and ask that instance's verify
endpoint over HTTP. The in-process tests cover what a live instance cannot safely be
made to do (an entry missing from the database, a CA roll)."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
import requests
from django.test import Client
from sigstore import dsse
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext

from accounts import verification
from accounts.errors import InvalidInput
from accounts.models import Project, Revocation, TrustedSigner
from accounts.tests.test_signatures import ISSUER, make_instance, sign
from ca import services as ca_services
from sigportal.livetest import LiveServer
from tlog.models import Entry, SearchKey

live = pytest.mark.live

ALICE = "alice@example.test"
BOB = "bob@example.test"
ARTIFACT_A = b"release artifact A\n"
ARTIFACT_C = b"artifact C, signed under a certificate revoked instance-wide\n"
ARTIFACT_D = b"artifact D, signed by alice and by bob\n"

_SETUP = """
import json
from accounts.errors import InvalidInput
from accounts.models import Project, Revocation, TrustedSigner
spec = json.loads({spec!r})
for slug, signers in spec["projects"].items():
    project = Project.objects.create(slug=slug, name=slug)
    for signer in signers:
        TrustedSigner.objects.create(project=project, **signer)
for r in spec["revocations"]:
    project = Project.objects.get(slug=r.pop("project")) if r.get("project") else None
    r.pop("project", None)
    Revocation.objects.create(project=project, **r)
"""


def _leaf_hex(bundle: Bundle) -> str:
    body = base64.b64decode(
        json.loads(bundle.to_json())["verificationMaterial"]["tlogEntries"][0]["canonicalizedBody"]
    )
    return hashlib.sha256(b"\x00" + body).hexdigest()


def _token(server: LiveServer, email: str) -> IdentityToken:
    return IdentityToken(server.manage("devtoken", email).stdout.strip().splitlines()[-1])


@pytest.fixture(scope="module")
def env(live_server_pg: LiveServer) -> dict[str, Any]:
    """Bundles signed by the real sigstore-python, and projects in the live database."""
    url = live_server_pg.url
    config = requests.get(f"{url}/api/v1/trust/client_trust_config.json", timeout=30).text
    context = SigningContext.from_trust_config(ClientTrustConfig.from_json(config))
    alice, bob = _token(live_server_pg, ALICE), _token(live_server_pg, BOB)
    statement = (
        dsse.StatementBuilder()
        .subjects(
            [
                dsse.Subject(
                    name="a.txt",
                    digest=dsse.DigestSet({"sha256": hashlib.sha256(ARTIFACT_A).hexdigest()}),
                )
            ]
        )
        .predicate_type("https://slsa.dev/provenance/v1")
        .predicate({"buildDefinition": {"buildType": "https://sigportal.example.test/b"}})
        .build()
    )
    with context.signer(alice) as signer:
        bundles = {
            "a": signer.sign_artifact(ARTIFACT_A),
            "d_alice": signer.sign_artifact(ARTIFACT_D),
            "attestation": signer.sign_dsse(statement),
        }
    with context.signer(alice) as signer:  # a second certificate
        bundles["c"] = signer.sign_artifact(ARTIFACT_C)
    with context.signer(bob) as signer:
        bundles["d_bob"] = signer.sign_artifact(ARTIFACT_D)
    issuer = f"{url}/oauth"
    alice_rule = {"issuer": issuer, "identity": ALICE}
    spec = {
        "projects": {
            "trusted": [alice_rule],
            "pattern": [{"issuer": issuer, "identity": "*@example.test", "match": "pattern"}],
            "others": [{"issuer": issuer, "identity": BOB}],
            "wrong-issuer": [{"issuer": "https://other.example.test", "identity": ALICE}],
            "constrained": [{**alice_rule, "source_repository": "https://github.com/org/repo"}],
            "revoked": [alice_rule],
        },
        "revocations": [
            {
                "project": "revoked",
                "target_kind": "entry",
                "target": _leaf_hex(bundles["a"]),
                "reason": "signed by mistake",
            },
            {
                "project": None,
                "target_kind": "certificate",
                "target": format(bundles["c"].signing_certificate.serial_number, "x"),
                "reason": "key stolen",
            },
        ],
    }
    live_server_pg.manage("shell", "-c", _SETUP.format(spec=json.dumps(spec)))
    return {"url": url, "issuer": issuer, "bundles": bundles}


def verify(env: dict[str, Any], slug: str, **body: Any) -> requests.Response:
    if isinstance(body.get("bundle"), Bundle):
        body["bundle"] = json.loads(body["bundle"].to_json())
    if isinstance(body.get("artifact"), bytes):
        body["artifact"] = base64.b64encode(body["artifact"]).decode()
    return requests.post(f"{env['url']}/api/v1/projects/{slug}/verify", json=body, timeout=60)


def verdict(env: dict[str, Any], slug: str, **body: Any) -> dict[str, Any]:
    response = verify(env, slug, **body)
    assert response.status_code == 200, response.text
    return response.json()


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


# --- trusted ---------------------------------------------------------------------------------


@live
def test_trusted_with_the_artifact_or_its_digest(env):
    bundle = env["bundles"]["a"]
    result = verdict(env, "trusted", bundle=bundle, artifact=ARTIFACT_A)
    assert result["allowed"] is True and result["verdict"] == "trusted", result
    assert result["signer"] == {"identity": ALICE, "issuer": env["issuer"], "extensions": {}}
    assert result["rule"]["identity"] == ALICE and result["rule"]["pattern"] is False
    tlog = json.loads(bundle.to_json())["verificationMaterial"]["tlogEntries"][0]
    assert result["entry"]["log_index"] == int(tlog["logIndex"])
    assert result["entry"]["integrated_time"] == int(tlog["integratedTime"])
    assert (
        result["entry"]["uuid"].endswith(_leaf_hex(bundle)) and len(result["entry"]["uuid"]) == 80
    )
    assert result["certificate"]["serial"] == format(bundle.signing_certificate.serial_number, "x")
    by_digest = verdict(env, "trusted", bundle=bundle, digest=sha256(ARTIFACT_A))
    assert by_digest["verdict"] == "trusted" and by_digest["entry"] == result["entry"]


@live
def test_trusted_by_a_pattern_rule(env):
    result = verdict(env, "pattern", bundle=env["bundles"]["a"], artifact=ARTIFACT_A)
    assert result["verdict"] == "trusted" and result["rule"]["pattern"] is True


@live
def test_an_attestation_reports_its_subjects(env):
    result = verdict(env, "trusted", bundle=env["bundles"]["attestation"])
    assert result["verdict"] == "trusted", result
    assert result["subjects"] == [
        {"name": "a.txt", "digest": {"sha256": hashlib.sha256(ARTIFACT_A).hexdigest()}}
    ]
    assert verdict(env, "trusted", bundle=env["bundles"]["attestation"], artifact=ARTIFACT_A)[
        "allowed"
    ]


# --- untrusted --------------------------------------------------------------------------------


@live
@pytest.mark.parametrize(
    ("slug", "why"),
    [
        ("others", f"identity '{ALICE}' does not match identity '{BOB}'"),
        ("wrong-issuer", "is not 'https://other.example.test'"),
        ("constrained", "source_repository is None, the rule requires"),
    ],
)
def test_untrusted_identity_issuer_or_constraint(env, slug, why):
    result = verdict(env, slug, bundle=env["bundles"]["a"], artifact=ARTIFACT_A)
    assert result["allowed"] is False and result["verdict"] == "untrusted", result
    assert any(why in reason for reason in result["reasons"]), result["reasons"]
    assert result["signer"]["identity"] == ALICE and result["rule"] is None


# --- revoked ----------------------------------------------------------------------------------


@live
def test_an_entry_revoked_for_the_project_only(env):
    result = verdict(env, "revoked", bundle=env["bundles"]["a"], artifact=ARTIFACT_A)
    assert result["allowed"] is False and result["verdict"] == "revoked", result
    assert "was revoked for this project: signed by mistake" in result["reasons"][0]
    assert verdict(env, "trusted", bundle=env["bundles"]["a"], artifact=ARTIFACT_A)["allowed"]


@live
def test_a_certificate_revoked_instance_wide(env):
    result = verdict(env, "trusted", bundle=env["bundles"]["c"], artifact=ARTIFACT_C)
    assert result["verdict"] == "revoked", result
    assert "signing certificate" in result["reasons"][0] and "instance-wide" in result["reasons"][0]


# --- invalid ----------------------------------------------------------------------------------


@live
def test_a_flipped_signature_byte_is_invalid(env):
    doc = json.loads(env["bundles"]["a"].to_json())
    signature = bytearray(base64.b64decode(doc["messageSignature"]["signature"]))
    signature[len(signature) // 2] ^= 0x01
    doc["messageSignature"]["signature"] = base64.b64encode(signature).decode()
    result = verdict(env, "trusted", bundle=doc, artifact=ARTIFACT_A)
    assert result["allowed"] is False and result["verdict"] == "invalid", result
    assert result["reasons"][0].startswith("the bundle does not verify")
    # What an invalid bundle claims is not reported as fact.
    assert result["signer"] is None and result["entry"] is None
    assert result["reasons"][1] == f"unverified claim: signed by {ALICE!r} ({env['issuer']!r})"


@live
def test_a_swapped_certificate_is_invalid(env):
    doc = json.loads(env["bundles"]["a"].to_json())
    other = json.loads(env["bundles"]["d_bob"].to_json())
    doc["verificationMaterial"]["certificate"] = other["verificationMaterial"]["certificate"]
    result = verdict(env, "others", bundle=doc, artifact=ARTIFACT_A)
    assert result["verdict"] == "invalid", result


@live
def test_the_wrong_artifact_is_invalid(env):
    result = verdict(env, "trusted", bundle=env["bundles"]["a"], artifact=b"something else")
    assert result["verdict"] == "invalid" and not result["allowed"], result
    attested = verdict(env, "trusted", bundle=env["bundles"]["attestation"], artifact=b"other")
    assert attested["verdict"] == "invalid"
    assert "is not a subject of the attestation" in attested["reasons"][0]


# --- digest only ------------------------------------------------------------------------------


@live
def test_digest_only_finds_the_trusted_entry_among_several(env):
    result = verdict(env, "trusted", digest=sha256(ARTIFACT_D))
    assert result["allowed"] is True and result["verdict"] == "trusted", result
    assert result["signer"]["identity"] == ALICE
    assert sorted(e["verdict"] for e in result["entries"]) == ["trusted", "untrusted"]
    assert {e["signer"]["identity"] for e in result["entries"]} == {ALICE, BOB}
    bobs = verdict(env, "others", digest=sha256(ARTIFACT_D))
    assert bobs["allowed"] and bobs["signer"]["identity"] == BOB


@live
def test_digest_only_with_nothing_signed_is_denied(env):
    result = verdict(env, "trusted", digest=sha256(b"never signed"))
    assert result["allowed"] is False and result["entries"] == []
    assert "no entry in this instance's log is over sha256:" in result["reasons"][0]
    revoked = verdict(env, "trusted", digest=sha256(ARTIFACT_C))
    assert revoked["verdict"] == "revoked" and not revoked["allowed"]


# --- malformed input --------------------------------------------------------------------------


@live
@pytest.mark.parametrize(
    ("body", "code"),
    [
        (b"not json", "malformed_json"),
        (b"[]", "malformed_request"),
        (b"{}", "nothing_to_verify"),
        (b'{"digest": "md5:abc"}', "bad_digest"),
        (b'{"digest": "sha256:ABC"}', "bad_digest"),
        (
            b'{"bundle": {"mediaType": "nope"}, "digest": "sha256:' + b"0" * 64 + b'"}',
            "malformed_bundle",
        ),
        (b'{"bundle": 1}', "malformed_bundle"),
        (b'{"digest": "sha256:' + b"0" * 64 + b'", "extra": 1}', "malformed_request"),
        (b'{"bundle": {}, "artifact": "***"}', "bad_artifact"),
    ],
)
def test_malformed_input_is_a_400_with_a_code(env, body, code):
    response = requests.post(
        f"{env['url']}/api/v1/projects/trusted/verify",
        data=body,
        headers={"Content-Type": "application/json"},
        timeout=30,
    )
    assert response.status_code == 400, response.text
    assert response.json()["code"] == code and response.json()["message"]


@live
def test_a_message_bundle_without_artifact_or_digest_is_a_400(env):
    response = verify(env, "trusted", bundle=env["bundles"]["a"])
    assert response.status_code == 400
    assert response.json()["code"] == "artifact_required"


@live
def test_unknown_project_is_404_and_oversized_bodies_413(env):
    response = verify(env, "no-such-project", digest=sha256(b"x"))
    assert response.status_code == 404 and response.json()["code"] == "not_found"
    big = verify(env, "trusted", bundle=env["bundles"]["a"], artifact=b"x" * (700 * 1024))
    assert big.status_code == 413 and big.json()["code"] == "artifact_too_large"
    huge = verify(env, "trusted", digest=sha256(b"x"), bundle={"pad": "x" * (1100 * 1024)})
    assert huge.status_code == 413 and huge.json()["code"] == "body_too_large"


# --- in process -------------------------------------------------------------------------------


@pytest.fixture
def project(db: None) -> Project:
    make_instance()
    project = Project.objects.create(slug="demo", name="Demo")
    TrustedSigner.objects.create(project=project, issuer=ISSUER, identity=ALICE)
    return project


def _stored_bundle(entry: Entry) -> bytes:
    return verification._bundle_from_entry(entry, {}).to_json().encode()


def test_an_entry_missing_from_the_database_is_reported_loudly(
    project: Project, caplog: pytest.LogCaptureFixture
) -> None:
    signed = sign(ALICE, b"artifact")
    bundle = _stored_bundle(signed.entry)
    assert verification.bundle_verify(
        project=project, bundle_json=bundle, artifact=b"artifact"
    ).allowed
    SearchKey.objects.filter(entry=signed.entry).delete()
    Entry.objects.filter(pk=signed.entry.pk).delete()
    result = verification.bundle_verify(project=project, bundle_json=bundle, artifact=b"artifact")
    assert result.verdict == "invalid"
    assert (
        "log integrity problem: the entry is not in this instance's database" in result.reasons[0]
    )
    assert any("LOG INTEGRITY" in r.message and r.levelname == "ERROR" for r in caplog.records)


def test_the_verifier_is_cached_and_rebuilt_when_the_ca_rolls(project: Project) -> None:
    first = verification.instance_verifier()
    assert verification.instance_verifier() is first
    before = sign(ALICE, b"before the roll")
    ca_services.intermediate_roll(actor="test")
    assert verification.instance_verifier() is not first
    after = sign(ALICE, b"after the roll")
    for signed in (before, after):  # leaves of the retired intermediate still verify
        result = verification.digest_verify(project=project, digest=sha256(signed.artifact))
        assert result.verdict == "trusted", result.reasons


def test_digest_mode_judges_each_entry_and_keeps_revocations(project: Project) -> None:
    mine, theirs = sign(ALICE, b"shared"), sign(BOB, b"shared")
    Revocation.objects.create(
        project=project, target_kind="entry", target=mine.leaf_hex, reason="r"
    )
    result = verification.digest_verify(project=project, digest=sha256(b"shared"))
    assert result.verdict == "revoked" and not result.allowed
    assert [e.entry["uuid"] for e in result.entries] == [theirs.uuid, mine.uuid]
    assert [e.verdict for e in result.entries] == ["untrusted", "revoked"]
    json.dumps(result.as_dict())  # JSON-serialisable


def test_the_api_answers_in_process_without_a_session(project: Project) -> None:
    signed = sign(ALICE, b"artifact")
    client = Client(enforce_csrf_checks=True)
    response = client.post(
        "/api/v1/projects/demo/verify",
        data={"bundle": json.loads(_stored_bundle(signed.entry)), "digest": sha256(b"artifact")},
        content_type="application/json",
    )
    assert response.status_code == 200, response.content
    assert response.json()["verdict"] == "trusted"


def test_a_non_sha256_digest_with_a_message_bundle_is_refused(project: Project) -> None:
    signed = sign(ALICE, b"artifact")
    with pytest.raises(InvalidInput) as caught:
        verification.bundle_verify(
            project=project,
            bundle_json=_stored_bundle(signed.entry),
            digest="sha384:" + hashlib.sha384(b"artifact").hexdigest(),
        )
    assert caught.value.code == "unsupported_digest"
