"""POST/GET /api/v1/log/entries and /api/v1/log/entries/retrieve/."""

from __future__ import annotations

import base64
import json
from typing import Any

import pytest
from django.test import Client

from sigportal.tests.openapi_check import answer_checker
from tlog.models import Entry, Log
from tlog.tests.verify import sigstore_verify


def post_json(client: Client, path: str, body: Any, **extra: Any) -> Any:
    data = body if isinstance(body, bytes) else json.dumps(body)
    return client.post(path, data=data, content_type="application/json", **extra)


def snapshot(log: Log) -> tuple[int, int, bytes]:
    log.refresh_from_db()
    return (Entry.objects.count(), log.tree_size, bytes(log.root_hash))


def test_upload_is_integrated_and_verifies(client, rekor_log, entry_maker):
    entry, _ = entry_maker.hashedrekord()
    # sigstore-python's Fulcio Accept header must not provoke a 406 anywhere.
    r = post_json(
        client, "/api/v1/log/entries", entry, HTTP_ACCEPT="application/pem-certificate-chain"
    )
    assert r.status_code == 201, r.content
    doc = r.json()
    ((uuid, e),) = doc.items()
    assert len(uuid) == 80 and uuid.startswith(f"{rekor_log.tree_id:016x}")
    assert r["Location"] == f"/api/v1/log/entries/{uuid}"
    assert e["logIndex"] == 1, "index 0 is the genesis entry"
    assert e["logID"] == rekor_log.log_id.hex()
    assert e["verification"]["inclusionProof"]["treeSize"] == 2
    sigstore_verify(doc, bytes(rekor_log.public_key_der))
    body = json.loads(base64.b64decode(e["body"]))
    assert body["kind"] == "hashedrekord"
    assert body["spec"]["data"]["hash"]["value"] == entry["spec"]["data"]["hash"]["value"]


def test_get_by_uuid_index_and_retrieve_agree(client, rekor_log, entry_maker):
    entry, _ = entry_maker.hashedrekord()
    doc = post_json(client, "/api/v1/log/entries", entry).json()
    ((uuid, e),) = doc.items()
    by_uuid = client.get(f"/api/v1/log/entries/{uuid}").json()
    by_short_uuid = client.get(f"/api/v1/log/entries/{uuid[16:]}").json()
    by_index = client.get(f"/api/v1/log/entries?logIndex={e['logIndex']}").json()
    for got in (by_uuid, by_short_uuid, by_index):
        assert got[uuid]["body"] == e["body"]
        sigstore_verify(got, bytes(rekor_log.public_key_der))
    found = post_json(
        client,
        "/api/v1/log/entries/retrieve/",
        {"entryUUIDs": [uuid], "logIndexes": [e["logIndex"], 999], "entries": [entry]},
    )
    assert found.status_code == 200
    assert [next(iter(d)) for d in found.json()] == [uuid, uuid, uuid]


def test_answers_match_the_openapi_schema(client, rekor_log, entry_maker):
    """Real answers (a verified upload, its reads, the tree, a consistency proof, an index
    search) against the response schemas /api/schema/ publishes for them: the fuzzing in
    sigportal/tests/test_api_conformance.py cannot forge a signed entry to see a 201."""
    check = answer_checker(client)

    entry, _ = entry_maker.hashedrekord()
    created = post_json(client, "/api/v1/log/entries", entry)
    assert created.status_code == 201
    check(created, "/api/v1/log/entries", "post")
    ((uuid, e),) = created.json().items()
    check(client.get(f"/api/v1/log/entries/{uuid}"), "/api/v1/log/entries/{uuid}")
    check(client.get(f"/api/v1/log/entries?logIndex={e['logIndex']}"), "/api/v1/log/entries")
    retrieved = post_json(client, "/api/v1/log/entries/retrieve/", {"entryUUIDs": [uuid]})
    check(retrieved, "/api/v1/log/entries/retrieve/", "post")
    check(client.get("/api/v1/log"), "/api/v1/log")
    check(client.get("/api/v1/log/proof?firstSize=1&lastSize=2"), "/api/v1/log/proof")
    digest = entry["spec"]["data"]["hash"]["value"]
    found = post_json(client, "/api/v1/index/retrieve", {"hash": f"sha256:{digest}"})
    check(found, "/api/v1/index/retrieve", "post")
    assert found.json() == [uuid]
    check(post_json(client, "/api/v1/log/entries", entry), "/api/v1/log/entries", "post")  # 409
    check(client.get("/api/v1/log/entries/" + "0" * 64), "/api/v1/log/entries/{uuid}")  # 404


