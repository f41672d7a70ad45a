"""Authentication for the accounts REST API: API tokens and the portal's session.

`Authorization: Bearer sp_...` names an API token; only its SHA-256 is stored, and the
token is found by that digest (an indexed equality on a hash reveals nothing through
timing about any stored token). Any Authorization header on these views must be a
valid token: a malformed, unknown or deleted one answers 401 and never falls through
to the session or to anonymous access. Without the header, the portal's session
cookie authenticates, with Django's CSRF check on unsafe methods (DRF's
SessionAuthentication). The compatibility endpoints (Rekor, Fulcio) do not use these
classes: they authenticate nobody and need no CSRF token.
"""

from __future__ import annotations

from typing import Any

from drf_spectacular.extensions import OpenApiAuthenticationExtension
from rest_framework import authentication, exceptions
from rest_framework.request import Request

from accounts import services
from accounts.models import ApiToken

_MAX_TOKEN = 100  # "sp_" + 43 characters of token_urlsafe(32); anything longer is not ours


class ApiTokenAuthentication(authentication.BaseAuthentication):
    keyword = "Bearer"

    def authenticate(self, request: Request) -> tuple[Any, ApiToken] | None:
        header = request.META.get("HTTP_AUTHORIZATION")
        if header is None:
            return None
        unverified_token = self._token_from(header)
        token = (
            ApiToken.objects.select_related("user")
            .filter(token_sha256=services.token_hash(unverified_token))
            .first()
        )
        if token is None or not token.user.is_active:
            raise exceptions.AuthenticationFailed("unknown or deleted API token")
        services.api_token_touch(token)
        return token.user, token

    def _token_from(self, header: str) -> str:
        scheme, _, value = header.strip().partition(" ")
        value = value.strip()
        if scheme.lower() != "bearer" or not value:
            raise exceptions.AuthenticationFailed(
                "use 'Authorization: Bearer sp_...' with an API token from /api/v1/account/tokens"
            )
        if (
            not value.startswith(services.TOKEN_PREFIX)
            or len(value) > _MAX_TOKEN
            or not value.isascii()
            or not value.isprintable()
            or " " in value
        ):
            raise exceptions.AuthenticationFailed("malformed API token: tokens start with sp_")
        return value

    def authenticate_header(self, request: Request) -> str:
        # Makes DRF answer 401 (not 403) to unauthenticated writes.
        return 'Bearer realm="sigportal"'


class ApiTokenScheme(OpenApiAuthenticationExtension):
    """Documents ApiTokenAuthentication in the OpenAPI schema."""

    target_class = ApiTokenAuthentication
    name = "apiToken"

    def get_security_definition(self, auto_schema: Any) -> dict[str, str]:
        return {"type": "http", "scheme": "bearer", "description": "An sp_... API token"}


# DRF's SessionAuthentication enforces CSRF on unsafe methods for session users.
AUTHENTICATION_CLASSES = (ApiTokenAuthentication, authentication.SessionAuthentication)
