"""GET {issuer}/.well-known/openid-configuration and the JWKS it points to."""

from __future__ import annotations

import base64

import pytest
from django.test import Client

from devidp import issuer_url
from devidp.tests.helpers import discovery, path_of
from devidp.tokens import signing_key

pytestmark = pytest.mark.django_db


def test_discovery_names_this_issuer_exactly(client: Client):
    document = discovery(client)
    assert document["issuer"] == issuer_url()
    assert issuer_url().endswith("/oauth")
    for endpoint in ("authorization_endpoint", "token_endpoint", "jwks_uri", "userinfo_endpoint"):
        assert document[endpoint].startswith(issuer_url() + "/"), endpoint


def test_discovery_advertises_what_sigstore_clients_use(client: Client):
    document = discovery(client)
    assert document["response_types_supported"] == ["code"]
    assert document["code_challenge_methods_supported"] == ["S256"]
    assert document["id_token_signing_alg_values_supported"][0] == "RS256"
    assert {"openid", "email"} <= set(document["scopes_supported"])
    assert {"none", "client_secret_basic"} <= set(document["token_endpoint_auth_methods_supported"])
    assert {"email", "email_verified", "sub"} <= set(document["claims_supported"])
    assert document["authorization_response_iss_parameter_supported"] is True


def test_discovery_is_json_on_plain_http(client: Client):
    response = client.get(path_of(f"{issuer_url()}/.well-known/openid-configuration"))
    assert response["Content-Type"] == "application/json"
    assert issuer_url().startswith("http://")


def test_jwks_publishes_the_signing_key_under_its_kid(client: Client):
    response = client.get(path_of(discovery(client)["jwks_uri"]))
    assert response.status_code == 200
    assert response["Content-Type"] == "application/json"
    (key,) = response.json()["keys"]
    private_key, kid = signing_key()
    numbers = private_key.public_key().public_numbers()
    assert key["kid"] == kid
    assert (key["kty"], key["alg"], key["use"]) == ("RSA", "RS256", "sig")
    n = int.from_bytes(base64.urlsafe_b64decode(key["n"] + "=="), "big")
    assert n == numbers.n


def test_application_management_pages_are_not_mounted(client: Client):
    assert client.get("/oauth/applications/").status_code == 404
