"""The portal's search: one free-text box, understood here, answered from the search index.

`parse_query` is pure (no database): it turns what a person typed into a `Query` or
raises `QueryError` with a message that says how to write it. `search_run` answers a
`Query` with one page of Rekor entries from every shard, newest first, paginated by
keyset on `Entry.id` (the id order is index order within a shard and shard order across
shards, so a page never shifts while the log grows and OFFSET is never needed).

Syntax (docs/portal.md):

    alice@example.com            an email in a certificate (case-insensitive)
    https://github.com/o/r/...   an identity URI; a trailing * means "starts with"
    sha256:<hex> or <64 hex>     an artifact digest (sha384:/sha512: too); 64 bare hex
                                 digits also match an entry UUID (leaf hash)
    <digits>                     a log index
    <80 hex>                     an entry UUID with its shard's tree id
    serial:<hex>                 a certificate serial number
    key:sha256:<hex>             a signing key's fingerprint (SHA-256 of its SPKI DER)
    issuer:<url>                 an OIDC issuer
    email:, uri:, uuid:, index:  force how the rest is read
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime

from django.conf import settings
from django.db import connection
from django.db.models import Q

from tlog import selectors
from tlog.models import Entry, Log, SearchKey

MAX_QUERY_LENGTH = 1024  # SearchKey.value's size: nothing longer can match
PAGE_SIZE = 25
_MAX_INDEX = 2**63 - 1
_HEX = re.compile(r"[0-9a-f]+")
_DIGEST_SIZES = {"sha256": 64, "sha384": 96, "sha512": 128}
_IDENTITY_KINDS = ("email", "uri")


class QueryError(ValueError):
    """The query cannot be understood; the message says how to write it."""


@dataclass(frozen=True)
class KeyMatch:
    """One SearchKey condition: kind equals, value equals (or starts with, if prefix)."""

    kind: str
    value: str
    prefix: bool = False


@dataclass(frozen=True)
class Query:
    """What to look for. Results are the union of every alternative given."""

    description: str
    keys: tuple[KeyMatch, ...] = ()
    log_index: int | None = None
    uuid: str | None = None  # 64 or 80 lowercase hex

    @property
    def is_exact(self) -> bool:
        """At most one entry can match (an index or an 80-hex UUID)."""
        return not self.keys and (self.log_index is not None or len(self.uuid or "") == 80)


# --- parsing (pure) --------------------------------------------------------------------


def parse_query(text: str) -> Query:
    """Read a search box's text; raise QueryError with a helpful message if it is not one."""
    text = text.strip()
    if not text:
        raise QueryError("type something to search for: an email, a URI, a digest, an index...")
    if len(text) > MAX_QUERY_LENGTH:
        raise QueryError(f"the query is longer than {MAX_QUERY_LENGTH} characters")
    if not text.isprintable():
        raise QueryError("the query contains control characters")
    tag, sep, rest = text.partition(":")
    tagged = _TAGGED.get(tag.lower()) if sep else None
    if tagged is not None:
        return tagged(rest.strip())
    return _untagged(text)


def _untagged(text: str) -> Query:
    lowered = text.lower()
    # Hex lengths first: 64 or 80 digits that happen to be decimal are still hashes.
    if _HEX.fullmatch(lowered) and len(lowered) == 64:
        return Query(
            f"artifact digest sha256:{lowered} or entry UUID {lowered}",
            keys=(KeyMatch("sha256", f"sha256:{lowered}"),),
            uuid=lowered,
        )
    if _HEX.fullmatch(lowered) and len(lowered) == 80:
        return _uuid(lowered)
    if text.isascii() and text.isdecimal():
        return _index(text)
    if "://" in text:
        return _uri(text)
    if "@" in text:
        return _email(text)
    raise QueryError(
        f"{text!r} is not a search this box understands: try an email address, an identity "
        "URI (end it with * to match a prefix), sha256:<hex>, a log index, an entry UUID, "
        "serial:<hex> or key:sha256:<hex>"
    )


def _index(text: str) -> Query:
    if not (text.isascii() and text.isdecimal()) or len(text) > 19 or int(text) > _MAX_INDEX:
        raise QueryError("a log index is a non-negative integer below 2^63")
    return Query(f"log index {int(text)}", log_index=int(text))


def _uuid(text: str) -> Query:
    value = text.lower()
    if len(value) not in (64, 80) or not _HEX.fullmatch(value):
        raise QueryError("an entry UUID is 64 or 80 hex digits")
    return Query(f"entry UUID {value}", uuid=value)


_Parser = Callable[[str], "Query"]


