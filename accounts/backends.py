"""Portal sign-in: mozilla-django-oidc's authorization-code flow (with PKCE and a nonce)
against the one provider in settings (SIGPORTAL_LOGIN_*), and the user behind an ID token.

A person is their OIDC identity, (issuer, subject): never an email address, which another
provider (or the same one, later) may assert for someone else. The first sign-in of an
identity creates a Django user with an unusable password; the email is kept on the
`Identity` for display and for "add maintainer by email", and only if the provider says
it is verified.

Endpoints not set explicitly come from the issuer's discovery document, fetched (bounded
in time and size) at the first sign-in of each process and then kept. Nothing here runs
on ordinary requests: Django builds a backend for every request's `get_user`, so the
constructor never touches the network.
"""

from __future__ import annotations

import logging
import re
import secrets
import threading
from dataclasses import dataclass
from typing import Any
from urllib.parse import urlsplit

import jwt
import requests
from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.core.exceptions import SuspiciousOperation
from django.db import IntegrityError, transaction
from django.http import HttpRequest
from django.utils import timezone
from mozilla_django_oidc.auth import OIDCAuthenticationBackend

from accounts.models import Identity
from ca.core.oidc import FetchError, fetch_json_https

log = logging.getLogger(__name__)

# Clock skew tolerated on exp/iat/nbf of an ID token.
LEEWAY_SECONDS = 30
MAX_SUBJECT = 255
MAX_EMAIL = 254
_USERNAME_SAFE = re.compile(r"[^a-z0-9._-]+")


class SignInUnavailable(Exception):
    """Sign-in is not configured, or the provider's discovery document is unusable."""


@dataclass(frozen=True)
class Provider:
    issuer: str
    client_id: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    userinfo_endpoint: str


_lock = threading.Lock()
_discovered: dict[str, dict[str, Any]] = {}

# Setting name -> discovery document field.
_ENDPOINTS = {
    "OIDC_OP_AUTHORIZATION_ENDPOINT": "authorization_endpoint",
    "OIDC_OP_TOKEN_ENDPOINT": "token_endpoint",
    "OIDC_OP_JWKS_ENDPOINT": "jwks_uri",
    "OIDC_OP_USER_ENDPOINT": "userinfo_endpoint",
}


def _loopback_http(url: str) -> bool:
    parts = urlsplit(url)
    return parts.scheme == "http" and parts.hostname in ("127.0.0.1", "localhost", "::1")


def _discovery(issuer: str) -> dict[str, Any]:
    """The issuer's discovery document, fetched once per process (failures are not kept,
    so a provider that was down is tried again at the next sign-in)."""
    with _lock:
        if issuer in _discovered:
            return _discovered[issuer]
    url = f"{issuer}/.well-known/openid-configuration"
    try:
        document = fetch_json_https(
            url, timeout=settings.OIDC_TIMEOUT, allow_http_loopback=_loopback_http(issuer)
        )
    except FetchError as exc:
        raise SignInUnavailable(f"the sign-in provider's discovery failed: {exc}") from exc
    # OpenID Connect Discovery §4.3: the document must name the issuer we asked.
    if document.get("issuer") != issuer:
        raise SignInUnavailable(f"{url} names another issuer: {document.get('issuer')!r}")
    with _lock:
        _discovered[issuer] = document
    return document


def provider() -> Provider:
    """The configured sign-in provider with all its endpoints, or SignInUnavailable."""
    issuer = settings.LOGIN_ISSUER
    if not issuer:
        raise SignInUnavailable("no sign-in provider is configured (SIGPORTAL_LOGIN_ISSUER)")
    explicit = {name: getattr(settings, name, "") for name in _ENDPOINTS}
    needed = ("OIDC_OP_AUTHORIZATION_ENDPOINT", "OIDC_OP_TOKEN_ENDPOINT", "OIDC_OP_JWKS_ENDPOINT")
    # Discovery unless the required endpoints are all set (userinfo is optional).
    document = {} if all(explicit[n] for n in needed) else _discovery(issuer)
    values = {n: explicit[n] or document.get(field) or "" for n, field in _ENDPOINTS.items()}
    for name in needed:
        if not isinstance(values[name], str) or not values[name]:
            raise SignInUnavailable(f"the sign-in provider publishes no {_ENDPOINTS[name]}")
    return Provider(
        issuer=issuer,
        client_id=settings.OIDC_RP_CLIENT_ID,
        authorization_endpoint=values["OIDC_OP_AUTHORIZATION_ENDPOINT"],
        token_endpoint=values["OIDC_OP_TOKEN_ENDPOINT"],
        jwks_uri=values["OIDC_OP_JWKS_ENDPOINT"],
        userinfo_endpoint=str(values["OIDC_OP_USER_ENDPOINT"] or ""),
    )


def callback_url() -> str:
    """Where the provider sends the browser back: on PUBLIC_URL, as registered with it."""
    return f"{settings.PUBLIC_URL}/oidc/callback/"


