"""GET /api/v1/log, /publicKey, /proof; POST /api/v1/index/retrieve; C2SP tiles."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization

from tlog import services
from tlog.core import merkle, note, tiles
from tlog.tests.test_api_entries import post_json


def upload(client, maker, n: int) -> list[dict]:
    out = []
    for _ in range(n):
        entry, artifact = maker.hashedrekord()
        r = post_json(client, "/api/v1/log/entries", entry)
        assert r.status_code == 201
        out.append({"doc": r.json(), "artifact": artifact})
    return out


def test_log_info_and_public_key(client, rekor_log, entry_maker):
    upload(client, entry_maker, 3)
    info = client.get("/api/v1/log").json()
    assert info["treeSize"] == 4 and info["treeID"] == str(rekor_log.tree_id)
    assert info["inactiveShards"] == []
    pem = client.get("/api/v1/log/publicKey")
    assert pem["Content-Type"] == "application/x-pem-file"
    key = serialization.load_pem_public_key(pem.content)
    verifier = note.NoteVerifier(
        rekor_log.signer_name, note.rekor_key_hint(bytes(rekor_log.public_key_der)), key
    )
    text, _ = note.open_note(info["signedTreeHead"], [verifier])
    cp = note.Checkpoint.from_text(text)
    assert (cp.origin, cp.size, cp.root_hash.hex()) == (rekor_log.origin, 4, info["rootHash"])
    assert cp.origin == f"{rekor_log.signer_name} - {rekor_log.tree_id}"


def test_consistency_proofs_verify(client, rekor_log, entry_maker):
    roots = {1: client.get("/api/v1/log").json()["rootHash"]}
    for _ in range(6):
        upload(client, entry_maker, 1)
        info = client.get("/api/v1/log").json()
        roots[info["treeSize"]] = info["rootHash"]
    for first in roots:
        for last in roots:
            if first > last:
                continue
            r = client.get(f"/api/v1/log/proof?firstSize={first}&lastSize={last}")
            assert r.status_code == 200
            proof = r.json()
            assert proof["rootHash"] == roots[last]
            merkle.verify_consistency(
                first,
                last,
                [bytes.fromhex(h) for h in proof["hashes"]],
                bytes.fromhex(roots[first]),
                bytes.fromhex(roots[last]),
            )


@pytest.mark.parametrize(
    "query",
    [
        "firstSize=3&lastSize=2",
        "firstSize=1&lastSize=999",
        "firstSize=0&lastSize=2",
        "firstSize=1",
        "firstSize=x&lastSize=2",
        "lastSize=2&treeID=12",
        "lastSize=2&treeID=-5",
    ],
)
def test_bad_proof_queries(client, rekor_log, entry_maker, query):
    upload(client, entry_maker, 2)
    r = client.get(f"/api/v1/log/proof?{query}")
    assert 400 <= r.status_code < 500
    assert {"code", "message"} <= set(r.json())


def test_index_search_by_hash_key_and_pagination(client, rekor_log, entry_maker):
    made = upload(client, entry_maker, 5)
    uuids = [next(iter(m["doc"])) for m in made]
    digest = hashlib.sha256(made[2]["artifact"]).hexdigest()
    r = post_json(client, "/api/v1/index/retrieve", {"hash": f"sha256:{digest}"})
    assert r.json() == [uuids[2]]
    r = post_json(client, "/api/v1/index/retrieve", {"hash": digest.upper()})
    assert r.json() == [uuids[2]]
    key = {"format": "x509", "content": base64.b64encode(entry_maker.public_pem).decode()}
    r = post_json(client, "/api/v1/index/retrieve", {"publicKey": key})
    assert r.json() == uuids
    r = post_json(client, "/api/v1/index/retrieve?limit=2", {"publicKey": key})
    assert r.json() == uuids[:2]
    pages, link = [r.json()], r.get("Link")
    while link:
        nxt = link.split(";")[0].strip("<>")
        r = post_json(client, nxt, {"publicKey": key})
        pages.append(r.json())
        link = r.get("Link")
    assert [u for page in pages for u in page] == uuids
    both = {"publicKey": key, "hash": f"sha256:{digest}", "operator": "and"}
    assert post_json(client, "/api/v1/index/retrieve", both).json() == [uuids[2]]


@pytest.mark.parametrize(
    "query",
    [
        {},
        {"hash": "md5:abcd"},
        {"hash": 5},
        {"publicKey": {"format": "pgp", "content": "AAAA"}},
        {"publicKey": {"format": "x509", "content": "not base64!"}},
        {"publicKey": {"format": "x509", "content": "AAAA"}},
        # a DER SPKI whose algorithm (OID 1.2.3.4) cryptography does not support
        {"publicKey": {"format": "pkix", "content": "MAswBQYDKgMEAwIAAQ=="}},
        {"email": ""},
        {"hash": "sha256:" + "a" * 64, "operator": "xor"},
        {"unknown": 1},
    ],
)
def test_bad_index_queries(client, rekor_log, query):
    r = post_json(client, "/api/v1/index/retrieve", query)
    assert r.status_code == 400
    assert {"code", "message"} <= set(r.json())


def test_tiles_serve_the_tree(client, rekor_log, entry_maker, settings):
    upload(client, entry_maker, 4)
    base = f"/tlog/{rekor_log.tree_id}"
    cp_text = client.get(f"{base}/checkpoint").content.decode()
    assert cp_text.startswith(rekor_log.origin + "\n5\n")
    tile = client.get(f"{base}/{tiles.tile_path(0, 0, 5)}")
    assert tile.status_code == 200 and len(tile.content) == 5 * 32
    assert "immutable" not in tile["Cache-Control"]
    leaves = [tile.content[i : i + 32] for i in range(0, 160, 32)]
    rekor_log.refresh_from_db()
    assert merkle.root_from_leaf_hashes(leaves) == bytes(rekor_log.root_hash)
    narrower = client.get(f"{base}/{tiles.tile_path(0, 0, 3)}")
    assert narrower.content == tile.content[:96]
    bundle = client.get(f"{base}/{tiles.entries_path(0, 5)}")
    bodies = tiles.decode_entry_bundle(bundle.content)
    assert [merkle.leaf_hash(b) for b in bodies] == leaves
    assert client.get(f"{base}/{tiles.tile_path(0, 0)}").status_code == 404  # not full yet
    assert client.get(f"{base}/{tiles.tile_path(0, 0, 6)}").status_code == 404
    assert client.get(f"{base}/tile/0/bogus").status_code == 404
    assert client.get("/tlog/99999999999999999999999/checkpoint").status_code == 404


def test_full_tiles_are_immutable(client, rekor_log, entry_maker, settings):
    from tlog.core import merkle as m
    from tlog.kinds import AcceptedEntry

    for i in range(300):  # straight through the service: 300 HTTP posts would be slow
        body = f'{{"n":{i}}}'.encode()
        services.entry_submit(
            kind="rekor",
            accepted=AcceptedEntry(
                kind="test",
                api_version="0.0.1",
                canonical_body=body,
                search_keys=(),
                certificates=(),
            ),
        )
    base = f"/tlog/{rekor_log.tree_id}"
    full = client.get(f"{base}/{tiles.tile_path(0, 0)}")
    assert full.status_code == 200 and len(full.content) == 256 * 32
    assert "immutable" in full["Cache-Control"]
    level1 = client.get(f"{base}/{tiles.tile_path(1, 0, 1)}")
    assert level1.content == m.root_from_leaf_hashes(
        [full.content[i : i + 32] for i in range(0, 8192, 32)]
    )


def test_email_and_subject_are_both_required_with_and(client, rekor_log, entry_maker):
    upload(client, entry_maker, 1)
    both = {"email": "a@example.test", "subject": "b@example.test", "operator": "and"}
    assert post_json(client, "/api/v1/index/retrieve", both).json() == []