def _digest(algorithm: str) -> _Parser:
    def parse(text: str) -> Query:
        value = text.lower()
        size = _DIGEST_SIZES[algorithm]
        if len(value) != size or not _HEX.fullmatch(value):
            raise QueryError(f"a {algorithm} digest is {size} hex digits")
        return Query(
            f"artifact digest {algorithm}:{value}",
            keys=(KeyMatch(algorithm, f"{algorithm}:{value}"),),
        )

    return parse


def _identity(kind: str, text: str, *, lower: bool) -> Query:
    prefix = text.endswith("*")
    value = text[:-1] if prefix else text
    if lower:
        value = value.lower()  # emails are indexed lowercased, as Rekor does
    if not value:
        raise QueryError(f"give at least one character of the {kind} before the *")
    if "*" in value:
        raise QueryError("* is only allowed at the end, to match a prefix")
    what = "starting with " if prefix else ""
    return Query(f"{kind} {what}{value}", keys=(KeyMatch(kind, value, prefix=prefix),))


def _email(text: str) -> Query:
    return _identity("email", text, lower=True)


def _uri(text: str) -> Query:
    return _identity("uri", text, lower=False)


def _issuer(text: str) -> Query:
    return _identity("issuer", text, lower=False)


def _serial(text: str) -> Query:
    # Accept "0x..", "01:ab:.." and upper case; the index keeps lowercase hex without zeros.
    value = text.lower().removeprefix("0x").replace(":", "").lstrip("0") or "0"
    if not _HEX.fullmatch(value) or len(value) > 64:
        raise QueryError("a certificate serial is hex digits, like serial:1a2b3c")
    return Query(f"certificate serial {value}", keys=(KeyMatch("cert_serial", value),))


def _key(text: str) -> Query:
    value = text.lower().removeprefix("sha256:")
    if len(value) != 64 or not _HEX.fullmatch(value):
        raise QueryError("a key fingerprint is key:sha256:<64 hex> (SHA-256 of the SPKI DER)")
    return Query(f"key fingerprint sha256:{value}", keys=(KeyMatch("key", f"sha256:{value}"),))


_TAGGED: dict[str, _Parser] = {
    "sha256": _digest("sha256"),
    "sha384": _digest("sha384"),
    "sha512": _digest("sha512"),
    "email": _email,
    "uri": _uri,
    "issuer": _issuer,
    "serial": _serial,
    "key": _key,
    "uuid": _uuid,
    "index": _index,
}


def parse_cursor(text: str | None) -> int | None:
    """The opaque-looking cursor of a next-page link: an entry id. QueryError if bad."""
    if text is None or text == "":
        return None
    if not (text.isascii() and text.isdecimal()) or len(text) > 19 or int(text) > _MAX_INDEX:
        raise QueryError("the cursor is not one this site handed out; start the search again")
    return int(text)


# --- queries ---------------------------------------------------------------------------


@dataclass(frozen=True)
class SearchResult:
    entry: Entry
    uuid: str
    log_index: int
    identities: list[str] = field(default_factory=list)

    @property
    def integrated_at(self) -> datetime:
        return datetime.fromtimestamp(self.entry.integrated_time, UTC)


@dataclass(frozen=True)
class ResultPage:
    results: list[SearchResult]
    next_cursor: int | None


def search_run(query: Query, *, cursor: int | None = None, limit: int = PAGE_SIZE) -> ResultPage:
    """One page of Rekor entries matching `query`, newest first, after `cursor` (an id)."""
    if query.is_exact:
        entry = _exact_entry(query)
        return ResultPage(_results([entry] if entry and cursor is None else []), None)
    ids: set[int] = set()
    fetched_more = False
    for key in query.keys:
        found, more = _ids_for_key(key, cursor=cursor, limit=limit)
        ids.update(found)
        fetched_more |= more
    if query.uuid:  # 64 hex: a leaf hash in any Rekor shard, as well as a digest
        ids.update(_ids_for_leaf(query.uuid, cursor=cursor))
    ordered = sorted(ids, reverse=True)
    page = ordered[:limit]
    more = fetched_more or len(ordered) > limit
    entries = Entry.objects.select_related("log").filter(id__in=page, log__kind=Log.Kind.REKOR)
    by_id = {e.id: e for e in entries}
    results = _results([by_id[i] for i in page if i in by_id])
    return ResultPage(results, page[-1] if more and page else None)


def _exact_entry(query: Query) -> Entry | None:
    try:
        if query.log_index is not None:
            return selectors.entry_by_global_index(query.log_index)
        assert query.uuid is not None
        return selectors.entry_by_uuid(query.uuid)
    except selectors.NotFound:
        return None


