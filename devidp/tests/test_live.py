"""sigstore-python's own interactive flow against a live sigportal (gunicorn + PostgreSQL)
with the development identity provider on. The browser is played headlessly: the
patched `webbrowser.open` does what a person would, with `requests`."""

from __future__ import annotations

import html
import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import jwt
import pytest
import requests
from sigstore._internal.oidc.oauth import _OAuthFlow
from sigstore.oidc import Issuer

from sigportal.livetest import LiveServer, live_server_or_skip

pytestmark = pytest.mark.live

EMAIL = "newcomer@example.com"
_original_exit = _OAuthFlow.__exit__


@pytest.fixture(scope="module")
def idp_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    yield from live_server_or_skip(tmp_path_factory.mktemp("devidp-live"), workers=1, threads=2)


def _person_at_the_browser(url: str) -> bool:
    """Open sigstore's local start page, follow it to the sign-in form, type an address,
    and follow the redirects back to sigstore's localhost callback."""
    with requests.Session() as session:
        form = session.get(url, timeout=30)
        form.raise_for_status()
        fields = dict(re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.text))
        action = re.search(r'<form method="post" action="([^"]+)"', form.text)
        assert action and {"csrfmiddlewaretoken", "next"} <= fields.keys(), form.text
        data = {name: html.unescape(value) for name, value in fields.items()}
        done = session.post(
            urljoin(form.url, html.unescape(action.group(1))),
            data={**data, "email": EMAIL},
            timeout=30,
        )
        done.raise_for_status()
        assert "authentication successful" in done.text  # sigstore's callback page
    return True


def _exit_and_close(self: _OAuthFlow, *exc_info: Any) -> None:
    """sigstore 4.5.1 shuts its callback server down but never closes the listening socket,
    which warnings-as-errors turns into a failure: close it too."""
    _original_exit(self, *exc_info)
    self._server.server_close()


def _verify_through_discovery(issuer: str, token: str) -> dict[str, object]:
    config = requests.get(f"{issuer}/.well-known/openid-configuration", timeout=10).json()
    assert config["issuer"] == issuer
    key = jwt.PyJWKClient(config["jwks_uri"]).get_signing_key_from_jwt(token)
    return jwt.decode(
        token,
        key,
        algorithms=["RS256"],
        audience="sigstore",
        issuer=issuer,
        options={"require": ["iss", "sub", "aud", "iat", "exp"]},
    )


def test_sigstore_python_interactive_flow(idp_server: LiveServer, monkeypatch: pytest.MonkeyPatch):
    issuer = f"{idp_server.url}/oauth"
    monkeypatch.setattr("webbrowser.open", _person_at_the_browser)
    monkeypatch.setattr(_OAuthFlow, "__exit__", _exit_and_close)
    oidc = Issuer(issuer)
    try:
        identity = oidc.identity_token(force_oob=False)
    finally:
        oidc.session.close()  # sigstore never closes it: an unclosed socket fails the run
    assert identity.issuer == issuer
    assert identity.identity == EMAIL
    claims = _verify_through_discovery(issuer, str(identity))
    assert claims["email"] == EMAIL
    assert claims["email_verified"] is True


def test_devtoken_verifies_against_the_live_jwks(idp_server: LiveServer):
    token = idp_server.manage("devtoken", "ci@example.com").stdout.strip()
    claims = _verify_through_discovery(f"{idp_server.url}/oauth", token)
    assert claims["sub"] == "ci@example.com"


def test_signing_key_is_private_to_the_data_dir(idp_server: LiveServer):
    key = Path(idp_server.data_dir) / "devidp_rsa.pem"
    assert key.stat().st_mode & 0o777 == 0o600
