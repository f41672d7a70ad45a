"""The search box: parsing (no database), and GET /api/v1/search against PostgreSQL."""

from __future__ import annotations

import hashlib
import json
from typing import Any

import pytest
from django.test import Client
from hypothesis import given
from hypothesis import strategies as st

from tlog import search, services
from tlog.models import Entry, Log, SearchKey
from tlog.search import KeyMatch, QueryError, parse_cursor, parse_query
from tlog.tests import kinds_fixtures as kf

HEX64 = "ab" * 32


# --- parsing ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("Alice@Example.com", (KeyMatch("email", "alice@example.com"),)),
        ("  alice@example.com  ", (KeyMatch("email", "alice@example.com"),)),
        ("alice@*", (KeyMatch("email", "alice@", prefix=True),)),
        (kf.WORKFLOW, (KeyMatch("uri", kf.WORKFLOW),)),
        ("https://github.com/Org/*", (KeyMatch("uri", "https://github.com/Org/", prefix=True),)),
        ("uri:spiffe://x/y", (KeyMatch("uri", "spiffe://x/y"),)),
        ("email:bob@x", (KeyMatch("email", "bob@x"),)),
        (f"sha256:{HEX64.upper()}", (KeyMatch("sha256", f"sha256:{HEX64}"),)),
        ("sha384:" + "c" * 96, (KeyMatch("sha384", "sha384:" + "c" * 96),)),
        ("sha512:" + "d" * 128, (KeyMatch("sha512", "sha512:" + "d" * 128),)),
        ("serial:1A2B3C", (KeyMatch("cert_serial", "1a2b3c"),)),
        ("serial:0x001a2b3c", (KeyMatch("cert_serial", "1a2b3c"),)),
        ("serial:01:2b", (KeyMatch("cert_serial", "12b"),)),
        (f"key:sha256:{HEX64}", (KeyMatch("key", f"sha256:{HEX64}"),)),
        (f"KEY:{HEX64}", (KeyMatch("key", f"sha256:{HEX64}"),)),
        (
            "issuer:https://token.actions.githubusercontent.com",
            (KeyMatch("issuer", "https://token.actions.githubusercontent.com"),),
        ),
    ],
)
def test_parse_search_keys(text: str, keys: tuple[KeyMatch, ...]) -> None:
    query = parse_query(text)
    assert query.keys == keys
    assert query.log_index is None and query.uuid is None


def test_parse_index_and_uuids() -> None:
    assert parse_query("42").log_index == 42
    assert parse_query("index:7").log_index == 7
    assert parse_query("42").is_exact
    uuid80 = "00" * 8 + HEX64
    assert parse_query(uuid80.upper()).uuid == uuid80
    assert parse_query(uuid80).is_exact
    # 64 hex digits: an artifact digest or an entry's leaf hash; both are searched.
    bare = parse_query(HEX64)
    assert bare.uuid == HEX64 and bare.keys == (KeyMatch("sha256", f"sha256:{HEX64}"),)
    assert not bare.is_exact


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("", "type something"),
        ("   ", "type something"),
        ("hello", "not a search this box understands"),
        ("sha256:abc", "64 hex digits"),
        ("sha256:" + "g" * 64, "64 hex digits"),
        ("serial:xyz", "certificate serial"),
        ("key:sha256:12", "key fingerprint"),
        ("uuid:1234", "64 or 80 hex"),
        ("9" * 20, r"below 2\^63"),
        ("9223372036854775808", r"below 2\^63"),
        ("https://a/*b*", "only allowed at the end"),
        ("*", "not a search"),
        ("email:*", "at least one character"),
        ("a@b\x00", "control characters"),
        ("x@" + "y" * 1100, "longer than"),
        ("ab" * 36, "not a search"),  # 72 hex digits: neither a digest nor a UUID
    ],
)
def test_parse_refuses_with_a_helpful_message(text: str, says: str) -> None:
    with pytest.raises(QueryError, match=says):
        parse_query(text)


@given(st.text(max_size=200))
def test_parse_never_fails_otherwise(text: str) -> None:
    try:
        query = parse_query(text)
    except QueryError as exc:
        assert str(exc)
        return
    assert query.description
    assert query.keys or query.log_index is not None or query.uuid is not None
    for key in query.keys:
        assert key.value and "*" not in key.value


@given(st.binary(min_size=32, max_size=32))
def test_parse_every_sha256_spelling(digest: bytes) -> None:
    want = (KeyMatch("sha256", f"sha256:{digest.hex()}"),)
    assert parse_query(f"sha256:{digest.hex()}").keys == want
    assert parse_query(digest.hex().upper()).keys == want


def test_parse_cursor() -> None:
    assert parse_cursor(None) is None and parse_cursor("") is None
    assert parse_cursor("17") == 17
    for bad in ("-1", "x", "1e3", "٣", "9" * 20):
        with pytest.raises(QueryError):
            parse_cursor(bad)


