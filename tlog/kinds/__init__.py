"""Rekor v1 entry kinds: validate a proposed entry, verify it, canonicalize it.

`POST /api/v1/log/entries` hands `accept_proposed_entry` the parsed JSON body;
what comes back is what the log stores (the RFC 8785 body is the Merkle leaf)
and indexes. Supported: hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2, validated
as Rekor validates them (see each module for the Rekor facts it follows).

Pure Python with no Django import (the cores rule, STYLE.md habit 3): the
client and the benchmarks use it too.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from tlog.kinds import dsse, hashedrekord, intoto
from tlog.kinds.common import (
    AcceptedEntry,
    EntryError,
    SearchKey,
    expect_object,
    expect_str,
    malformed,
    parse_json,
)

__all__ = [
    "AcceptedEntry",
    "EntryError",
    "SearchKey",
    "accept_proposed_entry",
    "body_search_keys",
    "decode_body",
]


@dataclass(frozen=True)
class _KindVersion:
    accept: Callable[[object], AcceptedEntry]
    stored_search_keys: Callable[[object], tuple[SearchKey, ...]]


_KINDS: dict[str, dict[str, _KindVersion]] = {
    module.KIND: {module.API_VERSION: _KindVersion(module.accept, module.stored_search_keys)}
    for module in (hashedrekord, dsse, intoto)
}


def accept_proposed_entry(proposed: object, *, now: datetime | None = None) -> AcceptedEntry:
    """Check a proposed Rekor entry and return what the log stores, or raise EntryError.

    `proposed` is the JSON-parsed request body (the HTTP layer bounds its size
    and depth). Every signature in it is verified. Certificates are neither
    chained nor checked against `now`: Rekor v1 does neither at upload, and
    clients check the chain and the validity period against the log's time.
    `now` is accepted so that callers need not change if that ever changes.
    """
    handler = _handler(proposed)
    unverified = expect_object(proposed, "", required=("apiVersion", "kind", "spec"))
    return handler.accept(unverified["spec"])


def decode_body(body: bytes) -> dict[str, Any]:
    """Parse a stored canonical body back into JSON for display; EntryError if garbage."""
    parsed = parse_json(body, "the stored body")
    _handler(parsed)
    document = expect_object(parsed, "", required=("apiVersion", "kind", "spec"))
    if not isinstance(document["spec"], dict):
        raise malformed("spec must be a JSON object")
    return document


def body_search_keys(body: bytes) -> tuple[SearchKey, ...]:
    """Recompute a stored body's search keys (for re-indexing).

    dsse and intoto bodies do not keep the payload, so the in-toto subject
    digests indexed at upload cannot be recovered here.
    """
    document = decode_body(body)
    return _handler(document).stored_search_keys(document["spec"])


def _handler(unverified: object) -> _KindVersion:
    if not isinstance(unverified, dict):
        raise malformed("the request body must be a JSON object")
    kind = expect_str(unverified, "kind", "")
    versions = _KINDS.get(kind)
    if versions is None:
        raise EntryError(
            "unsupported_kind",
            f"kind {kind!r} is not supported; use one of {', '.join(sorted(_KINDS))}",
        )
    api_version = expect_str(unverified, "apiVersion", "")
    handler = versions.get(api_version)
    if handler is None:
        raise EntryError(
            "unsupported_version",
            f"{kind} apiVersion {api_version!r} is not supported; use {', '.join(versions)}",
        )
    return handler
