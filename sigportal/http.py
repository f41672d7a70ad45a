"""HTTP helpers for the API views: bounded JSON bodies and Accept-blind negotiation."""

from __future__ import annotations

import json
from typing import Any

from django.conf import settings
from rest_framework.negotiation import BaseContentNegotiation
from rest_framework.request import Request

from sigportal.errors import ApiError


class IgnoreClientContentNegotiation(BaseContentNegotiation):
    """Compatibility endpoints answer JSON whatever the Accept header says.

    sigstore-python sends `Accept: application/pem-certificate-chain` to Fulcio and still
    parses JSON; DRF's default negotiation would answer 406 (INTEROP §9 item 1).
    """

    def select_parser(self, request: Request, parsers: list[Any]) -> Any:
        return parsers[0] if parsers else None

    def select_renderer(
        self, request: Request, renderers: list[Any], format_suffix: str | None = None
    ) -> tuple[Any, str]:
        return renderers[0], renderers[0].media_type


def _depth(value: Any) -> int:
    # Iterative, so a hostile document cannot blow the Python stack here.
    deepest = 0
    stack: list[tuple[Any, int]] = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        deepest = max(deepest, depth)
        if isinstance(node, dict):
            stack.extend((v, depth + 1) for v in node.values())
        elif isinstance(node, list):
            stack.extend((v, depth + 1) for v in node)
    return deepest


def read_json_body(request: Request, *, max_bytes: int | None = None) -> Any:
    """The request body parsed as JSON, bounded in size and depth; ApiError otherwise."""
    limit = max_bytes or settings.TLOG_MAX_BODY_BYTES
    try:
        declared = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        raise ApiError(400, "bad_content_length", "Content-Length is not a number") from None
    if declared > limit:
        raise ApiError(
            413, "body_too_large", f"the request body is {declared} bytes; the limit is {limit}"
        )
    # Read from the stream, bounded: Django's request.body would apply the site-wide
    # DATA_UPLOAD_MAX_MEMORY_SIZE instead of this endpoint's own limit.
    raw = request._request.read(limit + 1)
    if len(raw) > limit:
        raise ApiError(413, "body_too_large", f"the request body is over {limit} bytes")
    if not raw:
        raise ApiError(400, "empty_body", "the request body is empty; send a JSON document")
    try:
        value = json.loads(raw)
    except RecursionError:
        raise ApiError(400, "too_deep", "the JSON document is nested too deeply") from None
    except ValueError as exc:
        raise ApiError(400, "malformed_json", f"the body is not valid JSON: {exc}") from None
    if _depth(value) > settings.TLOG_MAX_JSON_DEPTH:
        raise ApiError(
            400,
            "too_deep",
            f"the JSON document is nested deeper than {settings.TLOG_MAX_JSON_DEPTH}",
        )
    return value


def read_json_object(
    request: Request, *, allowed: set[str], max_bytes: int | None = None
) -> dict[str, Any]:
    """A bounded JSON body that must be an object with only `allowed` members."""
    value = read_json_body(request, max_bytes=max_bytes)
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_request", "the body must be a JSON object")
    unknown = set(value) - allowed
    if unknown:
        raise ApiError(400, "malformed_request", f"unknown fields: {sorted(unknown)}")
    return value


def query_int(request: Request, name: str, *, required: bool, minimum: int = 0) -> int | None:
    """A non-negative integer query parameter (bounded to int64), or ApiError 400."""
    raw = request.query_params.get(name)
    if raw is None or raw == "":
        if required:
            raise ApiError(400, "missing_parameter", f"the query parameter {name} is required")
        return None
    # isdecimal() alone admits other scripts' digits that int() may refuse: ASCII only.
    if not (raw.isascii() and raw.isdecimal()) or len(raw) > 19 or int(raw) >= 2**63:
        raise ApiError(
            400, "bad_parameter", f"{name} must be an integer between {minimum} and 2^63-1"
        )
    value = int(raw)
    if value < minimum:
        raise ApiError(400, "bad_parameter", f"{name} must be at least {minimum}")
    return value