# --- the API ----------------------------------------------------------------------------


def upload(client: Client, request: dict[str, Any]) -> tuple[str, dict[str, Any]]:
    r = client.post("/api/v1/log/entries", json.dumps(request), content_type="application/json")
    assert r.status_code == 201, r.content
    ((uuid, doc),) = r.json().items()
    return uuid, doc


def signed_by(
    client: Client,
    *,
    email: str | None = None,
    uri: str | None = None,
    serial: int = 0x1A2B3C,
    artifact: bytes = b"artifact",
    n: int = 1,
) -> tuple[str, dict[str, Any]]:
    key = kf.ec_key("secp256r1", n)
    cert = kf.leaf_certificate(key, email=email, uri=uri, serial=serial)
    return upload(client, kf.signed_hashedrekord(key, kf.cert_pem(cert), artifact))


def api(client: Client, q: str, **params: str) -> Any:
    return client.get("/api/v1/search", {"q": q, **params})


def test_api_finds_by_each_kind(client, rekor_log):
    uuid, doc = signed_by(client, email="Dev@Example.com", uri=kf.WORKFLOW, serial=0xBEEF)
    digest = hashlib.sha256(b"artifact").hexdigest()
    key_fp = SearchKey.objects.get(kind="key").value
    for q in (
        "dev@example.com",
        kf.WORKFLOW,
        "https://github.com/org/*",
        f"sha256:{digest}",
        digest,
        str(doc["logIndex"]),
        uuid,
        uuid[16:],
        "serial:beef",
        f"key:{key_fp}",
        f"issuer:{kf.ISSUER}",
    ):
        r = api(client, q)
        assert r.status_code == 200, (q, r.content)
        body = r.json()
        assert [x["uuid"] for x in body["results"]] == [uuid], q
        assert body["nextCursor"] is None
    (result,) = api(client, "dev@example.com").json()["results"]
    assert result["logIndex"] == doc["logIndex"]
    assert result["treeID"] == str(rekor_log.tree_id)
    assert result["kind"] == "hashedrekord" and result["integratedTime"] == doc["integratedTime"]
    assert result["identities"] == ["dev@example.com", kf.WORKFLOW]


def test_api_misses_are_empty_not_errors(client, rekor_log):
    for q in ("nobody@example.com", "1000000", "9" * 18, "00" * 40, f"sha256:{HEX64}"):
        r = api(client, q)
        assert r.status_code == 200 and r.json()["results"] == [], q


@pytest.mark.parametrize(
    ("params", "code"),
    [
        ({"q": ""}, "bad_query"),
        ({"q": "nonsense"}, "bad_query"),
        ({"q": "sha256:12"}, "bad_query"),
        ({"q": "a@b", "cursor": "abc"}, "bad_query"),
        ({"q": "a@b", "limit": "0"}, "bad_parameter"),
        ({"q": "a@b", "limit": "101"}, "bad_parameter"),
        ({"q": "a@b", "limit": "x"}, "bad_parameter"),
    ],
)
def test_api_bad_input_is_a_4xx_json_error(client, rekor_log, params, code):
    r = client.get("/api/v1/search", params)
    assert r.status_code == 400
    body = r.json()
    assert body["code"] == code and body["message"]


def test_api_without_q_is_a_4xx_json_error(client, rekor_log):
    r = client.get("/api/v1/search")
    assert r.status_code == 400 and r.json()["code"] == "bad_query"


def test_prefix_search_treats_like_wildcards_literally(client, rekor_log):
    signed_by(client, uri="https://example.com/a%b_c/x", n=1)
    signed_by(client, uri="https://example.com/aXbYc/x", artifact=b"2", n=2)
    hits = api(client, "https://example.com/a%b_*").json()["results"]
    assert [h["identities"] for h in hits] == [["https://example.com/a%b_c/x"]]
    assert len(api(client, "https://example.com/a*").json()["results"]) == 2


def test_pagination_is_stable_across_shards_and_growth(client, rekor_log):
    uuids = [signed_by(client, email="ci@example.com", artifact=b"%d" % i)[0] for i in range(5)]
    services.log_freeze_and_rotate(kind=Log.Kind.REKOR, actor="test")
    key = kf.ec_key("secp256r1", 1)
    cert = kf.leaf_certificate(key, email="ci@example.com")
    for i in range(5, 8):
        uuids.append(upload(client, kf.signed_hashedrekord(key, kf.cert_pem(cert), b"%d" % i))[0])
    newest_first = list(reversed(uuids))

    first = api(client, "ci@example.com", limit="3").json()
    assert [r["uuid"] for r in first["results"]] == newest_first[:3]
    # New entries after the first page do not shift the following pages.
    signed_by(client, email="ci@example.com", artifact=b"late")
    seen, cursor = [r["uuid"] for r in first["results"]], first["nextCursor"]
    while cursor:
        page = api(client, "ci@example.com", limit="3", cursor=cursor).json()
        seen += [r["uuid"] for r in page["results"]]
        cursor = page["nextCursor"]
    assert seen == newest_first
    shards = {r["treeID"] for r in api(client, "ci@example.com", limit="100").json()["results"]}
    assert len(shards) == 2
    assert Entry.objects.filter(log__state=Log.State.FROZEN).count() == 6  # genesis + 5


