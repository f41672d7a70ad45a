"""Helpers that play the relying party (sigstore-python) and the browser against the
development identity provider through the Django test client."""

from __future__ import annotations

import base64
import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import jwt
from django.test import Client

from ca.core.oidc import IssuerConfig, JwksCache, identity_from_token, verify_token
from ca.core.x509 import Identity
from devidp import issuer_url


def path_of(url: str) -> str:
    """The test client talks to the app directly: keep path and query of a public URL."""
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


def discovery(client: Client) -> dict[str, Any]:
    response = client.get(path_of(f"{issuer_url()}/.well-known/openid-configuration"))
    assert response.status_code == 200, response.content
    return response.json()


def verify_with_jwks(client: Client, token: str, *, audience: str = "sigstore") -> dict[str, Any]:
    """Verify as a CA does: discovery, then JWKS, then every claim spelled out."""
    jwks = client.get(path_of(discovery(client)["jwks_uri"])).json()
    kid = jwt.get_unverified_header(token)["kid"]
    key = jwt.PyJWKSet.from_dict(jwks)[kid]
    return jwt.decode(
        token,
        key=key,
        algorithms=["RS256"],
        audience=audience,
        issuer=issuer_url(),
        options={"require": ["iss", "sub", "aud", "iat", "exp"]},
        leeway=5,
    )


def ca_identity(client: Client, token: str) -> Identity:
    """What our own CA makes of the token (ca/core/oidc.py), JWKS fetched via the client."""
    config = IssuerConfig(issuer_url=issuer_url(), kind="email")
    jwks = JwksCache(lambda url: client.get(path_of(url)).json())
    return identity_from_token(verify_token(token, config, jwks, now=datetime.now(UTC)))


def csrf_token_in(html: bytes) -> str:
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token in the form"
    return match.group(1).decode()


@dataclass
class RelyingParty:
    """What sigstore-python sends (INTEROP §3.3), with a random loopback port."""

    redirect_uri: str = field(
        default_factory=lambda: f"http://localhost:{secrets.randbelow(20000) + 40000}/auth/callback"
    )
    state: str = field(default_factory=lambda: secrets.token_urlsafe(16))
    verifier: str = field(default_factory=lambda: secrets.token_urlsafe(32))

    @property
    def challenge(self) -> str:
        digest = hashlib.sha256(self.verifier.encode()).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()

    def authorize_url(self, client: Client, **overrides: str | None) -> str:
        params = {
            "response_type": "code",
            "client_id": "sigstore",
            "client_secret": "",
            "scope": "openid email",
            "redirect_uri": self.redirect_uri,
            "code_challenge": self.challenge,
            "code_challenge_method": "S256",
            "state": self.state,
            **overrides,
        }
        sent = {k: v for k, v in params.items() if v is not None}
        return f"{path_of(discovery(client)['authorization_endpoint'])}?{urlencode(sent)}"

    def code_from(self, location: str) -> str:
        assert location.startswith(self.redirect_uri + "?"), location
        query = parse_qs(urlsplit(location).query)
        assert query["state"] == [self.state]
        assert query["iss"] == [issuer_url()]  # RFC 9207
        return query["code"][0]

    def exchange(self, client: Client, code: str, *, basic: bool = True) -> Any:
        """The token request: form POST, HTTP Basic "sigstore:" like sigstore-python, or the
        client id with an empty client_secret in the body."""
        data = {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": self.redirect_uri,
            "code_verifier": self.verifier,
        }
        headers = {}
        if basic:
            headers["Authorization"] = "Basic " + base64.b64encode(b"sigstore:").decode()
        else:
            data.update(client_id="sigstore", client_secret="")
        token_path = path_of(discovery(client)["token_endpoint"])
        return client.post(token_path, data, headers=headers)


def sign_in(client: Client, email: str, login_location: str) -> Any:
    """The person's part: open the sign-in form, type an address, submit with the CSRF token."""
    form = client.get(path_of(login_location))
    assert form.status_code == 200
    next_url = parse_qs(urlsplit(login_location).query).get("next", [""])[0]
    return client.post(
        path_of(login_location),
        {"email": email, "next": next_url, "csrfmiddlewaretoken": csrf_token_in(form.content)},
    )
