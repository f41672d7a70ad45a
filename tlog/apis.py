"""The Rekor v1-compatible REST API (INTEROP §4) and the C2SP tlog-tiles read API.

Views only translate HTTP: they validate input, call one service or selector, and
render. Compatibility views answer JSON whatever the Accept header says, take no
cookies (so no CSRF) and live at exact paths (no slash redirects).
"""

from __future__ import annotations

import base64
import binascii
import re
from typing import Any

from cryptography import x509
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from django.conf import settings
from django.http import HttpResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema, extend_schema_view
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sigportal import keys
from sigportal.errors import ApiError
from sigportal.http import (
    IgnoreClientContentNegotiation,
    query_int,
    read_json_body,
    read_json_object,
)
from sigportal.schema import errors, int_query
from tlog import openapi, rekor, selectors, services
from tlog.core import merkle, tiles
from tlog.kinds import EntryError, accept_proposed_entry
from tlog.models import Log

REKOR = Log.Kind.REKOR
_MAX_RETRIEVE = 10  # Rekor's own bound on entryUUIDs/logIndexes/entries per request


class CompatView(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)
    content_negotiation_class = IgnoreClientContentNegotiation

    def handle_exception(self, exc: Exception) -> Response:
        return super().handle_exception(_translate(exc))


class RekorView(CompatView):
    """Errors in Rekor's own model, `{"code": <HTTP status>, "message": ...}`: cosign's
    generated client decodes `code` as an integer (a string breaks, e.g., its handling of
    409 for an existing entry). Our stable error code travels as `reason`."""

    def handle_exception(self, exc: Exception) -> Response:
        return rekor_error(super().handle_exception(exc))


def rekor_error(response: Response) -> Response:
    data = response.data
    if isinstance(data, dict) and isinstance(data.get("code"), str):
        response.data = {
            "code": response.status_code,
            "message": data.get("message", ""),
            "reason": data["code"],
        }
    return response


def _translate(exc: Exception) -> Exception:
    if isinstance(exc, EntryError):
        return ApiError(400, exc.code, exc.message)
    if isinstance(exc, selectors.NotFound):
        return ApiError(404, "not_found", str(exc))
    if isinstance(exc, services.LogUnavailable):
        return ApiError(503, "log_unavailable", str(exc))
    if isinstance(exc, services.LogFaulty | selectors.TilesMissing):
        return ApiError(
            503, "log_inconsistent", "the log failed a consistency check and is not served"
        )
    return exc


def _require_healthy(log: Log) -> Log:
    rekor.latest_checkpoint_served(log)
    return log


def _tree_id_param(request: Request) -> int | None:
    return query_int(request, "treeID", required=False)


_ENTRY_DOC = openapi.LOG_ENTRY


class LogEntriesApi(RekorView):
    @extend_schema(
        operation_id="createLogEntry",
        summary="Add an entry (hashedrekord 0.0.1, dsse 0.0.1, intoto 0.0.2)",
        description=(
            "Verifies the entry's signature, integrates it into the log and answers once it is "
            "covered by a signed checkpoint: `{uuid: {body, integratedTime, logID, logIndex, "
            "verification: {inclusionProof, signedEntryTimestamp}}}`. 409 if already logged."
        ),
        request=OpenApiTypes.OBJECT,
        responses={201: _ENTRY_DOC, **errors(400, 409, 503)},
    )
    def post(self, request: Request) -> Response:
        proposed = read_json_body(request)
        accepted = accept_proposed_entry(proposed)
        try:
            answer = services.entry_submit_answered(kind=REKOR, accepted=accepted)
        except services.DuplicateEntry as dup:
            uuid = selectors.entry_uuid(dup.existing)
            return rekor_error(
                Response(
                    {"code": "entry_exists", "message": f"an equivalent entry exists: {uuid}"},
                    status=409,
                    headers={"Location": f"/api/v1/log/entries/{uuid}"},
                )
            )
        doc = rekor.entry_document(answer.entry, answer.checkpoint, answer.proof())
        uuid = next(iter(doc))
        return Response(doc, status=201, headers={"Location": f"/api/v1/log/entries/{uuid}"})

    @extend_schema(
        operation_id="getLogEntryByIndex",
        summary="Get an entry by its (global) log index",
        parameters=[int_query("logIndex", required=True)],
        responses={200: _ENTRY_DOC, **errors(404, 503)},
    )
    def get(self, request: Request) -> Response:
        index = query_int(request, "logIndex", required=True)
        assert index is not None
        entry = selectors.entry_by_global_index(index)
        return Response(rekor.entry_document(entry))