def test_one_entry_with_two_matching_keys_is_listed_once(client, rekor_log):
    key = kf.ec_key("secp256r1", 3)
    cert = kf.leaf_certificate(key, email="a@example.com", uri="https://example.com/one")
    uuid, _ = upload(client, kf.signed_hashedrekord(key, kf.cert_pem(cert)))
    entry = Entry.objects.get(leaf_hash=bytes.fromhex(uuid[16:]))
    SearchKey.objects.create(entry=entry, kind="uri", value="https://example.com/two")
    page = search.search_run(parse_query("https://example.com/*"), limit=1)
    assert [r.uuid for r in page.results] == [uuid]
    # The range scan cannot tell a duplicate from another entry and offers a next page
    # (empty); the loose index scan sees there is none.
    if page.next_cursor is not None:
        rest = search.search_run(parse_query("https://example.com/*"), cursor=page.next_cursor)
        assert rest.results == []


def test_schema_documents_the_search_api(client, rekor_log):
    r = client.get("/api/schema/", HTTP_ACCEPT="application/json")
    assert r.status_code == 200
    assert b"searchEntries" in r.content


def _all_pages(q: str, limit: int) -> list[list[int]]:
    pages, cursor = [], None
    while True:
        page = search.search_run(search.parse_query(q), cursor=cursor, limit=limit)
        pages.append([r.entry.id for r in page.results])
        if page.next_cursor is None:
            return pages
        cursor = page.next_cursor


def test_prefix_pages_are_the_same_by_loose_index_scan_and_by_range_scan(
    client, rekor_log, monkeypatch
):
    for i in range(7):  # 7 entries, 4 identities under the prefix, one outside it
        signed_by(client, uri=f"https://h.test/p/a{i % 4}/x", artifact=bytes([i]), n=i + 1)
    signed_by(client, uri="https://h.test/q/a/x", artifact=b"outside", n=9)
    loose = _all_pages("https://h.test/p/*", limit=2)
    assert sum(map(len, loose)) == 7 and all(len(p) <= 2 for p in loose)
    flat = [i for page in loose for i in page]
    assert flat == sorted(flat, reverse=True)  # newest first, across identities
    monkeypatch.setattr(search, "_ids_for_prefix", lambda *a, **k: None)
    assert _all_pages("https://h.test/p/*", limit=2) == loose


def test_a_prefix_over_many_identities_falls_back_to_the_range_scan(client, rekor_log, monkeypatch):
    for i in range(4):
        signed_by(client, uri=f"https://h.test/p/b{i}/x", artifact=bytes([i]), n=i + 1)
    expected = _all_pages("https://h.test/p/*", limit=3)
    monkeypatch.setattr(search, "MAX_PREFIX_VALUES", 2)
    key = search.parse_query("https://h.test/p/*").keys[0]
    assert search._ids_for_prefix(key, cursor=None, limit=3) is None
    assert _all_pages("https://h.test/p/*", limit=3) == expected


def test_prefix_search_is_never_prepared_and_the_upload_path_is(client, rekor_log, entry_maker):
    """Only the hot paths' fixed statements are prepared (sigportal/db.py): a prepared
    statement may drift to a generic plan, which cannot bound `value LIKE $1` by the
    prefix, so the loose index scan walked every key of the kind from a connection's
    eighth search on."""
    from django.conf import settings
    from django.db import connection

    if not settings.IS_POSTGRES:
        pytest.skip("prepared statements: PostgreSQL only")
    signed_by(client, uri="https://h.test/plan/a/x", artifact=b"plan", n=1)
    key = search.parse_query("https://h.test/plan/*").keys[0]
    for _ in range(10):
        assert search._ids_for_prefix(key, cursor=None, limit=5) == ([key_entry(key)], False)
    with connection.cursor() as cur:
        cur.execute("SELECT statement, generic_plans + custom_plans FROM pg_prepared_statements")
        prepared = dict(cur.fetchall())
    assert not [sql for sql in prepared if "distinct_values" in sql]
    assert [runs for sql, runs in prepared.items() if "INSERT INTO tlog_pendingentry" in sql]


def key_entry(key: search.KeyMatch) -> int:
    from tlog.models import SearchKey

    return SearchKey.objects.get(kind=key.kind, value__startswith=key.value).entry_id
