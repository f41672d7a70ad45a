"""Tokens signed by the development identity provider.

Both the JWT access token (what sigstore-python sends to the CA) and `mint_token` (the
`devtoken` command and tests) sign with DOT's OIDC key under the same `kid` that the JWKS
publishes, so every token verifies through discovery + JWKS like any issuer's.
"""

from __future__ import annotations

import functools
import re
import time
import uuid
from typing import Any

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from oauth2_provider.settings import oauth2_settings
from oauth2_provider.utils import jwk_from_pem
from oauthlib.common import Request

from devidp import SIGSTORE_CLIENT_ID, issuer_url
from devidp.settings import TOKEN_LIFETIME_SECONDS

ALGORITHM = "RS256"
# Letters, digits and . _ + - only: the address doubles as the Django user name. The
# domain needs a dot, as the CA's email check (ca/core/oidc.py) and Fulcio's do.
_EMAIL_RE = re.compile(r"[A-Za-z0-9._+-]+@[A-Za-z0-9-]+(\.[A-Za-z0-9-]+)+")
MAX_EMAIL_LENGTH = 150
MAX_LIFETIME_SECONDS = 24 * 3600


def normalize_email(email: str) -> str:
    """The identity for an address: lower-cased; ValueError if it is not a plain address."""
    email = email.strip().lower()
    if len(email) > MAX_EMAIL_LENGTH or not _EMAIL_RE.fullmatch(email):
        raise ValueError(
            f"not a usable email address: {email[:MAX_EMAIL_LENGTH]!r} "
            "(use letters, digits and . _ + - only, e.g. alice@example.com)"
        )
    return email


def identity_claims(email: str, *, email_verified: bool = True) -> dict[str, Any]:
    """The claims that name the person: the same in ID tokens, access tokens and devtokens."""
    email = normalize_email(email)
    # The subject is the address itself: stable per user, readable in certificates.
    return {"sub": email, "email": email, "email_verified": email_verified}


@functools.lru_cache(maxsize=4)
def _load_signing_key(pem: str) -> tuple[RSAPrivateKey, str]:
    key = serialization.load_pem_private_key(pem.encode(), password=None)
    if not isinstance(key, RSAPrivateKey):
        raise TypeError("OIDC_RSA_PRIVATE_KEY is not an RSA key")
    # DOT's JWKS names the key by its RFC 7638 thumbprint; use the very same kid.
    return key, jwk_from_pem(pem).thumbprint()


def signing_key() -> tuple[RSAPrivateKey, str]:
    """The provider's private key and its `kid` in the JWKS."""
    return _load_signing_key(oauth2_settings.OIDC_RSA_PRIVATE_KEY)


def mint_token(
    email: str,
    *,
    audience: str = SIGSTORE_CLIENT_ID,
    lifetime: int = TOKEN_LIFETIME_SECONDS,
    email_verified: bool = True,
    extra_claims: dict[str, Any] | None = None,
) -> str:
    """A fresh RS256 ID token for `email` from this provider (iss = issuer_url()).

    `extra_claims` are applied last, so tests can override any claim (exp, iss, ...).
    """
    if not 0 < lifetime <= MAX_LIFETIME_SECONDS:
        raise ValueError(f"lifetime must be 1..{MAX_LIFETIME_SECONDS} seconds, not {lifetime}")
    now = int(time.time())
    claims: dict[str, Any] = {
        "iss": issuer_url(),
        "aud": audience,
        "iat": now,
        "exp": now + lifetime,
        "jti": str(uuid.uuid4()),
        **identity_claims(email, email_verified=email_verified),
        **(extra_claims or {}),
    }
    key, kid = signing_key()
    return jwt.encode(claims, key, algorithm=ALGORITHM, headers={"kid": kid, "typ": "JWT"})


def access_token_generator(request: Request) -> str:
    """DOT's ACCESS_TOKEN_GENERATOR: the access token is a JWT for the signed-in user.

    `request.user` is the grant's user and `request.client` the application (DOT's
    validator sets both before any token is made).
    """
    client_id = request.client.client_id
    return mint_token(
        request.user.email,
        audience=client_id,
        lifetime=oauth2_settings.ACCESS_TOKEN_EXPIRE_SECONDS,
        extra_claims={"client_id": client_id, "scope": " ".join(request.scopes or [])},
    )
