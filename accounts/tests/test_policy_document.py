"""GET /api/v1/projects/<slug>/policy and /api/v1/trust/policy_keys.json: the allow-list
signed by the instance, verifiable offline with a pinned policy key."""

from __future__ import annotations

import base64
import hashlib
import json
from typing import Any

import pytest
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import transaction
from django.test import Client

from accounts.audit import POLICY_TYPE, audit_record
from accounts.models import PolicyKey, Project, Revocation, TrustedSigner
from tlog.models import Log

ISSUER = "https://idp.example.test"


@pytest.fixture
def project(rekor_log: Log) -> Project:
    project = Project.objects.create(slug="demo", name="Demo")
    TrustedSigner.objects.create(
        project=project, issuer=ISSUER, identity="alice@example.test", note="release manager"
    )
    return project


def fetch(client: Client, slug: str = "demo") -> dict[str, Any]:
    response = client.get(f"/api/v1/projects/{slug}/policy")
    assert response.status_code == 200, response.content
    return response.json()


def verifies(signed: dict[str, Any], pem: str) -> bool:
    """What a CI job does offline with the pinned key."""
    key = serialization.load_pem_public_key(pem.encode())
    assert isinstance(key, ec.EllipticCurvePublicKey)
    try:
        key.verify(
            base64.b64decode(signed["signature"]),
            base64.b64decode(signed["document"]),
            ec.ECDSA(hashes.SHA256()),
        )
    except InvalidSignature:
        return False
    return True


def payload(signed: dict[str, Any]) -> dict[str, Any]:
    return json.loads(base64.b64decode(signed["document"]))


def test_the_document_verifies_with_the_published_key(client: Client, project: Project) -> None:
    signed = fetch(client)
    keys = client.get("/api/v1/trust/policy_keys.json").json()["keys"]
    assert len(keys) == 1 and keys[0]["active"] is True
    (key,) = keys
    assert signed["key_id"] == key["key_id"] and signed["public_key"] == key["public_key"]
    der = bytes(PolicyKey.objects.get().public_key_der)
    assert key["key_id"] == hashlib.sha256(der).hexdigest()
    assert key["created_at"].endswith("Z")
    assert verifies(signed, key["public_key"])
    doc = payload(signed)
    assert doc["_type"] == POLICY_TYPE and doc["project"] == "demo"
    assert doc["instance"].startswith("http")
    (signer,) = doc["signers"]
    assert signer["identity"] == "alice@example.test" and signer["issuer"] == ISSUER
    assert signer["match"] == "exact" and signer["note"] == "release manager"
    assert {"source_repository", "source_ref", "build_trigger", "id", "added_at"} <= set(signer)
    assert doc["revocations"] == [] and doc["audit"] is None
    assert doc["issued_at"].endswith("Z")


def test_the_document_is_canonical_json(client: Client, project: Project) -> None:
    raw = base64.b64decode(fetch(client)["document"])
    assert (
        raw
        == json.dumps(
            json.loads(raw), sort_keys=True, separators=(",", ":"), ensure_ascii=False
        ).encode()
    )


def test_it_changes_with_the_allow_list_and_the_audit_trail(
    client: Client, project: Project, django_capture_on_commit_callbacks: Any
) -> None:
    before = payload(fetch(client))
    with django_capture_on_commit_callbacks(execute=True), transaction.atomic():
        TrustedSigner.objects.create(project=project, issuer=ISSUER, identity="bob@example.test")
        event = audit_record(
            project=project, action="signer.added", actor=None, detail={"identity": "bob"}
        )
    Revocation.objects.create(project=None, target_kind="certificate", target="ab", reason="x")
    signed = fetch(client)
    after = payload(signed)
    assert verifies(signed, signed["public_key"])
    assert [s["identity"] for s in after["signers"]] == ["alice@example.test", "bob@example.test"]
    assert len(before["signers"]) == 1
    assert after["audit"] == {
        "sequence": event.sequence,
        "document_sha256": event.document_sha256,
        "log_leaf_hash": event.log_leaf_hash,
    }
    (revocation,) = after["revocations"]
    assert revocation["scope"] == "instance" and revocation["target"] == "ab"


def test_tampering_is_detected(client: Client, project: Project) -> None:
    signed = fetch(client)
    doc = payload(signed)
    doc["signers"][0]["identity"] = "mallory@example.test"
    forged = {**signed, "document": base64.b64encode(json.dumps(doc).encode()).decode()}
    assert not verifies(forged, signed["public_key"])
    flipped = bytearray(base64.b64decode(signed["signature"]))
    flipped[-1] ^= 1
    assert not verifies(
        {**signed, "signature": base64.b64encode(flipped).decode()}, signed["public_key"]
    )


def test_only_this_projects_revocations_and_instance_wide_ones(
    client: Client, project: Project
) -> None:
    other = Project.objects.create(slug="other", name="Other")
    Revocation.objects.create(project=project, target_kind="entry", target="a" * 64, reason="m")
    Revocation.objects.create(project=other, target_kind="entry", target="b" * 64, reason="o")
    (revocation,) = payload(fetch(client))["revocations"]
    assert revocation["scope"] == "project" and revocation["target"] == "a" * 64


def test_unknown_project_is_404(client: Client, db: None) -> None:
    response = client.get("/api/v1/projects/nope/policy")
    assert response.status_code == 404
    assert response.json()["code"] == "not_found"
