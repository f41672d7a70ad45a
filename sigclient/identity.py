"""Where the signing identity comes from, in order:

1. ``--identity-token JWT``;
2. ``$SIGSTORE_ID_TOKEN``;
3. an ambient CI credential (GitHub Actions, GitLab, Buildkite, Google Cloud...): what
   sigstore-python's ``detect_credential`` finds in the environment;
4. the browser flow (OAuth authorization code with PKCE) against the identity provider
   the instance's signing config names, when asked with ``--browser`` or when a person
   is at the terminal.
"""

from __future__ import annotations

import os
import sys
from collections.abc import Callable

from sigstore.errors import Error as SigstoreError
from sigstore.models import ClientTrustConfig
from sigstore.oidc import Issuer, detect_credential

from sigclient.errors import ClientError

TOKEN_ENV = "SIGSTORE_ID_TOKEN"  # noqa: S105 (a variable name, not a secret)


def obtain_token(
    *,
    explicit: str | None,
    trust: Callable[[], ClientTrustConfig],
    browser: bool,
    interactive: bool | None = None,
) -> str:
    """The raw identity token to sign with; ``trust`` is called only for the browser flow."""
    token = explicit or os.environ.get(TOKEN_ENV)
    if token:
        return token
    try:
        ambient = detect_credential()
    except SigstoreError as exc:
        raise ClientError(
            f"an ambient CI credential was found but could not be used: {exc}",
            "Check the job's OIDC token permissions (GitHub: `permissions: id-token: write`)",
        ) from exc
    if ambient:
        return ambient
    if interactive is None:
        interactive = sys.stdin.isatty() and sys.stderr.isatty()
    if browser or interactive:
        return browser_token(trust())
    raise ClientError(
        "no identity token to sign with",
        f"Pass --identity-token JWT, set {TOKEN_ENV}, run in a CI job with an OIDC token, "
        "or use --browser to sign in with the instance's identity provider",
    )


def browser_token(trust: ClientTrustConfig) -> str:
    """Sign in through the browser with the identity provider of the signing config."""
    try:
        url = trust.signing_config.get_oidc_url()
    except SigstoreError as exc:
        raise ClientError(
            "the instance's signing config names no identity provider",
            "Pass --identity-token JWT instead",
        ) from exc
    try:
        return str(Issuer(url).identity_token())
    except SigstoreError as exc:
        raise ClientError(
            f"signing in with {url} failed: {exc}",
            "Retry, or pass --identity-token JWT obtained another way",
        ) from exc
