"""The development identity provider: a real OpenID Connect provider (django-oauth-toolkit)
that lets anyone sign in as any email address.

Mounted only when settings.DEV_IDP_ENABLED. Its tokens are genuine: RS256 JWTs signed with a
key generated into the data directory, published through discovery and JWKS under
issuer_url(), so the CA verifies them exactly as it verifies any other issuer's.
"""

from __future__ import annotations

# The OAuth client that sigstore-python and sigstore-js use by default (INTEROP §3.1).
SIGSTORE_CLIENT_ID = "sigstore"
# Where DOT's views are mounted; the issuer is PUBLIC_URL + "/" + ISSUER_PATH.
ISSUER_PATH = "oauth"


def issuer_for(public_url: str) -> str:
    """The issuer URL for a public base URL: discovery is served at {issuer}/.well-known/..."""
    return f"{public_url.rstrip('/')}/{ISSUER_PATH}"


def issuer_url() -> str:
    """The `iss` of every token this provider signs, e.g. http://127.0.0.1:8000/oauth."""
    from django.conf import settings

    return issuer_for(settings.PUBLIC_URL)