class PortalOIDCBackend(OIDCAuthenticationBackend):
    """mozilla-django-oidc's backend with the ID token fully checked and users keyed by
    (issuer, subject) through `Identity`."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # Not super().__init__: it reads the endpoints, and this runs on every request.
        self.UserModel = get_user_model()
        self.OIDC_RP_CLIENT_ID = settings.OIDC_RP_CLIENT_ID
        self.OIDC_RP_CLIENT_SECRET = settings.OIDC_RP_CLIENT_SECRET
        self.OIDC_RP_SIGN_ALGO = settings.OIDC_RP_SIGN_ALGO
        self.OIDC_RP_IDP_SIGN_KEY = None

    def authenticate(self, request: HttpRequest | None, **kwargs: Any) -> Any:
        # Only the callback view passes a nonce; admin password logins are not ours.
        if request is None or "nonce" not in kwargs:
            return None
        try:
            found = provider()
        except SignInUnavailable as exc:
            log.warning("sign-in refused: %s", exc)
            return None
        self.OIDC_OP_TOKEN_ENDPOINT = found.token_endpoint
        self.OIDC_OP_JWKS_ENDPOINT = found.jwks_uri
        self.OIDC_OP_USER_ENDPOINT = found.userinfo_endpoint
        try:
            return super().authenticate(request, **kwargs)
        except SuspiciousOperation as exc:  # a refused token: a failed sign-in, not a 400
            log.warning("sign-in refused: %s", exc)
        except requests.RequestException as exc:
            log.warning("sign-in failed, the provider did not answer: %s", exc)
        return None

    def get_token(self, payload: dict[str, Any]) -> dict[str, Any]:
        # The redirect_uri must repeat the authorization request's (SignInView's).
        token_info: dict[str, Any] = super().get_token({**payload, "redirect_uri": callback_url()})
        return token_info

    def get_payload_data(self, token: bytes | str, key: Any) -> dict[str, Any]:
        """The ID token's claims, every check spelled out: the pinned algorithm, our
        client as audience, the configured issuer, the required claims, bounded leeway."""
        try:
            claims: dict[str, Any] = jwt.decode(
                token,
                key,
                algorithms=[self.OIDC_RP_SIGN_ALGO],
                audience=self.OIDC_RP_CLIENT_ID,
                issuer=settings.LOGIN_ISSUER,
                options={"require": ["iss", "sub", "aud", "exp", "iat"]},
                leeway=LEEWAY_SECONDS,
            )
        except jwt.PyJWTError as exc:
            raise SuspiciousOperation(f"ID token refused: {exc}") from exc
        return claims

    def get_userinfo(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> dict[str, Any]:
        """The verified ID token's claims; the userinfo endpoint is asked only for an email
        the ID token lacks, and its answer must be about the same subject (OIDC Core
        §5.3.2). `iss` and `sub` always come from the ID token."""
        claims = dict(payload)
        if "email" in claims or not self.OIDC_OP_USER_ENDPOINT:
            return claims
        unverified_info = super().get_userinfo(access_token, id_token, payload)
        if not isinstance(unverified_info, dict) or unverified_info.get("sub") != claims["sub"]:
            raise SuspiciousOperation("userinfo is about another subject than the ID token")
        for name in ("email", "email_verified"):
            if name in unverified_info:
                claims[name] = unverified_info[name]
        return claims

    def get_or_create_user(
        self, access_token: str, id_token: str, payload: dict[str, Any]
    ) -> AbstractBaseUser:
        claims = self.get_userinfo(access_token, id_token, payload)
        return identity_sign_in(issuer=settings.LOGIN_ISSUER, claims=claims)


def _subject(claims: dict[str, Any]) -> str:
    subject = claims.get("sub")
    if not isinstance(subject, str) or not subject or len(subject) > MAX_SUBJECT:
        raise SuspiciousOperation("the ID token has no usable 'sub' claim")
    if not subject.isprintable():
        raise SuspiciousOperation("the ID token's 'sub' is not printable text")
    return subject


def verified_email(claims: dict[str, Any]) -> str:
    """The email, only when the provider verified it (some send "true" as a string)."""
    email = claims.get("email")
    verified = claims.get("email_verified")
    if verified not in (True, "true") or not isinstance(email, str):
        return ""
    email = email.strip()
    if not email or len(email) > MAX_EMAIL or not email.isprintable() or "@" not in email:
        return ""
    return email


def _username_for(subject: str, email: str) -> str:
    """A unique, readable user name: the email's local part or the subject, made safe.
    It never contains "@", so it never collides with a development provider user."""
    base = _USERNAME_SAFE.sub("-", (email.split("@")[0] if email else subject).lower())
    base = base.strip("-.")[:30] or "user"
    User = get_user_model()
    candidate = base
    while User.objects.filter(username=candidate).exists():
        candidate = f"{base}-{secrets.token_hex(3)}"
    return candidate


def _user_create(subject: str, email: str) -> AbstractBaseUser:
    User = get_user_model()
    for _ in range(5):  # a concurrent first sign-in may take the same name
        try:
            with transaction.atomic():
                user = User(username=_username_for(subject, email))
                user.set_unusable_password()
                user.save()
                return user
        except IntegrityError:
            continue
    raise SuspiciousOperation("could not choose a unique user name")


def identity_sign_in(*, issuer: str, claims: dict[str, Any]) -> AbstractBaseUser:
    """The user of the identity (issuer, claims["sub"]), created at its first sign-in;
    records the verified email (or clears it) and the time of this sign-in.

    Raises SuspiciousOperation for claims without a usable subject (the backend then
    refuses the sign-in)."""
    subject = _subject(claims)
    email = verified_email(claims)
    for _ in range(2):  # a concurrent first sign-in of the same identity may win
        try:
            with transaction.atomic():
                identity = (
                    Identity.objects.select_for_update()
                    .select_related("user")
                    .filter(issuer=issuer, subject=subject)
                    .first()
                )
                if identity is None:
                    user = _user_create(subject, email)
                    identity = Identity.objects.create(
                        user=user, issuer=issuer, subject=subject, email=email
                    )
                identity.email = email
                identity.last_login_at = timezone.now()
                identity.save(update_fields=["email", "last_login_at"])
                return identity.user
        except IntegrityError:
            continue
    raise SuspiciousOperation("concurrent sign-ins of one identity kept conflicting")


def forget_discovery() -> None:
    """Drop the cached discovery documents (tests; an operator changing providers restarts)."""
    with _lock:
        _discovered.clear()
