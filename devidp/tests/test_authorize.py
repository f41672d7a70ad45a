"""The interactive flow of sigstore-python (INTEROP §3.3) through the test client:
authorization code + PKCE S256, public client "sigstore", random localhost port."""

from __future__ import annotations

import base64
from urllib.parse import parse_qs, urlsplit

import jwt
import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from oauth2_provider.models import get_application_model
from sigstore.oidc import IdentityToken

from devidp import issuer_url
from devidp.tests.helpers import (
    RelyingParty,
    ca_identity,
    discovery,
    path_of,
    sign_in,
    verify_with_jwks,
)

pytestmark = pytest.mark.django_db


def _authorize(browser: Client, rp: RelyingParty, email: str = "alice@example.com") -> str:
    """Authorize as `email` through the sign-in form; returns the authorization code."""
    to_login = browser.get(rp.authorize_url(browser))
    assert to_login.status_code == 302
    assert to_login["Location"].startswith("/oauth/login/?next=")
    back = sign_in(browser, email, to_login["Location"])
    assert back.status_code == 302
    to_callback = browser.get(back["Location"])
    assert to_callback.status_code == 302, to_callback.content
    return rp.code_from(to_callback["Location"])


@pytest.mark.parametrize("basic", [True, False], ids=["basic-sigstore-colon", "body-empty-secret"])
def test_flow_gives_an_access_token_sigstore_python_accepts(
    browser: Client, rp: RelyingParty, basic: bool
):
    response = rp.exchange(browser, _authorize(browser, rp), basic=basic)
    assert response.status_code == 200, response.content
    access_token = response.json()["access_token"]
    identity = IdentityToken(access_token, client_id="sigstore")
    assert identity.issuer == issuer_url()
    assert identity.identity == "alice@example.com"
    assert ca_identity(browser, access_token).san_value == "alice@example.com"


def test_access_and_id_tokens_verify_through_jwks(browser: Client, rp: RelyingParty):
    body = rp.exchange(browser, _authorize(browser, rp, "Bob@Example.com")).json()
    for token in (body["access_token"], body["id_token"]):
        claims = verify_with_jwks(browser, token)
        assert claims["sub"] == claims["email"] == "bob@example.com"
        assert claims["email_verified"] is True
        assert 0 < claims["exp"] - claims["iat"] <= 600
        assert jwt.get_unverified_header(token)["alg"] == "RS256"
    assert body["token_type"] == "Bearer"
    assert body["expires_in"] == 600


def test_userinfo_answers_the_access_token(browser: Client, rp: RelyingParty):
    access_token = rp.exchange(browser, _authorize(browser, rp)).json()["access_token"]
    userinfo = path_of(discovery(browser)["userinfo_endpoint"])
    response = browser.get(userinfo, headers={"Authorization": f"Bearer {access_token}"})
    assert response.status_code == 200
    assert response.json()["email"] == "alice@example.com"


def test_sigstore_client_is_public_and_skips_consent(browser: Client, rp: RelyingParty):
    _authorize(browser, rp)
    application = get_application_model().objects.get(client_id="sigstore")
    assert application.client_type == "public"
    assert application.skip_authorization is True
    assert application.algorithm == "RS256"


def test_second_flow_reuses_the_session_and_a_new_port(browser: Client, rp: RelyingParty):
    _authorize(browser, rp)
    again = RelyingParty(redirect_uri="http://127.0.0.1:61234/auth/callback")
    response = browser.get(again.authorize_url(browser))
    assert response.status_code == 302
    code = again.code_from(response["Location"])
    assert again.exchange(browser, code).status_code == 200


def test_users_are_created_from_the_email(browser: Client, rp: RelyingParty):
    _authorize(browser, rp, "Carol@Example.com")
    user = get_user_model().objects.get(username="carol@example.com")
    assert user.email == "carol@example.com"
    assert not user.has_usable_password()


def test_redirect_to_a_non_loopback_host_is_refused(browser: Client):
    rp = RelyingParty(redirect_uri="http://evil.example:8080/auth/callback")
    browser.force_login(get_user_model().objects.create(username="a@x.test", email="a@x.test"))
    response = browser.get(rp.authorize_url(browser))
    assert response.status_code == 400
    assert "Location" not in response


@pytest.mark.parametrize(
    "redirect_uri",
    ["http://localhost:8080/other", "https://localhost:8080/auth/callback"],
)
def test_only_the_registered_callback_path_and_scheme(browser: Client, redirect_uri: str):
    browser.force_login(get_user_model().objects.create(username="a@x.test", email="a@x.test"))
    response = browser.get(RelyingParty(redirect_uri=redirect_uri).authorize_url(browser))
    assert response.status_code == 400


def test_pkce_is_required(browser: Client, rp: RelyingParty):
    browser.force_login(get_user_model().objects.create(username="a@x.test", email="a@x.test"))
    response = browser.get(rp.authorize_url(browser, code_challenge=None))
    query = parse_qs(urlsplit(response["Location"]).query)
    assert query["error"] == ["invalid_request"]
    assert "code" not in query


def test_plain_pkce_is_refused(browser: Client, rp: RelyingParty):
    browser.force_login(get_user_model().objects.create(username="a@x.test", email="a@x.test"))
    response = browser.get(rp.authorize_url(browser, code_challenge_method="plain"))
    assert "code=" not in response.get("Location", "")


def test_wrong_code_verifier_is_refused(browser: Client, rp: RelyingParty):
    code = _authorize(browser, rp)
    rp.verifier = "x" * 43
    response = rp.exchange(browser, code)
    assert response.status_code == 400
    assert response.json()["error"] == "invalid_grant"


def test_a_code_is_good_once(browser: Client, rp: RelyingParty):
    code = _authorize(browser, rp)
    assert rp.exchange(browser, code).status_code == 200
    assert rp.exchange(browser, code).status_code == 400


def test_out_of_band_shows_the_code(browser: Client):
    rp = RelyingParty(redirect_uri="urn:ietf:wg:oauth:2.0:oob")
    browser.force_login(get_user_model().objects.create(username="a@x.test", email="a@x.test"))
    page = browser.get(rp.authorize_url(browser))
    assert page.status_code == 200
    code = page.context["code"]
    assert code.encode() in page.content
    response = rp.exchange(browser, code)
    assert response.status_code == 200
    IdentityToken(response.json()["access_token"], client_id="sigstore")


def test_a_signed_in_user_without_email_is_asked_to_sign_in(browser: Client, rp: RelyingParty):
    browser.force_login(get_user_model().objects.create(username="admin"))
    response = browser.get(rp.authorize_url(browser))
    assert response.status_code == 302
    assert response["Location"].startswith("/oauth/login/?next=")


def test_token_endpoint_refuses_an_unknown_client(browser: Client, rp: RelyingParty):
    code = _authorize(browser, rp)
    response = browser.post(
        path_of(discovery(browser)["token_endpoint"]),
        {
            "grant_type": "authorization_code",
            "code": code,
            "redirect_uri": rp.redirect_uri,
            "code_verifier": rp.verifier,
        },
        headers={"Authorization": "Basic " + base64.b64encode(b"other:").decode()},
    )
    assert response.status_code == 401