def test_duplicate_is_409_with_location(client, rekor_log, entry_maker):
    entry, _ = entry_maker.hashedrekord()
    first = post_json(client, "/api/v1/log/entries", entry)
    before = snapshot(rekor_log)
    again = post_json(client, "/api/v1/log/entries", entry)
    assert again.status_code == 409
    assert again.json() == {
        "code": 409,
        "message": again.json()["message"],
        "reason": "entry_exists",
    }
    assert again["Location"] == first["Location"]
    assert snapshot(rekor_log) == before


def _with(entry: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    doc = json.loads(json.dumps(entry))
    node = doc
    *parents, last = path.split(".")
    for p in parents:
        node = node[p]
    node[last] = value
    return doc


BAD_UPLOADS = {
    "malformed_json": (b'{"apiVersion": ', 400, "malformed_json"),
    "empty": (b"", 400, "empty_body"),
    "not_an_object": (b"[1, 2]", 400, None),
    "unknown_kind": (lambda e: _with(e, "kind", "nonesuch"), 400, "unsupported_kind"),
    "unknown_version": (lambda e: _with(e, "apiVersion", "9.9.9"), 400, "unsupported_version"),
    "bad_base64": (
        lambda e: _with(e, "spec.signature.content", "!!notbase64!!"),
        400,
        "bad_base64",
    ),
    "wrong_digest": (
        lambda e: _with(e, "spec.data.hash.value", "ab" * 32),
        400,
        "signature_invalid",
    ),
    "too_deep": (b"[" * 5000 + b"]" * 5000, 400, "too_deep"),
    "oversized": (b'{"x": "' + b"a" * 200_000 + b'"}', 413, "body_too_large"),
}


@pytest.mark.parametrize("case", sorted(BAD_UPLOADS))
def test_bad_uploads_are_4xx_and_change_nothing(client, rekor_log, entry_maker, case):
    make, status, code = BAD_UPLOADS[case]
    good, _ = entry_maker.hashedrekord()
    body = make(good) if callable(make) else make
    before = snapshot(rekor_log)
    r = post_json(client, "/api/v1/log/entries", body)
    assert r.status_code == status, r.content
    err = r.json()
    assert err["code"] == status and err["message"]
    if code:
        assert err["reason"] == code
    assert snapshot(rekor_log) == before


def test_signature_from_another_key_is_refused(client, rekor_log, entry_maker):
    from conftest import EntryMaker

    entry, _ = entry_maker.hashedrekord()
    other, _ = EntryMaker().hashedrekord()
    forged = _with(entry, "spec.signature.content", other["spec"]["signature"]["content"])
    r = post_json(client, "/api/v1/log/entries", forged)
    assert r.status_code == 400 and r.json()["reason"] == "signature_invalid"


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/api/v1/log/entries/" + "ab" * 32, 404),
        ("/api/v1/log/entries/" + "ab" * 40, 404),
        ("/api/v1/log/entries/xyz", 400),
        ("/api/v1/log/entries/" + "a" * 65, 400),
        ("/api/v1/log/entries?logIndex=-1", 400),
        ("/api/v1/log/entries?logIndex=99999999999999999999999", 400),
        ("/api/v1/log/entries?logIndex=5000", 404),
        ("/api/v1/log/entries?logIndex=abc", 400),
        ("/api/v1/log/entries?logIndex=%C2%B2", 400),  # "²" is a digit to str.isdigit
        ("/api/v1/log?treeID=%C2%B2", 400),
        ("/api/v1/log/proof?lastSize=%D9%A3", 400),  # Arabic-Indic three
        ("/tlog/" + "9" * 30 + "/checkpoint", 404),
        ("/api/v1/log/entries", 400),
        ("/api/v1/nonesuch", 404),
    ],
)
def test_bad_reads_are_4xx_json(client, rekor_log, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert {"code", "message"} <= set(r.json())


@pytest.mark.parametrize(
    "query",
    [
        {"entryUUIDs": "notalist"},
        {"entryUUIDs": ["zz"]},
        {"logIndexes": [-1]},
        {"logIndexes": ["1"]},
        {"logIndexes": list(range(11))},
        {"surprise": 1},
        [],
    ],
)
def test_bad_retrieve_queries(client, rekor_log, query):
    r = post_json(client, "/api/v1/log/entries/retrieve/", query)
    assert r.status_code == 400
    assert {"code", "message"} <= set(r.json())


def test_genesis_is_index_zero(client, rekor_log):
    doc = client.get("/api/v1/log/entries?logIndex=0").json()
    ((_, e),) = doc.items()
    assert json.loads(base64.b64decode(e["body"]))["kind"] == "genesis"
