"""The provider's RSA key: made once, encrypted, private to its owner."""

from __future__ import annotations

from pathlib import Path

from devidp.settings import oauth2_provider_settings, signing_key_pem


def test_key_is_made_once_encrypted_and_mode_0600(tmp_path: Path):
    path = tmp_path / "devidp_rsa.pem"
    first = signing_key_pem(path, b"passphrase")
    assert path.stat().st_mode & 0o777 == 0o600
    assert path.read_bytes().startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    assert signing_key_pem(path, b"passphrase") == first
    assert first.startswith("-----BEGIN PRIVATE KEY-----")
    assert [p.name for p in tmp_path.iterdir()] == ["devidp_rsa.pem"]  # no temp file left


def test_settings_make_access_tokens_jwts_and_require_pkce():
    config = oauth2_provider_settings("http://127.0.0.1:8000/oauth", "PEM")
    assert config["OIDC_ISS_ENDPOINT"] == "http://127.0.0.1:8000/oauth"
    assert config["ACCESS_TOKEN_GENERATOR"] == "devidp.tokens.access_token_generator"
    assert config["PKCE_REQUIRED"] is True
    assert config["ALLOW_LOCALHOST_LOOPBACK"] is True
    assert config["ACCESS_TOKEN_EXPIRE_SECONDS"] == config["ID_TOKEN_EXPIRE_SECONDS"] == 600