class LogEntryByUuidApi(RekorView):
    @extend_schema(
        operation_id="getLogEntryByUUID",
        summary="Get an entry by UUID (64 hex leaf hash, or 80 hex with the tree id)",
        parameters=[
            OpenApiParameter(
                "uuid",
                {"type": "string", "pattern": "^(?:[0-9a-fA-F]{16})?[0-9a-fA-F]{64}$"},
                OpenApiParameter.PATH,
            )
        ],
        responses={200: _ENTRY_DOC, **errors(400, 404, 503)},
    )
    def get(self, request: Request, uuid: str) -> Response:
        try:
            entry = selectors.entry_by_uuid(uuid)
        except ValueError as exc:
            raise ApiError(400, "bad_uuid", str(exc)) from None
        return Response(rekor.entry_document(entry))


def _str_list(value: Any, name: str) -> list[Any]:
    if value is None:
        return []
    if not isinstance(value, list):
        raise ApiError(400, "malformed_request", f"{name} must be a list")
    if len(value) > _MAX_RETRIEVE:
        raise ApiError(400, "too_many", f"at most {_MAX_RETRIEVE} {name} per request")
    return value


class LogEntriesRetrieveApi(RekorView):
    @extend_schema(
        operation_id="searchLogQuery",
        summary="Retrieve entries by entryUUIDs, logIndexes or proposed entries",
        description="Answers a JSON list of entry documents, in the order asked for.",
        request=OpenApiTypes.OBJECT,
        responses={200: {"type": "array", "items": openapi.LOG_ENTRY}, **errors(503)},
    )
    def post(self, request: Request) -> Response:
        query = read_json_object(request, allowed={"entryUUIDs", "logIndexes", "entries"})
        found: list[dict[str, Any]] = []
        checkpoints: dict[int, Any] = {}  # one checkpoint read per shard, not per entry

        def document(entry: Any) -> dict[str, Any]:
            if entry.log_id not in checkpoints:
                checkpoints[entry.log_id] = rekor.latest_checkpoint_served(entry.log)
            return rekor.entry_document(entry, checkpoints[entry.log_id])

        for uuid in _str_list(query.get("entryUUIDs"), "entryUUIDs"):
            if not isinstance(uuid, str):
                raise ApiError(400, "malformed_request", "entryUUIDs must be strings")
            try:
                found.append(document(selectors.entry_by_uuid(uuid)))
            except ValueError as exc:
                raise ApiError(400, "bad_uuid", str(exc)) from None
            except selectors.NotFound:
                continue
        for index in _str_list(query.get("logIndexes"), "logIndexes"):
            if not isinstance(index, int) or isinstance(index, bool) or not 0 <= index < 2**63:
                raise ApiError(400, "malformed_request", "logIndexes must be non-negative integers")
            try:
                found.append(document(selectors.entry_by_global_index(index)))
            except selectors.NotFound:
                continue
        for proposed in _str_list(query.get("entries"), "entries"):
            accepted = accept_proposed_entry(proposed)
            leaf = merkle.leaf_hash(accepted.canonical_body).hex()
            try:
                found.append(document(selectors.entry_by_uuid(leaf)))
            except selectors.NotFound:
                continue
        return Response(found)


@extend_schema_view(post=extend_schema(exclude=True))
class LogEntriesRetrieveNoSlashApi(LogEntriesRetrieveApi):
    """The same route without Rekor's trailing slash (documented once, above)."""


class LogInfoApi(RekorView):
    @extend_schema(
        operation_id="getLogInfo",
        summary="The active shard's signed tree head, and every inactive shard's",
        parameters=[int_query("treeID")],
        responses={200: openapi.LOG_INFO, **errors(404, 503)},
    )
    def get(self, request: Request) -> Response:
        log = _require_healthy(
            selectors.log_by_tree_id(kind=REKOR, tree_id=_tree_id_param(request))
        )
        doc = rekor.tree_document(log)
        doc["inactiveShards"] = [
            rekor.tree_document(shard)
            for shard in selectors.logs_of_kind(kind=REKOR)
            if shard.state == Log.State.FROZEN and shard.pk != log.pk
        ]
        return Response(doc)


