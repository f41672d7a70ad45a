"""The OpenAPI schema's generator: drf-spectacular's, with the error answers every
operation can give written into each operation.

Every view answers a caller's mistake with a 4xx and one JSON error body
(sigportal/errors.py), but the views' own `extend_schema` declarations name only the
statuses particular to them. A client generated from the schema, or a tester holding the
server to it (schemathesis, in sigportal/tests/test_api_conformance.py), must know the
rest: any operation may answer 400 (a malformed query or body), one that authenticates
401, one with permissions 403, one with a path parameter 404, one with a body 413 (the
request size cap), one with a query 414 (gunicorn's request-line cap).
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.openapi import AutoSchema
from drf_spectacular.utils import OpenApiParameter, extend_schema_field
from rest_framework import serializers
from rest_framework.permissions import AllowAny


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
    "413": "The request body is larger than the instance accepts.",
    "409": "The entry or record exists already.",
    "503": "The log is not served: its stored tiles disagree with its signed checkpoint.",
    "414": (
        "The request line is longer than the web server accepts (gunicorn: 4,094 bytes); "
        "answered by gunicorn itself, as an HTML page."
    ),
}


_BARE_OBJECT = {"type": "object", "additionalProperties": {}}


class SigportalAutoSchema(AutoSchema):
    def get_operation(self, *args: Any, **kwargs: Any) -> dict[str, Any] | None:
        operation: dict[str, Any] | None = super().get_operation(*args, **kwargs)
        if operation is None:
            return None
        statuses = ["400"]
        if getattr(self.view, "authentication_classes", ()):
            statuses.append("401")
        permissions = getattr(self.view, "permission_classes", ())
        if any(not issubclass(p, AllowAny) for p in permissions):
            statuses.append("403")
        if any(p.get("in") == "path" for p in operation.get("parameters", [])):
            statuses.append("404")
        if "requestBody" in operation:
            statuses.append("413")
        if any(p.get("in") == "query" for p in operation.get("parameters", [])):
            statuses.append("414")
        error = self.resolve_serializer(ApiErrorOutput, "response").ref
        responses = operation.setdefault("responses", {})
        for status in statuses:
            answer = responses.setdefault(status, {})
            if status == "414":
                answer["content"] = {"text/html": {"schema": {"type": "string"}}}
        for status, answer in responses.items():
            if int(status) < 400:
                continue
            answer["description"] = answer.get("description") or _DESCRIPTIONS.get(status, "")
            content = answer.setdefault("content", {})
            # An error a view declared as a bare object (or not at all) is the error shape.
            declared = content.get("application/json", {}).get("schema")
            if status != "414" and declared in (None, _BARE_OBJECT):
                content["application/json"] = {"schema": error}
        return operation


def int_query(
    name: str, *, required: bool = False, minimum: int = 0, **kwargs: Any
) -> OpenApiParameter:
    """A query parameter that sigportal.http.query_int reads: decimal ASCII digits,
    `minimum` to 2^63-1 (an empty value counts as absent)."""
    schema = {"type": "integer", "format": "int64", "minimum": minimum, "maximum": 2**63 - 1}
    return OpenApiParameter(name, schema, required=required, **kwargs)
