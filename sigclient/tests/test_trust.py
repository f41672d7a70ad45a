"""Trust on first use: pinning an instance's trusted root, and refusing a changed one."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
import sigstore

from sigclient.cli import main
from sigclient.errors import ClientError
from sigclient.trust import CONFIG_PATH, MAX_CONFIG_BYTES, load_trust, root_fingerprint

STORE = Path(sigstore.__file__).parent / "_store"


def config_text(tuf_host: str) -> str:
    """A valid ClientTrustConfig built from the roots sigstore-python ships."""
    store = STORE / f"https%3A%2F%2F{tuf_host}"
    return json.dumps(
        {
            "mediaType": "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json",
            "trustedRoot": json.loads((store / "trusted_root.json").read_text()),
            "signingConfig": json.loads((store / "signing_config.v0.2.json").read_text()),
        }
    )


PROD = config_text("tuf-repo-cdn.sigstore.dev")
STAGING = config_text("tuf-repo-cdn.sigstage.dev")


class Site:
    """A loopback HTTP server whose trust config the test can change."""

    def __init__(self) -> None:
        self.body = PROD.encode()
        self.status = 200
        site = self

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                ok = self.path == CONFIG_PATH and site.status == 200
                self.send_response(200 if ok else site.status if site.status != 200 else 404)
                self.send_header("Content-Type", "application/json")
                self.end_headers()
                if ok:
                    self.wfile.write(site.body)

            def log_message(self, format: str, *args: object) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"


@pytest.fixture
def site() -> Iterator[Site]:
    s = Site()
    thread = threading.Thread(target=s.server.serve_forever, daemon=True)
    thread.start()
    try:
        yield s
    finally:
        s.server.shutdown()
        s.server.server_close()
        thread.join()


def load(site: Site, pins: Path, *, refresh: bool = False) -> list[str]:
    said: list[str] = []
    load_trust(site.url, None, pin_dir=pins, refresh=refresh, notify=said.append)
    return said


def test_first_use_pins_and_prints_the_fingerprint(site, tmp_path):
    said = load(site, tmp_path)
    assert len(said) == 1
    assert root_fingerprint(PROD) in said[0]
    (pin,) = tmp_path.iterdir()
    assert pin.name == f"127.0.0.1_{site.url.rsplit(':', 1)[1]}.json"
    assert root_fingerprint(pin.read_text()) == root_fingerprint(PROD)


def test_same_root_later_is_accepted_quietly(site, tmp_path):
    load(site, tmp_path)
    assert load(site, tmp_path) == []


def test_changed_root_is_refused_until_refreshed(site, tmp_path):
    load(site, tmp_path)
    site.body = STAGING.encode()
    with pytest.raises(ClientError) as err:
        load(site, tmp_path)
    assert "changed since it was pinned" in str(err.value)
    assert "--refresh-trust" in str(err.value)
    assert root_fingerprint(STAGING) in str(err.value)
    said = load(site, tmp_path, refresh=True)
    assert root_fingerprint(STAGING) in said[0]
    assert load(site, tmp_path) == []


def test_plain_http_to_another_host_is_refused(tmp_path):
    with pytest.raises(ClientError, match=r"refusing plain http to sigportal\.example"):
        load_trust("http://sigportal.example", None, pin_dir=tmp_path)
    assert not list(tmp_path.iterdir())


def test_oversized_or_missing_configs_are_refused(site, tmp_path):
    site.body = b" " * (MAX_CONFIG_BYTES + 1)
    with pytest.raises(ClientError, match="larger than"):
        load(site, tmp_path)
    site.status = 404
    with pytest.raises(ClientError, match="HTTP 404"):
        load(site, tmp_path)
    site.status, site.body = 200, b'{"mediaType": "nonsense"}'
    with pytest.raises(ClientError, match="not a valid Sigstore ClientTrustConfig"):
        load(site, tmp_path)
    assert not list(tmp_path.iterdir())


def test_trust_config_file_is_used_as_is(tmp_path):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(PROD)
    assert load_trust(None, cfg, pin_dir=tmp_path / "pins").trusted_root is not None
    with pytest.raises(ClientError, match="cannot read"):
        load_trust(None, tmp_path / "missing.json", pin_dir=tmp_path)
    with pytest.raises(ClientError, match="exactly one"):
        load_trust("https://a.example", cfg, pin_dir=tmp_path)


def test_cli_errors_are_one_line_with_exit_code_2(tmp_path, capsys, monkeypatch):
    monkeypatch.delenv("SIGSTORE_ID_TOKEN", raising=False)
    monkeypatch.delenv("SIGCLIENT_INSTANCE", raising=False)
    cfg = tmp_path / "cfg.json"
    cfg.write_text(PROD)
    (tmp_path / "a.txt").write_text("a")
    assert main(["--trust-config", str(cfg), "sign", str(tmp_path / "a.txt")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: no identity token to sign with. Pass --identity-token")
    assert err.count("\n") == 1
    assert main(["verify", "a", "--cert-identity", "x", "--cert-oidc-issuer", "y"]) == 2
    assert "error: no instance to trust" in capsys.readouterr().err
    assert main(["verify"]) == 2  # argparse usage error


def test_cli_verify_without_a_bundle_says_what_to_do(tmp_path, capsys):
    cfg = tmp_path / "cfg.json"
    cfg.write_text(PROD)
    (tmp_path / "a.txt").write_text("a")
    args = ["verify", str(tmp_path / "a.txt"), "--cert-identity", "x", "--cert-oidc-issuer", "y"]
    assert main([*args, "--trust-config", str(cfg)]) == 2
    assert "no bundle for" in capsys.readouterr().err
