"""Where sigclient's signing identity comes from, against a live instance: the browser
flow with the instance's identity provider, an ambient CI credential, and (for
verification) the public Sigstore trusted root."""

from __future__ import annotations

import contextlib
import html
import io
import json
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import urljoin

import pytest
import requests
from sigstore._internal.oidc.oauth import _OAuthFlow

from sigclient.cli import main
from sigportal.livetest import LiveServer

pytestmark = pytest.mark.live

_original_exit = _OAuthFlow.__exit__


def _exit_and_close(self: _OAuthFlow, *exc_info: Any) -> None:
    """sigstore 4.5.1 never closes its callback server's socket (a ResourceWarning)."""
    _original_exit(self, *exc_info)
    self._server.server_close()


def _person_at_the_browser(email: str) -> Any:
    """What a person does in the browser sigstore opens: sign in to the dev provider."""

    def open_browser(url: str, *args: Any, **kwargs: Any) -> bool:
        def act() -> None:
            with requests.Session() as session:
                form = session.get(url, timeout=30)
                fields = dict(
                    re.findall(r'<input type="hidden" name="(\w+)" value="([^"]*)"', form.text)
                )
                action = re.search(r'<form method="post" action="([^"]+)"', form.text)
                assert action, form.text
                data = {k: html.unescape(v) for k, v in fields.items()}
                session.post(
                    urljoin(form.url, html.unescape(action.group(1))),
                    data={**data, "email": email},
                    timeout=30,
                ).raise_for_status()

        threading.Thread(target=act, daemon=True).start()
        return True

    return open_browser


def _run(url: str, pins: Path, *args: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(["--instance", url, "--pin-dir", str(pins), *args])
    return code, out.getvalue(), err.getvalue()


def _verify(url: str, pins: Path, artifact: Path, email: str) -> int:
    policy = ["--cert-identity", email, "--cert-oidc-issuer", f"{url}/oauth"]
    return _run(url, pins, "verify", str(artifact), *policy)[0]


def test_browser_flow_signs_as_the_person_who_signed_in(
    live_server_pg: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("SIGSTORE_ID_TOKEN", raising=False)
    monkeypatch.setattr(_OAuthFlow, "__exit__", _exit_and_close)
    monkeypatch.setattr("webbrowser.open", _person_at_the_browser("browser@example.test"))
    artifact = tmp_path / "a.txt"
    artifact.write_text("signed after a browser sign-in\n")
    code, _, err = _run(live_server_pg.url, tmp_path / "pins", "sign", "--browser", str(artifact))
    assert code == 0, err
    assert _verify(live_server_pg.url, tmp_path / "pins", artifact, "browser@example.test") == 0


@pytest.fixture
def ci_token_service(live_server_pg: LiveServer) -> Iterator[tuple[str, list[str]]]:
    """A stand-in for GitHub Actions' token endpoint (ACTIONS_ID_TOKEN_REQUEST_URL): it
    hands out a real token of the instance's provider, as the runner would hand out one
    of GitHub's; it records the audience each request asked for."""
    token = live_server_pg.manage("devtoken", "ci@example.test").stdout.strip().splitlines()[-1]
    audiences: list[str] = []

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            assert self.headers["Authorization"] == "bearer runner-secret"
            audiences.append(self.path.rsplit("audience=", 1)[-1])
            body = json.dumps({"value": token}).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_port}/token?api-version=2.0", audiences
    finally:
        server.shutdown()
        server.server_close()


def test_ambient_ci_credential_is_used_without_any_token_option(
    live_server_pg: LiveServer,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    ci_token_service: tuple[str, list[str]],
) -> None:
    url, audiences = ci_token_service
    monkeypatch.delenv("SIGSTORE_ID_TOKEN", raising=False)
    monkeypatch.setenv("GITHUB_ACTIONS", "true")
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_URL", url)
    monkeypatch.setenv("ACTIONS_ID_TOKEN_REQUEST_TOKEN", "runner-secret")
    artifact = tmp_path / "b.txt"
    artifact.write_text("signed in a CI job\n")
    code, _, err = _run(live_server_pg.url, tmp_path / "pins", "sign", str(artifact))
    assert code == 0, err
    assert audiences == ["sigstore"]
    assert _verify(live_server_pg.url, tmp_path / "pins", artifact, "ci@example.test") == 0


def test_no_identity_at_all_says_what_to_do(
    live_server_pg: LiveServer, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    for name in ("SIGSTORE_ID_TOKEN", "GITHUB_ACTIONS", "ACTIONS_ID_TOKEN_REQUEST_URL"):
        monkeypatch.delenv(name, raising=False)
    artifact = tmp_path / "c.txt"
    artifact.write_text("x\n")
    code, _, err = _run(live_server_pg.url, tmp_path / "pins", "sign", str(artifact))
    assert code == 2
    assert "no identity token" in err and "--browser" in err


def test_our_bundles_do_not_verify_against_the_public_sigstore_root(
    live_server_pg: LiveServer, tmp_path: Path
) -> None:
    token = live_server_pg.manage("devtoken", "d@example.test").stdout.strip().splitlines()[-1]
    artifact = tmp_path / "d.txt"
    artifact.write_text("ours\n")
    pins = tmp_path / "pins"
    assert _run(live_server_pg.url, pins, "sign", "--identity-token", token, str(artifact))[0] == 0
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = main(
            [
                "--sigstore-public",
                "--offline",
                "verify",
                str(artifact),
                "--cert-identity",
                "d@example.test",
                "--cert-oidc-issuer",
                f"{live_server_pg.url}/oauth",
            ]
        )
    assert code == 1, err.getvalue()
    assert "failed verification" in err.getvalue()
