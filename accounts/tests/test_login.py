"""Portal sign-in (accounts/backends.py): users keyed by (issuer, sub), never by email;
ID tokens checked claim by claim; and the whole redirect flow against the development
provider, driven through the test client."""

from __future__ import annotations

import time
from typing import Any
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import rsa
from django.conf import settings
from django.contrib.auth import authenticate, get_user_model
from django.contrib.auth.hashers import check_password
from django.contrib.sessions.backends.db import SessionStore
from django.core.exceptions import SuspiciousOperation
from django.test import Client, RequestFactory, override_settings

from accounts import backends
from accounts.backends import PortalOIDCBackend, SignInUnavailable, identity_sign_in
from accounts.models import Identity

pytestmark = pytest.mark.django_db

ISSUER = "https://login.example.test"
CLIENT_ID = "portal-test"
ENDPOINTS = {
    "LOGIN_ISSUER": ISSUER,
    "OIDC_RP_CLIENT_ID": CLIENT_ID,
    "OIDC_OP_AUTHORIZATION_ENDPOINT": f"{ISSUER}/authorize",
    "OIDC_OP_TOKEN_ENDPOINT": f"{ISSUER}/token",
    "OIDC_OP_JWKS_ENDPOINT": f"{ISSUER}/jwks",
    "OIDC_OP_USER_ENDPOINT": "",
}
KEY = rsa.generate_private_key(public_exponent=65537, key_size=2048)


