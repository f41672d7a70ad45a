"""The portal's public pages: log status, search, entries, and the log with its proofs.

Server-rendered and complete without JavaScript; static/js/verify.js only adds the
in-browser checks. Views validate, call selectors, and render. Entries are
attacker-controlled: templates rely on autoescaping and nothing here marks data safe.
"""

from __future__ import annotations

import base64
import binascii
import itertools
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import urlencode

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils import timezone

from tlog import rekor, selectors
from tlog.core import merkle
from tlog.entry_details import entry_details
from tlog.errors import LogFaulty, LogUnavailable
from tlog.models import Entry, Log
from tlog.search import QueryError, parse_cursor, parse_query, search_run

HOURS = 48
SEARCH_PAGE_SIZE = 25
CHECKPOINTS_PER_PAGE = 20
_MAX_INT64 = 2**63 - 1
# Log states in which proofs cannot be served: say so on the page with a 503.
_UNSERVABLE = (LogUnavailable, LogFaulty, selectors.TilesMissing)


def _error(request: HttpRequest, status: int, title: str, message: str) -> HttpResponse:
    context = {"title": title, "message": message}
    return render(request, "tlog/error.html", context, status=status)


# --- home ------------------------------------------------------------------------------


@dataclass(frozen=True)
class HourBar:
    """One bar of the entries-per-hour chart, with its SVG geometry (no inline styles:
    the Content-Security-Policy forbids them, SVG attributes are fine)."""

    start: datetime
    label: str  # formatted here: the date filter on 96 rows cost more than the queries
    count: int
    x: int
    y: int
    height: int


def home(request: HttpRequest) -> HttpResponse:
    logs = [_log_status(log) for log in selectors.logs_active()]
    return render(request, "tlog/home.html", {"logs": logs, "hours": HOURS})


def _log_status(log: Log) -> dict[str, Any]:
    return {
        "log": log,
        "checkpoint": selectors.checkpoint_latest(log),
        "frozen": selectors.logs_frozen(kind=log.kind),
        "hourly": _hourly(log),
    }


def _hourly(log: Log) -> list[HourBar]:
    """Entries per hour over the last HOURS hours, from checkpoint sizes (never a scan
    of the entries): the difference of the log's size at successive hour boundaries."""
    now = timezone.now()
    hour = now.replace(minute=0, second=0, microsecond=0)
    bounds = [hour - timedelta(hours=HOURS - 1 - i) for i in range(HOURS)] + [now]
    sizes = selectors.log_sizes_at(log, bounds)
    counts = [max(0, b - a) for a, b in itertools.pairwise(sizes)]
    peak = max(counts) or 1
    bars = []
    for i, count in enumerate(counts):
        height = round(96 * count / peak)
        label = bounds[i].strftime("%Y-%m-%d %H:00")
        bars.append(HourBar(bounds[i], label, count, x=i * 10, y=100 - height, height=height))
    return bars


# --- search ----------------------------------------------------------------------------


def search(request: HttpRequest) -> HttpResponse:
    text = request.GET.get("q", "")
    context: dict[str, Any] = {"q": text}
    if not text.strip():
        return render(request, "tlog/search.html", context)
    try:
        query = parse_query(text)
        cursor = parse_cursor(request.GET.get("cursor"))
    except QueryError as exc:
        context["error"] = str(exc)
        return render(request, "tlog/search.html", context, status=400)
    page = search_run(query, cursor=cursor, limit=SEARCH_PAGE_SIZE)
    context.update(query=query, page=page, first_page=cursor is None)
    if page.next_cursor is not None:
        context["next_url"] = "?" + urlencode({"q": text, "cursor": page.next_cursor})
    return render(request, "tlog/search.html", context)


# --- entries ---------------------------------------------------------------------------


def entry_by_index(request: HttpRequest, index: int) -> HttpResponse:
    if index > _MAX_INT64:
        raise Http404("no such log index")
    try:
        entry = selectors.entry_by_global_index(index)
    except selectors.NotFound as exc:
        return _error(request, 404, "No such entry", str(exc))
    return redirect("tlog-entry", uuid=selectors.entry_uuid(entry))


def entry(request: HttpRequest, uuid: str) -> HttpResponse:
    try:
        found = selectors.entry_by_uuid(uuid)
    except ValueError as exc:
        return _error(request, 400, "Not an entry UUID", str(exc))
    except selectors.NotFound as exc:
        return _error(request, 404, "No such entry", str(exc))
    try:
        document = rekor.entry_document(found)
    except _UNSERVABLE as exc:
        return _error(request, 503, "The log cannot serve this entry now", str(exc))
    return render(request, "tlog/entry.html", _entry_context(found, document))


def _entry_context(found: Entry, document: dict[str, Any]) -> dict[str, Any]:
    ((uuid, doc),) = document.items()
    verification = doc["verification"]
    proof = verification["inclusionProof"]
    log = found.log
    verify_data = {
        "uuid": uuid,
        "body": doc["body"],
        "logIndex": proof["logIndex"],
        "treeSize": proof["treeSize"],
        "hashes": proof["hashes"],
        "rootHash": proof["rootHash"],
        "checkpoint": proof["checkpoint"],
        "globalIndex": doc["logIndex"],
        "integratedTime": doc["integratedTime"],
        "logID": doc["logID"],
        "set": verification["signedEntryTimestamp"],
        **_key_data(log),
    }
    return {
        "uuid": uuid,
        "entry": found,
        "log": log,
        "doc": doc,
        "proof": proof,
        "details": entry_details(bytes(found.body)),
        "integrated_at": datetime.fromtimestamp(found.integrated_time, UTC),
        "verify_data": verify_data,
        "public_key_pem": _public_key_pem(log),
    }


