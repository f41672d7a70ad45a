"""DOT's request validator, adapted to the development provider."""

from __future__ import annotations

from typing import Any

from oauth2_provider.oauth2_validators import OAuth2Validator
from oauthlib.common import Request

from devidp import SIGSTORE_CLIENT_ID
from devidp.services import application_ensure_sigstore
from devidp.tokens import identity_claims

# Claims a relying party can count on in every token (advertised in discovery).
DISCOVERY_CLAIMS = ["iss", "sub", "aud", "iat", "exp", "email", "email_verified"]


class DevOAuth2Validator(OAuth2Validator):
    """Identity claims in every ID token whatever the scopes: the CA needs the email."""

    oidc_claim_scope = None

    def validate_client_id(
        self, client_id: str, request: Request, *args: Any, **kwargs: Any
    ) -> bool:
        # The authorization request comes first in every flow: make the client on first use.
        if client_id == SIGSTORE_CLIENT_ID:
            application_ensure_sigstore()
        return bool(super().validate_client_id(client_id, request, *args, **kwargs))

    def get_additional_claims(self, request: Request) -> dict[str, Any]:
        return identity_claims(request.user.email)

    def get_discovery_claims(self, request: Any) -> list[str]:
        return DISCOVERY_CLAIMS
