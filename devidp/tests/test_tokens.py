"""mint_token and `manage.py devtoken`: ID tokens that verify through discovery + JWKS."""

from __future__ import annotations

import io
import time

import jwt
import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from sigstore.oidc import IdentityToken

from devidp import issuer_url
from devidp.tests.helpers import ca_identity, verify_with_jwks
from devidp.tokens import mint_token, signing_key

pytestmark = pytest.mark.django_db


def test_mint_token_claims(client: Client):
    before = int(time.time())
    claims = verify_with_jwks(client, mint_token("Alice@Example.com"))
    assert claims["iss"] == issuer_url()
    assert claims["aud"] == "sigstore"
    assert claims["sub"] == claims["email"] == "alice@example.com"
    assert claims["email_verified"] is True
    assert before <= claims["iat"] <= int(time.time())
    assert claims["exp"] - claims["iat"] == 600


def test_mint_token_header_names_the_jwks_key():
    header = jwt.get_unverified_header(mint_token("alice@example.com"))
    assert header["alg"] == "RS256"
    assert header["kid"] == signing_key()[1]


def test_mint_token_options(client: Client):
    token = mint_token(
        "bob@example.com",
        audience="other",
        lifetime=60,
        email_verified=False,
        extra_claims={"federated_claims": {"connector_id": "dev"}},
    )
    claims = verify_with_jwks(client, token, audience="other")
    assert claims["exp"] - claims["iat"] == 60
    assert claims["email_verified"] is False
    assert claims["federated_claims"] == {"connector_id": "dev"}


def test_extra_claims_override_anything():
    token = mint_token("carol@example.com", extra_claims={"exp": 1})
    with pytest.raises(jwt.ExpiredSignatureError):
        jwt.decode(token, signing_key()[0].public_key(), algorithms=["RS256"], audience="sigstore")


@pytest.mark.parametrize(
    "email", ["", "no-at-sign", "<script>@x.test", "a b@example.com", "me@localhost"]
)
def test_mint_token_refuses_unusable_addresses(email: str):
    with pytest.raises(ValueError, match="not a usable email address"):
        mint_token(email)


@pytest.mark.parametrize("lifetime", [0, -5, 86401])
def test_mint_token_refuses_bad_lifetimes(lifetime: int):
    with pytest.raises(ValueError, match="lifetime"):
        mint_token("alice@example.com", lifetime=lifetime)


def test_sigstore_python_accepts_a_minted_token():
    identity = IdentityToken(mint_token("alice@example.com"), client_id="sigstore")
    assert identity.issuer == issuer_url()
    assert identity.identity == "alice@example.com"


def test_our_ca_accepts_a_minted_token(client: Client):
    identity = ca_identity(client, mint_token("alice@example.com"))
    assert (identity.san_kind, identity.san_value, identity.issuer) == (
        "email",
        "alice@example.com",
        issuer_url(),
    )


def test_devtoken_command_prints_a_verifiable_token(client: Client):
    out = io.StringIO()
    call_command("devtoken", "dave@example.com", "--lifetime", "120", stdout=out)
    claims = verify_with_jwks(client, out.getvalue().strip())
    assert claims["email"] == "dave@example.com"
    assert claims["exp"] - claims["iat"] == 120


def test_devtoken_command_audience():
    out = io.StringIO()
    call_command("devtoken", "erin@example.com", "--audience", "ci", stdout=out)
    assert jwt.decode(out.getvalue().strip(), options={"verify_signature": False})["aud"] == "ci"


def test_devtoken_command_explains_a_bad_address():
    with pytest.raises(CommandError, match="not a usable email address"):
        call_command("devtoken", "nobody")