def _ids_for_key(key: KeyMatch, *, cursor: int | None, limit: int) -> tuple[list[int], bool]:
    """Entry ids for one key, newest first: (at most `limit` distinct ids, more exist).

    Served by the (kind, value, entry) index, or for a prefix by the pattern-ops index
    of migration 0003. Django's startswith escapes % and _ in the value, so they match
    literally. One entry may carry several matching keys (two URIs under one prefix):
    ids are made distinct here rather than with DISTINCT, which would stop PostgreSQL
    from stopping early at the LIMIT.
    """
    if key.prefix and settings.IS_POSTGRES:
        found = _ids_for_prefix(key, cursor=cursor, limit=limit)
        if found is not None:
            return found
    qs = SearchKey.objects.filter(kind=key.kind)
    qs = qs.filter(value__startswith=key.value) if key.prefix else qs.filter(value=key.value)
    if cursor is not None:
        qs = qs.filter(entry_id__lt=cursor)
    raw = list(qs.order_by("-entry_id").values_list("entry_id", flat=True)[: limit + 1])
    distinct = list(dict.fromkeys(raw))
    return distinct[:limit], len(raw) > limit


#: A prefix matching more distinct identities than this is served by the plain range scan.
MAX_PREFIX_VALUES = 200

# A loose index scan: step through the distinct values under the prefix (one probe of
# the pattern-ops index each, in its own `~<~` order), then take each value's newest
# entries from the (kind, value, entry) index and merge. At 10 million entries a prefix
# like `https://github.com/org7/*` covers 10,000 keys but 7 identities: 8 + 7 probes
# instead of reading and sorting 10,000 index entries.
PREFIX_SQL = """
WITH RECURSIVE vals(v) AS (
    (SELECT value FROM tlog_searchkey WHERE kind = %(kind)s AND value LIKE %(like)s
     ORDER BY value USING ~<~ LIMIT 1)
    UNION ALL
    SELECT (SELECT value FROM tlog_searchkey WHERE kind = %(kind)s AND value LIKE %(like)s
            AND value ~>~ vals.v ORDER BY value USING ~<~ LIMIT 1)
    FROM vals WHERE vals.v IS NOT NULL
), distinct_values AS (
    SELECT v FROM vals WHERE v IS NOT NULL LIMIT %(max_values)s
)
SELECT (SELECT count(*) FROM distinct_values), newest.entry_id
FROM distinct_values CROSS JOIN LATERAL (
    SELECT entry_id FROM tlog_searchkey
    WHERE kind = %(kind)s AND value = distinct_values.v AND entry_id < %(cursor)s
    ORDER BY entry_id DESC LIMIT %(limit)s
) AS newest
ORDER BY newest.entry_id DESC LIMIT %(limit)s
"""


def _ids_for_prefix(
    key: KeyMatch, *, cursor: int | None, limit: int
) -> tuple[list[int], bool] | None:
    """Entry ids under a prefix, newest first, or None when the prefix covers more than
    MAX_PREFIX_VALUES distinct identities (the caller then scans the range)."""
    like = key.value.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
    params = {
        "kind": key.kind,
        "like": like,
        "max_values": MAX_PREFIX_VALUES + 1,
        "cursor": cursor if cursor is not None else 2**63 - 1,
        "limit": limit + 1,
    }
    with connection.cursor() as cur:
        cur.execute(PREFIX_SQL, params)
        rows = cur.fetchall()
    if rows and rows[0][0] > MAX_PREFIX_VALUES:
        return None
    distinct = list(dict.fromkeys(entry_id for _, entry_id in rows))
    return distinct[:limit], len(distinct) > limit


def _ids_for_leaf(leaf_hex: str, *, cursor: int | None) -> list[int]:
    qs = Entry.objects.filter(log__kind=Log.Kind.REKOR, leaf_hash=bytes.fromhex(leaf_hex))
    if cursor is not None:
        qs = qs.filter(id__lt=cursor)
    return list(qs.values_list("id", flat=True)[:1])


def _results(entries: list[Entry]) -> list[SearchResult]:
    """Attach each entry's signer identities (emails and URIs), one query for the page."""
    identities: dict[int, list[str]] = {e.id: [] for e in entries}
    rows = SearchKey.objects.filter(
        Q(entry_id__in=list(identities)), kind__in=_IDENTITY_KINDS
    ).values_list("entry_id", "value")
    for entry_id, value in rows.order_by("id"):
        identities[entry_id].append(value)
    return [
        SearchResult(
            entry=e,
            uuid=selectors.entry_uuid(e),
            log_index=selectors.global_index(e),
            identities=identities[e.id],
        )
        for e in entries
    ]
