"""sigclient.check without a server: the signed policy document and the verdict line."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
import rfc8785
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec

from sigclient.check import (
    POLICY_TYPE,
    CandidateResult,
    CheckResult,
    key_id,
    policy_parse,
)
from sigclient.errors import ClientError

KEY = ec.generate_private_key(ec.SECP256R1())
DER = KEY.public_key().public_bytes(
    serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
)


def _document(**overrides: Any) -> dict[str, Any]:
    doc = {
        "_type": POLICY_TYPE,
        "project": "demo",
        "signers": [
            {"id": 3, "issuer": "https://idp", "identity": "*@x.test", "match": "pattern"},
            {"id": 4, "issuer": "https://gh", "identity": "u", "source_ref": "refs/tags/v1"},
        ],
        "revocations": [
            {"target_kind": "entry", "target": "ab" * 40},
            {"target_kind": "certificate", "target": "1f"},
        ],
        "issued_at": "2026-11-22T00:00:00Z",
    }
    doc.update(overrides)
    return doc


def _signed(doc: dict[str, Any], *, key: ec.EllipticCurvePrivateKey = KEY) -> bytes:
    raw = rfc8785.dumps(doc)
    der = key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return json.dumps(
        {
            "document": base64.b64encode(raw).decode(),
            "signature": base64.b64encode(key.sign(raw, ec.ECDSA(hashes.SHA256()))).decode(),
            "key_id": key_id(der),
        }
    ).encode()


def test_a_signed_policy_parses_into_rules_and_revocations() -> None:
    parsed = policy_parse(_signed(_document()), project="demo", trusted_keys=[DER])
    assert [r.id for r in parsed.rules] == [3, 4]
    assert parsed.rules[0].pattern and not parsed.rules[1].pattern
    assert dict(parsed.rules[1].constraints) == {"source_ref": "refs/tags/v1"}
    assert parsed.revoked_entries == {"ab" * 32}
    assert parsed.revoked_serials == {"1f"}


def test_a_document_signed_by_another_key_is_refused() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    with pytest.raises(ClientError, match="pinned policy key"):
        policy_parse(_signed(_document(), key=other), project="demo", trusted_keys=[DER])


def test_a_key_id_naming_the_pinned_key_does_not_help_a_forger() -> None:
    other = ec.generate_private_key(ec.SECP256R1())
    forged = json.loads(_signed(_document(), key=other))
    forged["key_id"] = key_id(DER)
    with pytest.raises(ClientError, match="does not verify"):
        policy_parse(json.dumps(forged).encode(), project="demo", trusted_keys=[DER])


def test_an_edited_document_is_refused() -> None:
    signed = json.loads(_signed(_document()))
    doc = json.loads(base64.b64decode(signed["document"]))
    doc["signers"][0]["identity"] = "*@evil.test"
    signed["document"] = base64.b64encode(rfc8785.dumps(doc)).decode()
    with pytest.raises(ClientError, match="does not verify"):
        policy_parse(json.dumps(signed).encode(), project="demo", trusted_keys=[DER])


@pytest.mark.parametrize(
    ("doc", "message"),
    [
        (_document(project="other"), "for project 'other'"),
        (_document(_type="https://example/other"), "not a sigportal policy"),
    ],
)
def test_wrong_project_or_type_is_refused(doc: dict[str, Any], message: str) -> None:
    with pytest.raises(ClientError, match=message):
        policy_parse(_signed(doc), project="demo", trusted_keys=[DER])


@pytest.mark.parametrize("raw", [b"not json", b"[]", b'{"document": 1}', b'{"document": "@@"}'])
def test_garbage_is_refused(raw: bytes) -> None:
    with pytest.raises(ClientError):
        policy_parse(raw, project="demo", trusted_keys=[DER])


def test_verdict_lines() -> None:
    trusted = CandidateResult(
        source="log entry u1",
        verdict="trusted",
        signer={"identity": "a@x.test", "issuer": "https://idp"},
        rule=3,
    )
    untrusted = CandidateResult(source="log entry u2", verdict="untrusted", reasons=["no rule"])
    result = CheckResult("f", "sha256:00", "demo", True, "trusted", "", [untrusted, trusted])
    assert result.line().startswith("ALLOWED f: signed by a@x.test (https://idp), rule 3")
    denied = CheckResult("f", "sha256:00", "demo", False, "untrusted", "", [untrusted])
    assert denied.line() == "DENIED f for project demo: log entry u2: untrusted (no rule)"
    none = CheckResult("f", "sha256:00", "demo", False, "untrusted", "", [])
    assert none.line() == "DENIED f: no signature found for sha256:00"