class LogPublicKeyApi(RekorView):
    @extend_schema(
        operation_id="getPublicKey",
        summary="The log's public key (PEM)",
        parameters=[int_query("treeID")],
        responses={(200, "application/x-pem-file"): OpenApiTypes.STR, **errors(404)},
    )
    def get(self, request: Request) -> HttpResponse:
        log = selectors.log_by_tree_id(kind=REKOR, tree_id=_tree_id_param(request))
        pem = serialization.load_der_public_key(bytes(log.public_key_der)).public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return HttpResponse(pem, content_type="application/x-pem-file")


class LogProofApi(RekorView):
    @extend_schema(
        operation_id="getLogProof",
        summary="Consistency proof between two tree sizes (RFC 6962)",
        parameters=[
            int_query("firstSize", minimum=1),
            int_query("lastSize", required=True, minimum=1),
            int_query("treeID"),
        ],
        responses={200: openapi.CONSISTENCY_PROOF, **errors(400, 404, 503)},
    )
    def get(self, request: Request) -> Response:
        log = _require_healthy(
            selectors.log_by_tree_id(kind=REKOR, tree_id=_tree_id_param(request))
        )
        first = query_int(request, "firstSize", required=False, minimum=1) or 1
        last = query_int(request, "lastSize", required=True, minimum=1)
        assert last is not None
        if first > last:
            raise ApiError(400, "bad_parameter", "firstSize must not be greater than lastSize")
        if last > log.tree_size:
            raise ApiError(
                400, "bad_parameter", f"lastSize {last} is beyond the tree size {log.tree_size}"
            )
        proof = selectors.consistency_proof(log, first, last)
        return Response(
            {
                "rootHash": selectors.tree_root(log, last).hex(),
                "hashes": [h.hex() for h in proof],
            }
        )


_SHA_RE = re.compile(
    r"^(?:(sha256):)?([0-9a-fA-F]{64})$|^(sha384):([0-9a-fA-F]{96})$|^(sha512):([0-9a-fA-F]{128})$"
)


def _hash_key(value: Any) -> str:
    if not isinstance(value, str):
        raise ApiError(400, "malformed_request", "hash must be a string like sha256:<hex>")
    match = _SHA_RE.match(value.strip())
    if not match:
        raise ApiError(400, "bad_hash", "hash must be sha256:<64 hex>, sha384:<96> or sha512:<128>")
    groups = [g for g in match.groups() if g]
    algorithm, digest = groups if len(groups) == 2 else ["sha256", groups[0]]
    return f"{algorithm}:{digest.lower()}"


