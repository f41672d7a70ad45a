"""The OpenAPI schema's generator: drf-spectacular's, with the error answers every
operation can give written into each operation.

Every view answers a caller's mistake with a 4xx and one JSON error body
(sigportal/errors.py), but the views' own `extend_schema` declarations name only the
statuses particular to them. A client generated from the schema, or a tester holding the
server to it (schemathesis, in sigportal/tests/test_api_conformance.py), must know the
rest: any operation may answer 400 (a malformed query or body), one that authenticates
401, one with permissions 403, one with a path parameter 404, one with a body 413 (the
request size cap), one with a query or path parameter 414 (gunicorn's request-line cap).
A view declares what is its own (a 409, a 503) with `errors()`.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, OpenApiResponse, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import SAFE_METHODS, AllowAny


@extend_schema_field({"oneOf": [{"type": "string"}, {"type": "integer"}]})
class _ErrorCode(serializers.Field):
    """A string code ("not_found") on sigportal's own routes; Rekor's routes answer the
    HTTP status as a number, as Rekor does, beside a string `reason`."""


class ApiErrorOutput(serializers.Serializer):
    code = _ErrorCode()
    message = serializers.CharField()
    reason = serializers.CharField(required=False, help_text="Rekor's routes only")


_DESCRIPTIONS = {
    "400": "The request is malformed or fails validation; `message` says what to fix.",
    "401": "The credentials sent are missing, malformed, expired or revoked.",
    "403": "The caller may not do this.",
    "404": "Nothing is found at this path.",
    "409": "The entry or record exists already.",
    "413": "The request body is larger than the instance accepts.",
    "414": (
        "The request line is longer than the web server accepts (gunicorn: 4,094 bytes); "
        "answered by gunicorn itself, as an HTML page."
    ),
    "503": (
        "Not available now: the log has no checkpoint yet or is faulty (its stored tiles "
        "disagree with its signed checkpoint), an upload waited too long for integration, "
        "or the CA or the identity provider could not be reached."
    ),
}


class SigportalAutoSchema(AutoSchema):
    """Adds to each operation the error statuses it can give and does not declare."""

    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        places = {p.get("in") for p in operation.get("parameters", [])}
        statuses = ["400"]
        if getattr(self.view, "authentication_classes", ()):
            statuses.append("401")
        # Reads are open to all (AllowAny, IsAuthenticatedOrReadOnly; IsAuthenticated
        # answers a missing token 401): 403 is a write's answer to a caller without the
        # role. A composed permission (A | B) is an instance, not a class: counted too.
        permissions = self.view.get_permissions()
        if self.method not in SAFE_METHODS and any(
            not isinstance(p, AllowAny) for p in permissions
        ):
            statuses.append("403")
        if "path" in places:
            statuses.append("404")
        if "requestBody" in operation:
            statuses.append("413")
        if places & {"path", "query"}:
            statuses.append("414")
        error = self.resolve_serializer(ApiErrorOutput, "response").ref
        responses = operation.setdefault("responses", {})
        for status in statuses:
            if status in responses:  # the view's own declaration (errors()) stands
                continue
            body = {"text/html": {"schema": {"type": "string"}}} if status == "414" else None
            responses[status] = {"content": body or {"application/json": {"schema": error}}}
        for status, answer in responses.items():
            if status.isdigit() and int(status) >= 400 and not answer.get("description"):
                answer["description"] = _DESCRIPTIONS.get(status, "")
        return operation


def errors(
    *statuses: int, shape: type[serializers.Serializer] = ApiErrorOutput
) -> dict[int, OpenApiResponse]:
    """`responses={200: ..., **errors(404, 503)}`: error statuses of the view's own, with
    the error body (`shape`: the accounts API names its own, whose code is a string)."""
    return {status: OpenApiResponse(shape) for status in statuses}


def int_query(
    name: str, *, required: bool = False, minimum: int = 0, **kwargs: Any
) -> OpenApiParameter:
    """A query parameter that sigportal.http.query_int reads: decimal ASCII digits,
    `minimum` to 2^63-1 (an empty value counts as absent)."""
    schema = {"type": "integer", "format": "int64", "minimum": minimum, "maximum": 2**63 - 1}
    return OpenApiParameter(name, schema, required=required, **kwargs)