def _key_data(log: Log) -> dict[str, str]:
    """What verify.js needs to check the log's signatures with WebCrypto."""
    spki = bytes(log.public_key_der)
    key = serialization.load_der_public_key(spki)
    algorithm = "ed25519" if isinstance(key, ed25519.Ed25519PublicKey) else "ecdsa-p256"
    return {
        "publicKey": base64.b64encode(spki).decode(),
        "keyAlgorithm": algorithm,
        "signerName": log.signer_name,
        "origin": log.origin,
    }


def _public_key_pem(log: Log) -> str:
    key = serialization.load_der_public_key(bytes(log.public_key_der))
    pem = key.public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return pem.decode("ascii")


# --- the log ---------------------------------------------------------------------------


class _BadParameter(ValueError):
    pass


def log_page(request: HttpRequest, tree_id: int | None = None) -> HttpResponse:
    try:
        log = _log_for_page(tree_id)
        before = _int_param(request, "before", minimum=1)
    except selectors.NotFound as exc:
        return _error(request, 404, "No such log", str(exc))
    except _BadParameter as exc:
        return _error(request, 400, "Bad page link", str(exc))
    except LogUnavailable as exc:
        return _error(request, 503, "No log yet", str(exc))
    checkpoints, next_before = selectors.checkpoints_page(
        log, before=before, limit=CHECKPOINTS_PER_PAGE
    )
    context: dict[str, Any] = {
        "log": log,
        "checkpoints": checkpoints,
        "public_key_pem": _public_key_pem(log),
        "shards": selectors.logs_of_kind(kind=log.kind),
        "page_url": reverse("tlog-log-shard", args=[log.tree_id]),
        "next_before": next_before,
    }
    status = _consistency_context(request, log, context)
    return render(request, "tlog/log.html", context, status=status)


def _log_for_page(tree_id: int | None) -> Log:
    if tree_id is None:
        return selectors.log_active(kind=Log.Kind.REKOR)
    log = Log.objects.filter(tree_id=tree_id).first() if tree_id <= _MAX_INT64 else None
    if log is None:
        raise selectors.NotFound(f"no log with tree id {tree_id}")
    return log


def _int_param(request: HttpRequest, name: str, *, minimum: int) -> int | None:
    raw = request.GET.get(name, "").strip()
    if not raw:
        return None
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 19 or int(raw) > _MAX_INT64:
        raise _BadParameter(f"{name} must be a whole number")
    if int(raw) < minimum:
        raise _BadParameter(f"{name} must be at least {minimum}")
    return int(raw)


def _consistency_context(request: HttpRequest, log: Log, context: dict[str, Any]) -> int:
    """Fill in the consistency check if asked for; the page's HTTP status."""
    context["form"] = {k: request.GET.get(k, "") for k in ("first", "second", "old_root")}
    if not request.GET.get("first"):
        return 200
    try:
        context["consistency"] = _consistency(request, log)
    except _BadParameter as exc:
        context["consistency_error"] = str(exc)
        return 400
    except _UNSERVABLE as exc:
        context["consistency_error"] = f"the log cannot serve proofs now: {exc}"
        return 503
    return 200


def _consistency(request: HttpRequest, log: Log) -> dict[str, Any]:
    first = _int_param(request, "first", minimum=1)
    second = _int_param(request, "second", minimum=1) or log.tree_size
    assert first is not None
    if first > second:
        raise _BadParameter("the first size must not be larger than the second")
    if second > log.tree_size:
        raise _BadParameter(f"the second size is beyond the tree size {log.tree_size}")
    rekor.latest_checkpoint_served(log)  # refuse a faulty log's proofs
    given_root = _root_param(request.GET.get("old_root", ""))
    old_root = given_root or selectors.tree_root(log, first)
    new_root = selectors.tree_root(log, second)
    proof = selectors.consistency_proof(log, first, second)
    try:
        merkle.verify_consistency(first, second, proof, old_root, new_root)
        problem = ""
    except merkle.ProofError as exc:
        problem = str(exc)
    return {
        "first": first,
        "second": second,
        "old_root": old_root.hex(),
        "old_root_given": given_root is not None,
        "new_root": new_root.hex(),
        "proof": [h.hex() for h in proof],
        "verified": not problem,
        "problem": problem,
        "data": {
            "oldSize": first,
            "newSize": second,
            "oldRoot": old_root.hex(),
            "newRoot": new_root.hex(),
            "proof": [h.hex() for h in proof],
        },
    }


def _root_param(text: str) -> bytes | None:
    """A root hash someone remembers: 64 hex digits, or base64 as in a checkpoint."""
    text = text.strip()
    if not text:
        return None
    try:
        root = bytes.fromhex(text) if len(text) == 64 else base64.b64decode(text, validate=True)
    except (ValueError, binascii.Error):
        root = b""
    if len(root) != 32:
        raise _BadParameter("the root hash must be 64 hex digits or 44 characters of base64")
    return root