def _key_fingerprint(value: Any) -> str:
    if not isinstance(value, dict) or not isinstance(value.get("content"), str):
        raise ApiError(400, "malformed_request", "publicKey must be {format, content: base64}")
    fmt = value.get("format", "x509")
    if fmt not in ("x509", "pkix"):
        raise ApiError(400, "unsupported_format", "publicKey.format must be x509 or pkix")
    try:
        raw = base64.b64decode(value["content"], validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_base64", "publicKey.content is not valid base64") from None
    try:
        key = (
            x509.load_pem_x509_certificate(raw).public_key()
            if b"CERTIFICATE" in raw
            else serialization.load_pem_public_key(raw)
            if raw.lstrip().startswith(b"-----")
            else serialization.load_der_public_key(raw)
        )
    except (ValueError, UnsupportedAlgorithm):
        raise ApiError(
            400, "bad_public_key", "publicKey.content is not a key or certificate"
        ) from None
    return "sha256:" + keys.key_fingerprint(key).hex()


class IndexRetrieveApi(RekorView):
    @extend_schema(
        operation_id="searchIndex",
        summary="Find entry UUIDs by artifact hash, public key, email or SAN subject",
        description=(
            "Body: any of `hash` (sha256:<hex>), `publicKey` {format: x509|pkix, content}, "
            "`email`, `subject` (a SAN email or URI), and `operator` (and|or, default or). "
            "Answers a JSON list of entry UUIDs from every shard, in log order. "
            "Paginated: `?limit=` (default and maximum SIGPORTAL_SEARCH_PAGE_SIZE) and "
            "`?cursor=`; the next page's URL is in the `Link` header (rel=next)."
        ),
        parameters=[int_query("limit", minimum=1), int_query("cursor")],
        request=OpenApiTypes.OBJECT,
        responses={200: {"type": "array", "items": {"type": "string"}}},
    )
    def post(self, request: Request) -> Response:
        query = read_json_object(
            request, allowed={"hash", "publicKey", "email", "subject", "operator"}
        )
        operator = query.get("operator", "or") or "or"
        if operator not in ("and", "or"):
            raise ApiError(400, "malformed_request", "operator must be and or or")
        criteria: dict[str, list[str]] = {}
        if "hash" in query:
            hashed = _hash_key(query["hash"])
            criteria.setdefault(hashed.split(":", 1)[0], []).append(hashed)
        if "publicKey" in query:
            criteria.setdefault("key", []).append(_key_fingerprint(query["publicKey"]))
        for field in ("email", "subject"):
            if field in query:
                kind, value = _identity_key(field, query[field])
                criteria.setdefault(kind, []).append(value)
        if not criteria:
            raise ApiError(400, "malformed_request", "give hash, publicKey, email or subject")
        limit = min(
            query_int(request, "limit", required=False, minimum=1)
            or settings.TLOG_SEARCH_PAGE_SIZE,
            settings.TLOG_SEARCH_PAGE_SIZE,
        )
        cursor = query_int(request, "cursor", required=False) or 0
        page = selectors.entries_search(
            criteria=criteria, operator=operator, cursor=cursor, limit=limit
        )
        headers = {}
        if page.next_cursor is not None:
            headers["Link"] = (
                f'</api/v1/index/retrieve?limit={limit}&cursor={page.next_cursor}>; rel="next"'
            )
        return Response(page.uuids, headers=headers)


def _identity_key(field: str, value: Any) -> tuple[str, str]:
    """A SAN search key: emails are stored lowercased (as Rekor does), URIs as they are."""
    if not isinstance(value, str) or not value or len(value) > 1024:
        raise ApiError(400, "malformed_request", f"{field} must be a non-empty string")
    if field == "email" or ("@" in value and "://" not in value):
        return "email", value.lower()
    return "uri", value


# --- C2SP tlog-tiles -------------------------------------------------------------------

_IMMUTABLE = "public, max-age=31536000, immutable"
_SHORT = "public, max-age=5"


class TileCheckpointApi(CompatView):
    @extend_schema(
        operation_id="tilesCheckpoint",
        summary="The log's newest checkpoint (C2SP tlog-tiles)",
        responses={(200, "text/plain"): OpenApiTypes.STR, **errors(503)},
    )
    def get(self, request: Request, tree_id: str) -> HttpResponse:
        checkpoint = rekor.latest_checkpoint_served(_log_by_any_tree_id(tree_id))
        response = HttpResponse(checkpoint.note, content_type="text/plain; charset=utf-8")
        response["Cache-Control"] = "no-cache"
        return response


class TileApi(CompatView):
    @extend_schema(
        operation_id="tilesTile",
        summary="A hash tile or an entry bundle (C2SP tlog-tiles)",
        responses={
            (200, "application/octet-stream"): OpenApiTypes.BINARY,
            **errors(503),
        },
    )
    def get(self, request: Request, tree_id: str, path: str) -> HttpResponse:
        log = _require_healthy(_log_by_any_tree_id(tree_id))
        try:
            level, index, width = tiles.parse_tile_path("tile/" + path)
        except ValueError as exc:
            raise ApiError(404, "not_found", f"not a tile path: {exc}") from None
        want = width or tiles.TILE_WIDTH
        if level == tiles.ENTRIES_LEVEL:
            data = _entry_bundle(log, index, want)
        else:
            data = _hash_tile(log, level, index, want)
        response = HttpResponse(data, content_type="application/octet-stream")
        response["Cache-Control"] = _IMMUTABLE if width is None else _SHORT
        return response


def _log_by_any_tree_id(tree_id: int | str) -> Log:
    tree_id = int(tree_id)  # the routes only let digits through
    log = Log.objects.filter(tree_id=tree_id).first() if tree_id < 2**63 else None
    if log is None:
        raise selectors.NotFound(f"no log with tree id {tree_id}")
    return log


def _hash_tile(log: Log, level: int, index: int, width: int) -> bytes:
    try:
        found = selectors.tiles_fetch(log.id, [(level, index, width)])
    except selectors.TilesMissing:
        raise selectors.NotFound(f"tile {level}/{index} of width {width} does not exist") from None
    return found[(level, index)][: width * tiles.HASH_SIZE]


def _entry_bundle(log: Log, index: int, width: int) -> bytes:
    entries = selectors.entries_in_range(log, index * tiles.TILE_WIDTH, width)
    if len(entries) < width:
        raise selectors.NotFound(f"entry bundle {index} of width {width} does not exist")
    return tiles.encode_entry_bundle([bytes(e.body) for e in entries])