def claims(**overrides: Any) -> dict[str, Any]:
    now = int(time.time())
    base = {
        "iss": ISSUER,
        "aud": CLIENT_ID,
        "sub": "u-1",
        "iat": now,
        "exp": now + 300,
        "nonce": "n-1",
        "email": "alice@example.test",
        "email_verified": True,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def id_token(key: Any = KEY, algorithm: str = "RS256", **overrides: Any) -> str:
    return jwt.encode(claims(**overrides), key, algorithm=algorithm, headers={"kid": "k1"})


@pytest.fixture
def provider_backend(monkeypatch: pytest.MonkeyPatch) -> Any:
    """sign_in(token): the callback's authenticate() with the provider's token endpoint
    answering `token` and its JWKS holding KEY."""
    monkeypatch.setattr(
        PortalOIDCBackend, "retrieve_matching_jwk", lambda self, token: KEY.public_key()
    )

    def sign_in(token: str, nonce: str = "n-1") -> Any:
        monkeypatch.setattr(
            PortalOIDCBackend,
            "get_token",
            lambda self, payload: {"id_token": token, "access_token": "at"},
        )
        request = RequestFactory().get("/oidc/callback/", {"code": "c", "state": "s"})
        request.session = SessionStore()
        with override_settings(**ENDPOINTS):
            return authenticate(request, nonce=nonce, code_verifier="v" * 43)

    return sign_in


def test_first_sign_in_creates_the_user_and_identity(provider_backend: Any) -> None:
    user = provider_backend(id_token())
    assert user is not None and not user.has_usable_password()
    identity = Identity.objects.get(user=user)
    assert (identity.issuer, identity.subject, identity.email) == (
        ISSUER,
        "u-1",
        "alice@example.test",
    )
    assert identity.last_login_at is not None
    assert "@" not in user.username


def test_the_next_sign_in_finds_the_same_user_and_updates_the_email(provider_backend: Any):
    first = provider_backend(id_token())
    seen = Identity.objects.get(user=first).last_login_at
    again = provider_backend(id_token(email="alice@new.example.test"))
    assert again == first
    identity = Identity.objects.get(user=first)
    assert identity.email == "alice@new.example.test" and identity.last_login_at > seen


def test_same_email_other_subject_or_issuer_is_a_different_user(provider_backend: Any) -> None:
    alice = provider_backend(id_token())
    impostor = provider_backend(id_token(sub="u-2"))
    elsewhere = identity_sign_in(issuer="https://other.example.test", claims=claims())
    assert len({alice.pk, impostor.pk, elsewhere.pk}) == 3
    assert len({alice.username, impostor.username, elsewhere.username}) == 3
    assert Identity.objects.filter(email="alice@example.test").count() == 3


def test_an_unverified_email_is_not_kept(provider_backend: Any) -> None:
    user = provider_backend(id_token(email_verified=False))
    assert Identity.objects.get(user=user).email == ""
    assert provider_backend(id_token(sub="u-3", email_verified="false")) is not None
    assert Identity.objects.get(subject="u-3").email == ""


@pytest.mark.parametrize(
    "bad",
    [
        {"sub": None},
        {"sub": ""},
        {"sub": 42},
        {"aud": "sigstore"},
        {"iss": "https://evil.example.test"},
        {"exp": int(time.time()) - 3600},
        {"iat": None},
        {"nonce": "replayed"},
    ],
    ids=["no-sub", "empty-sub", "int-sub", "audience", "issuer", "expired", "no-iat", "nonce"],
)
def test_tokens_that_fail_a_check_are_refused(provider_backend: Any, bad: dict) -> None:
    assert provider_backend(id_token(**bad)) is None
    assert not get_user_model().objects.exists()


def test_a_token_with_another_algorithm_or_key_is_refused(provider_backend: Any) -> None:
    other = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    assert provider_backend(id_token(key=other)) is None
    assert provider_backend(id_token(algorithm="RS384")) is None
    hs256 = id_token(key="shared-secret-shared-secret-32by", algorithm="HS256")
    assert provider_backend(hs256) is None
    assert not get_user_model().objects.exists()


def test_claims_without_sub_are_refused_by_the_user_lookup() -> None:
    with pytest.raises(SuspiciousOperation):
        identity_sign_in(issuer=ISSUER, claims=claims(sub=None))
    assert not get_user_model().objects.exists()


def test_password_logins_are_not_taken_by_the_oidc_backend() -> None:
    User = get_user_model()
    admin = User.objects.create_user("admin", password="correct horse battery staple")
    request = RequestFactory().post("/admin/login/")
    assert authenticate(request, username="admin", password="correct horse battery staple") == (
        admin
    )
    assert PortalOIDCBackend().authenticate(request, username="admin", password="x") is None


def test_discovery_is_fetched_once_and_must_name_the_issuer(monkeypatch: pytest.MonkeyPatch):
    fetched: list[str] = []
    document = {
        "issuer": ISSUER,
        "authorization_endpoint": f"{ISSUER}/auth",
        "token_endpoint": f"{ISSUER}/tok",
        "jwks_uri": f"{ISSUER}/keys",
    }

    def fetch(url: str, **kwargs: Any) -> dict[str, Any]:
        fetched.append(url)
        return document

    monkeypatch.setattr(backends, "fetch_json_https", fetch)
    backends.forget_discovery()
    no_endpoints = {**ENDPOINTS, "OIDC_OP_AUTHORIZATION_ENDPOINT": "", "OIDC_OP_TOKEN_ENDPOINT": ""}
    try:
        with override_settings(**no_endpoints):
            assert backends.provider().token_endpoint == f"{ISSUER}/tok"
            assert backends.provider().authorization_endpoint == f"{ISSUER}/auth"
            assert backends.provider().jwks_uri == f"{ISSUER}/jwks"  # explicit wins
        assert fetched == [f"{ISSUER}/.well-known/openid-configuration"]
        backends.forget_discovery()
        document["issuer"] = "https://someone-else.example.test"
        with override_settings(**no_endpoints), pytest.raises(SignInUnavailable, match="another"):
            backends.provider()
    finally:
        backends.forget_discovery()


def test_sign_in_is_unavailable_without_a_provider(client: Client) -> None:
    with override_settings(LOGIN_ISSUER=""):
        response = client.get("/oidc/authenticate/")
    assert response.status_code == 503
    assert b"SIGPORTAL_LOGIN_ISSUER" in response.content


# --- the whole flow against the development provider, through the test client ----------


def _path(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.path}?{parts.query}" if parts.query else parts.path


@pytest.fixture
def dev_portal_client(monkeypatch: pytest.MonkeyPatch) -> Any:
    """The portal's client registered in the development provider, and its token and
    JWKS requests sent through the test client instead of over HTTP."""
    if not settings.LOGIN_DEV_IDP:
        pytest.skip("needs SIGPORTAL_DEV_IDP=true (make test sets it)")
    from devidp import issuer_url
    from devidp.services import application_ensure_portal

    application_ensure_portal()
    web = Client()
    issuer = issuer_url()
    discovery = web.get(_path(f"{issuer}/.well-known/openid-configuration")).json()
    monkeypatch.setattr(backends, "_discovery", lambda issuer: discovery)

    def get_token(self: PortalOIDCBackend, payload: dict[str, Any]) -> dict[str, Any]:
        payload = {**payload, "redirect_uri": backends.callback_url()}
        response = Client().post(_path(discovery["token_endpoint"]), payload)
        assert response.status_code == 200, response.content
        return dict(response.json())

    def jwk(self: PortalOIDCBackend, token: str) -> jwt.PyJWK:
        keys = Client().get(_path(discovery["jwks_uri"])).json()
        return jwt.PyJWKSet.from_dict(keys)[jwt.get_unverified_header(token)["kid"]]

    monkeypatch.setattr(PortalOIDCBackend, "get_token", get_token)
    monkeypatch.setattr(PortalOIDCBackend, "retrieve_matching_jwk", jwk)
    return web


def test_the_development_provider_registers_the_portal_client_once() -> None:
    if not settings.LOGIN_DEV_IDP:
        pytest.skip("needs SIGPORTAL_DEV_IDP=true (make test sets it)")
    from oauth2_provider.models import get_application_model

    from devidp.services import application_ensure_portal

    first = application_ensure_portal()
    again = application_ensure_portal()
    assert first.pk == again.pk and get_application_model().objects.count() == 1
    assert again.redirect_uris == f"{settings.PUBLIC_URL}/oidc/callback/"
    assert check_password(settings.OIDC_RP_CLIENT_SECRET, again.client_secret)
    assert again.algorithm == "RS256" and again.client_type == "confidential"


def test_sign_in_through_the_development_provider(dev_portal_client: Client) -> None:
    web = dev_portal_client
    start = web.get("/oidc/authenticate/", {"next": "/projects/"})
    assert start.status_code == 302
    query = parse_qs(urlsplit(start["Location"]).query)
    assert query["code_challenge_method"] == ["S256"] and query["nonce"]
    assert query["redirect_uri"] == [f"{settings.PUBLIC_URL}/oidc/callback/"]
    to_login = web.get(_path(start["Location"]))
    assert to_login.status_code == 302 and "/oauth/login/" in to_login["Location"]
    form = web.get(_path(to_login["Location"]))
    next_url = parse_qs(urlsplit(to_login["Location"]).query)["next"][0]
    signed_in = web.post(
        _path(to_login["Location"]), {"email": "alice@example.test", "next": next_url}
    )
    assert form.status_code == 200 and signed_in.status_code == 302
    to_callback = web.get(signed_in["Location"])
    assert to_callback.status_code == 302, to_callback.content
    assert to_callback["Location"].startswith(f"{settings.PUBLIC_URL}/oidc/callback/?")
    done = web.get(_path(to_callback["Location"]))
    assert done.status_code == 302, done.content
    account = web.get("/account/")
    assert account.status_code == 200
    identity = Identity.objects.get(subject="alice@example.test")
    assert identity.issuer == settings.LOGIN_ISSUER and identity.email == "alice@example.test"
    assert account.wsgi_request.user == identity.user
    assert b"Development token for the CLI" in account.content
