"""`GET /api/v1/search`: the portal's search box as JSON (same syntax, same results).

Errors are `{"code", "message"}` through the project's exception handler.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.utils import OpenApiParameter, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from sigportal.errors import ApiError
from tlog.search import PAGE_SIZE, QueryError, SearchResult, parse_cursor, parse_query, search_run

MAX_LIMIT = 100


class SearchResultSerializer(serializers.Serializer[SearchResult]):
    uuid = serializers.CharField()
    logIndex = serializers.IntegerField(source="log_index")  # Rekor's spellings
    treeID = serializers.CharField(source="entry.log.tree_id")
    kind = serializers.CharField(source="entry.kind")
    apiVersion = serializers.CharField(source="entry.api_version")
    integratedTime = serializers.IntegerField(source="entry.integrated_time")
    identities = serializers.ListField(child=serializers.CharField())


_ERROR = inline_serializer(
    "SearchError", {"code": serializers.CharField(), "message": serializers.CharField()}
)


class SearchApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    @extend_schema(
        operation_id="searchEntries",
        summary="Search the log: email, identity URI (prefix with *), digest, index, UUID...",
        description=(
            "The portal's search box: `q` is an email, an identity URI (a trailing `*` "
            "matches a prefix), `sha256:<hex>` (or 64 bare hex digits, which also match an "
            "entry UUID), a log index, an 80-hex entry UUID, `serial:<hex>`, "
            "`key:sha256:<hex>` or `issuer:<url>`. Results come from every Rekor shard, "
            "newest first; pass `nextCursor` back as `cursor` for the next page."
        ),
        parameters=[
            OpenApiParameter("q", str, required=True),
            OpenApiParameter("cursor", str),
            OpenApiParameter(
                "limit",
                {"type": "integer", "minimum": 1, "maximum": MAX_LIMIT},
                description=f"1 to {MAX_LIMIT}, default {PAGE_SIZE}",
            ),
        ],
        responses={
            200: inline_serializer(
                "SearchPage",
                {
                    "query": serializers.CharField(),
                    "results": SearchResultSerializer(many=True),
                    "nextCursor": serializers.CharField(allow_null=True),
                },
            ),
            400: _ERROR,
        },
    )
    def get(self, request: Request) -> Response:
        try:
            query = parse_query(request.query_params.get("q", ""))
            cursor = parse_cursor(request.query_params.get("cursor"))
        except QueryError as exc:
            raise ApiError(400, "bad_query", str(exc)) from None
        page = search_run(query, cursor=cursor, limit=_limit(request))
        body: dict[str, Any] = {
            "query": query.description,
            "results": SearchResultSerializer(page.results, many=True).data,
            "nextCursor": str(page.next_cursor) if page.next_cursor is not None else None,
        }
        return Response(body)


def _limit(request: Request) -> int:
    raw = request.query_params.get("limit", "")
    if not raw:
        return PAGE_SIZE
    if not (raw.isascii() and raw.isdecimal()) or not 1 <= int(raw) <= MAX_LIMIT:
        raise ApiError(400, "bad_parameter", f"limit must be between 1 and {MAX_LIMIT}")
    return int(raw)
