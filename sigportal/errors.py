"""One error shape for the whole API: {"code": ..., "message": ...} (STYLE.md habit 8).

4xx for the caller's mistakes with a message that says what to fix; 5xx with a fixed
message, the detail only in the server log.
"""

from __future__ import annotations

import logging
from typing import Any

from django.core.exceptions import PermissionDenied, RequestDataTooBig
from django.http import Http404, HttpRequest, HttpResponse, JsonResponse
from rest_framework import exceptions, status
from rest_framework.response import Response
from rest_framework.views import set_rollback

logger = logging.getLogger("sigportal.api")


class ApiError(exceptions.APIException):
    """An error answered to the caller as {"code", "message"} with an HTTP status."""

    def __init__(self, http_status: int, code: str, message: str) -> None:
        super().__init__(detail=message, code=code)
        self.status_code = http_status
        self.code = code
        self.message = message


_DRF_CODES = {
    exceptions.ParseError: "malformed_request",
    exceptions.AuthenticationFailed: "unauthenticated",
    exceptions.NotAuthenticated: "unauthenticated",
    exceptions.PermissionDenied: "forbidden",
    exceptions.NotFound: "not_found",
    exceptions.MethodNotAllowed: "method_not_allowed",
    exceptions.NotAcceptable: "not_acceptable",
    exceptions.UnsupportedMediaType: "unsupported_media_type",
    exceptions.Throttled: "throttled",
    exceptions.ValidationError: "invalid_request",
}


def _flatten(detail: Any) -> str:
    if isinstance(detail, dict):
        return "; ".join(f"{k}: {_flatten(v)}" for k, v in detail.items())
    if isinstance(detail, list):
        return "; ".join(_flatten(v) for v in detail)
    return str(detail)


def error_body(code: str, message: str) -> dict[str, str]:
    return {"code": code, "message": message}


def api_exception_handler(exc: Exception, context: dict[str, Any]) -> Response:
    if isinstance(exc, ApiError):
        set_rollback()
        return Response(error_body(exc.code, exc.message), status=exc.status_code)
    if isinstance(exc, Http404):
        exc = exceptions.NotFound()
    elif isinstance(exc, PermissionDenied):
        exc = exceptions.PermissionDenied()
    elif isinstance(exc, RequestDataTooBig):
        return Response(error_body("body_too_large", str(exc)), status=413)
    if isinstance(exc, exceptions.APIException):
        set_rollback()
        code = next((c for t, c in _DRF_CODES.items() if isinstance(exc, t)), "bad_request")
        headers = {}
        if getattr(exc, "auth_header", None):
            headers["WWW-Authenticate"] = exc.auth_header  # type: ignore[attr-defined]
        return Response(
            error_body(code, _flatten(exc.detail)), status=exc.status_code, headers=headers
        )
    logger.exception("unhandled error in %s", context.get("view"))
    set_rollback()
    return Response(
        error_body("internal_error", "internal server error; the operator has the details"),
        status=status.HTTP_500_INTERNAL_SERVER_ERROR,
    )


_API_PREFIXES = ("/api/", "/ct/", "/tlog/")


def handler404(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(_API_PREFIXES):
        return JsonResponse(
            error_body("not_found", f"no such resource: {request.path}"), status=404
        )
    from django.views.defaults import page_not_found

    return page_not_found(request, exception or Http404())


def handler500(request: HttpRequest) -> HttpResponse:
    if request.path.startswith(_API_PREFIXES):
        return JsonResponse(
            error_body("internal_error", "internal server error; the operator has the details"),
            status=500,
        )
    from django.views.defaults import server_error

    return server_error(request)


def handler400(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    if request.path.startswith(_API_PREFIXES):
        # Never echo the exception: DisallowedHost, for one, names the allowed hosts.
        return JsonResponse(error_body("bad_request", "the request was refused"), status=400)
    from django.views.defaults import bad_request

    return bad_request(request, exception or Exception())
