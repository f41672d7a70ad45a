"""What django-oauth-toolkit needs, written into the settings module by `configure`.

Imported by sigportal/settings.py before Django is set up: no Django imports here.
"""

from __future__ import annotations

import contextlib
import logging
import os
import tempfile
from pathlib import Path
from typing import Any

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa

from devidp import issuer_for

log = logging.getLogger(__name__)

KEY_FILE_NAME = "devidp_rsa.pem"
# Short-lived tokens: a signing session needs one for a few seconds (INTEROP §3.1).
TOKEN_LIFETIME_SECONDS = 600


def configure(g: dict[str, Any]) -> None:
    """Set OAUTH2_PROVIDER and LOGIN_URL in the settings globals `g`.

    Needs DATA_DIR, PUBLIC_URL and KEY_PASSPHRASE in `g`. Generates the RS256 signing key
    into DATA_DIR/devidp_rsa.pem (encrypted with KEY_PASSPHRASE, mode 0600) on first run.
    """
    pem = signing_key_pem(Path(g["DATA_DIR"]) / KEY_FILE_NAME, g["KEY_PASSPHRASE"].encode())
    g["OAUTH2_PROVIDER"] = oauth2_provider_settings(issuer_for(g["PUBLIC_URL"]), pem)
    g["LOGIN_URL"] = "devidp:login"


def oauth2_provider_settings(issuer: str, private_key_pem: str) -> dict[str, Any]:
    """DOT's OAUTH2_PROVIDER for an OIDC provider whose tokens are all JWTs."""
    return {
        "OIDC_ENABLED": True,
        "OIDC_ISS_ENDPOINT": issuer,
        "OIDC_RSA_PRIVATE_KEY": private_key_pem,
        "OIDC_RESPONSE_TYPES_SUPPORTED": ["code"],
        "OIDC_TOKEN_ENDPOINT_AUTH_METHODS_SUPPORTED": [
            "none",
            "client_secret_basic",
            "client_secret_post",
        ],
        "OAUTH2_VALIDATOR_CLASS": "devidp.validators.DevOAuth2Validator",
        "SCOPES": {
            "openid": "Sign you in",
            "email": "Your email address",
            "profile": "Your user name",
        },
        "DEFAULT_SCOPES": ["openid", "email"],
        # sigstore-python uses the ACCESS token as its identity token (INTEROP §3.3).
        "ACCESS_TOKEN_GENERATOR": "devidp.tokens.access_token_generator",
        "REFRESH_TOKEN_GENERATOR": "oauthlib.oauth2.rfc6749.tokens.random_token_generator",
        "ACCESS_TOKEN_EXPIRE_SECONDS": TOKEN_LIFETIME_SECONDS,
        "ID_TOKEN_EXPIRE_SECONDS": TOKEN_LIFETIME_SECONDS,
        "PKCE_REQUIRED": True,
        # sigstore-python listens on http://localhost:<random port>/auth/callback (RFC 8252).
        "ALLOW_LOCALHOST_LOOPBACK": True,
        "REQUEST_APPROVAL_PROMPT": "auto",
        "REFRESH_TOKEN_REUSE_PROTECTION": True,
        **_rfc9700_compliance(),
    }


def _rfc9700_compliance() -> dict[str, bool]:
    """The RFC 9700 gates on: the insecure legacy paths are refused, not warned about.

    All but REDIRECT_URI_SCHEME: loopback callbacks are http by nature (RFC 8252 §7.3), so
    `check --deploy` keeps one warning about http redirect URIs, fair for a dev provider.
    """
    gates = (
        "IMPLICIT_GRANT",
        "PASSWORD_GRANT",
        "PKCE_METHOD",
        "ACCESS_TOKEN_TRANSPORT",
        "AUTHZ_RESPONSE_ISS",
        "TOKEN_STORAGE",
        "REFRESH_TOKEN",
        "REDIRECT_URI_MATCHING",
        "PKCE_REQUIRED",
    )
    return {f"COMPLIANT_BCP_RFC9700_{gate}": True for gate in gates}


def signing_key_pem(path: Path, passphrase: bytes) -> str:
    """The provider's RSA key as an unencrypted PEM (what DOT expects), made on first run."""
    if not path.exists():
        _create_key_file(path, passphrase)
    key = serialization.load_pem_private_key(path.read_bytes(), password=passphrase)
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def _create_key_file(path: Path, passphrase: bytes) -> None:
    """Write a new encrypted key to `path` unless another process got there first."""
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(passphrase),
    )
    # mkstemp creates the file with mode 0600; link() publishes it atomically and never
    # replaces an existing key. A crash before link() leaves only a stray temp file.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{KEY_FILE_NAME}.")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(pem)
            f.flush()
            os.fsync(f.fileno())
        with contextlib.suppress(FileExistsError):  # a concurrent first start won
            os.link(tmp, path)
            log.warning("development identity provider: new signing key in %s", path)
    finally:
        os.unlink(tmp)
