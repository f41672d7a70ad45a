"""The portal's public pages: home, search, entries, the log; escaping and the CSP."""

from __future__ import annotations

import base64
import json
import re
from typing import Any

import pytest
from django.test import Client

from sigportal.csp import POLICY
from tlog import services, views
from tlog.core import merkle
from tlog.models import Log
from tlog.tests import kinds_fixtures as kf

XSS = "<script>alert(1)</script>"


def upload(client: Client, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r = client.post("/api/v1/log/entries", json.dumps(request), content_type="application/json")
    assert r.status_code == 201, r.content
    ((uuid, doc),) = r.json().items()
    return uuid, doc


def signed(client: Client, artifact: bytes = b"artifact", **names: Any) -> tuple[str, dict]:
    key = kf.ec_key("secp256r1", 5)
    cert = kf.leaf_certificate(key, **names)
    return upload(client, kf.signed_hashedrekord(key, kf.cert_pem(cert), artifact))


def html(response: Any) -> str:
    assert response["Content-Type"].startswith("text/html")
    return response.content.decode()


def assert_no_inline_script(page: str) -> None:
    for tag in re.findall(r"<script\b[^>]*>", page):
        assert "src=" in tag or 'type="application/json"' in tag, tag
    assert " style=" not in page and "<style" not in page
    assert not re.search(r"<[^>]+\son[a-z]+=", page), "no inline event handlers"


# --- home ------------------------------------------------------------------------------


def test_home_shows_each_log_with_checkpoint_and_hourly_counts(client, rekor_log):
    signed(client)
    signed(client, artifact=b"2")
    r = client.get("/")
    assert r.status_code == 200
    page = html(r)
    assert r["Content-Security-Policy"] == POLICY
    assert_no_inline_script(page)
    rekor_log.refresh_from_db()
    assert f"{rekor_log.tree_size} entries" in page
    assert rekor_log.origin in page and "Latest checkpoint" in page
    assert "<caption>Entries added per hour (UTC), oldest first</caption>" in page
    counts = [bar.count for bar in r.context["logs"][0]["hourly"]]
    assert len(counts) == views.HOURS
    assert counts[-1] == 3 and sum(counts) == 3  # genesis and two uploads, this hour
    for link in ('href="/search"', 'href="/log"', 'href="/projects/"', "/oidc/authenticate/"):
        assert link in page
    assert '<main id="main"' in page


def test_home_lists_frozen_shards(client, rekor_log):
    signed(client)
    old, new = services.log_freeze_and_rotate(kind=Log.Kind.REKOR, actor="test")
    page = html(client.get("/"))
    assert f'href="/log/{old.tree_id}"' in page and "Frozen shards" in page
    assert str(new.tree_id) in page


def test_home_without_logs(client, db):
    page = html(client.get("/"))
    assert "no active log yet" in page


# --- search ----------------------------------------------------------------------------


def test_search_page_without_query_explains_the_syntax(client, rekor_log):
    r = client.get("/search")
    assert r.status_code == 200
    page = html(r)
    assert "<caption>Search syntax</caption>" in page
    assert '<label for="q"' in page and 'role="search"' in page


def test_search_page_lists_matches_with_links(client, rekor_log):
    uuid, doc = signed(client, email="dev@example.com")
    page = html(client.get("/search", {"q": "DEV@example.com"}))
    assert f'href="/entries/{uuid}"' in page
    assert "dev@example.com" in page and str(doc["logIndex"]) in page
    assert "<caption>Entries matching email dev@example.com</caption>" in page


def test_search_page_bad_query_is_a_400_with_help(client, rekor_log):
    r = client.get("/search", {"q": "sha256:nothex"})
    assert r.status_code == 400
    page = html(r)
    assert "64 hex digits" in page and 'role="alert"' in page and 'aria-invalid="true"' in page
    r = client.get("/search", {"q": "a@b", "cursor": "-3"})
    assert r.status_code == 400


def test_search_page_paginates_with_a_cursor(client, rekor_log, monkeypatch):
    monkeypatch.setattr(views, "SEARCH_PAGE_SIZE", 2)
    uuids = [signed(client, artifact=b"%d" % i, email="p@example.com")[0] for i in range(3)]
    first = client.get("/search", {"q": "p@example.com"})
    assert [r.uuid for r in first.context["page"].results] == uuids[:0:-1]
    next_url = first.context["next_url"]
    assert "cursor=" in next_url and 'rel="next"' in html(first)
    second = client.get("/search" + next_url)
    assert [r.uuid for r in second.context["page"].results] == [uuids[0]]
    assert "next_url" not in second.context


# --- entries ---------------------------------------------------------------------------


def test_entry_page_shows_certificate_proof_and_verification_data(client, rekor_log):
    uuid, doc = signed(
        client, email="dev@example.com", uri=kf.WORKFLOW, issuer_v2="https://issuer.example/v2"
    )
    r = client.get(f"/entries/{uuid}")
    assert r.status_code == 200
    page = html(r)
    assert_no_inline_script(page)
    assert r["Content-Security-Policy"] == POLICY
    for text in (
        uuid,
        "dev@example.com",
        kf.WORKFLOW,
        "Issuer (v1)",
        "Issuer (v2)",
        "https://issuer.example/v2",
        "1.3.6.1.4.1.57264.1.8",
        "CN=sigportal test CA",
        "1a2b3c",
        "2024-01-01 00:00:00 UTC",
        "hashedrekord",
        "<caption>Proof hashes, from the leaf's sibling upwards</caption>",
        'src="/static/js/verify.js"',
        "Verify in your browser",
    ):
        assert text in page, text
    data = r.context["verify_data"]
    assert data["set"] in page  # a fresh ECDSA signature each time, the same one shown
    assert data["hashes"] == doc["verification"]["inclusionProof"]["hashes"]
    assert data["keyAlgorithm"] == "ecdsa-p256" and data["signerName"] == rekor_log.signer_name
    leaf = merkle.leaf_hash(base64.b64decode(data["body"]))
    merkle.verify_inclusion(
        leaf,
        data["logIndex"],
        data["treeSize"],
        [bytes.fromhex(h) for h in data["hashes"]],
        bytes.fromhex(data["rootHash"]),
    )
    assert '<script id="verify-data" type="application/json">' in page


def test_entry_by_index_redirects_to_the_uuid(client, rekor_log):
    uuid, doc = signed(client)
    r = client.get(f"/entries/index/{doc['logIndex']}")
    assert r.status_code == 302 and r["Location"] == f"/entries/{uuid}"
    assert client.get(f"/entries/{uuid[16:]}").status_code == 200


def test_genesis_entry_page(client, rekor_log):
    r = client.get("/entries/index/0", follow=True)
    assert r.status_code == 200
    assert "genesis" in html(r) and "could not be decoded" not in html(r)


@pytest.mark.parametrize(
    ("path", "status"),
    [
        ("/entries/nothex", 400),
        ("/entries/" + "ab" * 32, 404),
        ("/entries/index/99999", 404),
        ("/entries/index/99999999999999999999999", 404),
        ("/log/12345", 404),
        ("/log/99999999999999999999999", 404),
        ("/log?before=x", 400),
    ],
)
def test_bad_links_get_a_page_not_a_500(client, rekor_log, path, status):
    r = client.get(path)
    assert r.status_code == status
    assert r["Content-Type"].startswith("text/html")


# --- escaping: everything in an entry is attacker-controlled ----------------------------


def test_certificate_markup_renders_inert(client, rekor_log):
    uuid, _ = signed(
        client,
        email=f"{XSS}@example.com",
        uri=f"https://example.com/{XSS}",
        issuer_v1=f"https://issuer.example/{XSS}",
        issuer_v2=f"https://i.example/{XSS}"[:120],
    )
    for path in (f"/entries/{uuid}", "/search?q=https://example.com/*"):
        page = html(client.get(path))
        assert XSS not in page, path
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in page, path
        assert_no_inline_script(page)


def test_intoto_envelope_markup_renders_inert(client, rekor_log):
    key = kf.ec_key("secp256r1", 6)
    cert = kf.leaf_certificate(key)
    payload = kf.statement("cc" * 32)
    payload_type = f"application/{XSS}"
    signature = kf.sign_message(key, kf.pae(payload_type, payload))
    request = kf.intoto_request(payload, [(signature, kf.cert_pem(cert), XSS)], payload_type)
    uuid, _ = upload(client, request)
    page = html(client.get(f"/entries/{uuid}"))
    assert XSS not in page
    assert "application/&lt;script&gt;" in page
    # The verification data block must not end early either: json_script escapes < and >.
    assert page.count("</script>") == page.count("<script")


# --- the log ---------------------------------------------------------------------------


def test_log_page_shows_key_and_checkpoints_newest_first(client, rekor_log):
    signed(client)
    signed(client, artifact=b"2")
    r = client.get("/log")
    assert r.status_code == 200
    page = html(r)
    assert "BEGIN PUBLIC KEY" in page and "<caption>Signed checkpoints, newest first</caption>"
    sizes = [c.tree_size for c in r.context["checkpoints"]]
    assert sizes == sorted(sizes, reverse=True) and sizes[0] == 3


def test_log_page_checkpoints_are_keyset_paginated(client, rekor_log, monkeypatch):
    monkeypatch.setattr(views, "CHECKPOINTS_PER_PAGE", 2)
    for i in range(3):
        signed(client, artifact=b"%d" % i)
    first = client.get("/log")
    before = first.context["next_before"]
    second = client.get("/log", {"before": before})
    ids = [c.id for c in first.context["checkpoints"] + second.context["checkpoints"]]
    assert ids == sorted(ids, reverse=True) and len(set(ids)) == 4


def test_consistency_form_verifies_on_the_server(client, rekor_log):
    for i in range(5):
        signed(client, artifact=b"%d" % i)
    r = client.get("/log", {"first": "3", "second": "6"})
    assert r.status_code == 200
    c = r.context["consistency"]
    assert c["verified"] and c["proof"] and not c["old_root_given"]
    assert "the proof verifies" in html(r)
    assert '<script id="consistency-data" type="application/json">' in html(r)
    # With the root someone saw at size 3, as base64 from a checkpoint or hex.
    old_root = bytes.fromhex(c["old_root"])
    for given in (old_root.hex(), base64.b64encode(old_root).decode()):
        r = client.get("/log", {"first": "3", "old_root": given})
        assert r.context["consistency"]["verified"] and r.context["consistency"]["old_root_given"]
    forged = client.get("/log", {"first": "3", "second": "6", "old_root": "00" * 32})
    assert not forged.context["consistency"]["verified"]
    assert "does not verify" in html(forged)


@pytest.mark.parametrize(
    "params",
    [
        {"first": "7", "second": "3"},
        {"first": "1", "second": "999"},
        {"first": "x"},
        {"first": "0"},
        {"first": "2", "old_root": "zz"},
    ],
)
def test_consistency_form_bad_input_is_a_400(client, rekor_log, params):
    signed(client)
    r = client.get("/log", params)
    assert r.status_code == 400
    assert 'role="alert"' in html(r)


def test_frozen_shard_log_page(client, rekor_log):
    signed(client)
    old, _ = services.log_freeze_and_rotate(kind=Log.Kind.REKOR, actor="test")
    page = html(client.get(f"/log/{old.tree_id}"))
    assert "Frozen (read-only shard)" in page and "<h2>Shards</h2>" in page


# --- CSP -------------------------------------------------------------------------------


def test_csp_only_on_html(client, rekor_log):
    assert client.get("/search")["Content-Security-Policy"] == POLICY
    api = client.get("/api/v1/log")
    assert "Content-Security-Policy" not in api


# --- admin -----------------------------------------------------------------------------


def test_admin_freeze_action_is_audited_as_the_admin(admin_client, rekor_log):
    from tlog.models import LogEvent

    r = admin_client.post(
        "/admin/tlog/log/",
        {"action": "freeze_and_rotate", "_selected_action": [rekor_log.pk]},
        follow=True,
    )
    assert r.status_code == 200
    rekor_log.refresh_from_db()
    assert rekor_log.state == Log.State.FROZEN
    event = LogEvent.objects.get(log=rekor_log, action="frozen")
    assert event.actor == "admin"
    assert Log.objects.filter(kind=Log.Kind.REKOR, state=Log.State.ACTIVE).count() == 1
    detail = admin_client.get(f"/admin/tlog/log/{rekor_log.pk}/change/")
    assert detail.status_code == 200 and b"BEGIN PUBLIC KEY" in detail.content


def test_admin_shows_ca_status_read_only(admin_client, db):
    from ca import services as ca_services

    authority = ca_services.ca_create(name="test-ca", organization="example", actor="test")
    listing = admin_client.get("/admin/ca/certificateauthority/")
    assert listing.status_code == 200 and b"Intermediate valid until" in listing.content
    detail = admin_client.get(f"/admin/ca/certificateauthority/{authority.pk}/change/")
    assert detail.status_code == 200 and b"Root valid from" in detail.content
    assert b'name="_save"' not in detail.content
