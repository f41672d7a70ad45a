"""Writes of the development identity provider."""

from __future__ import annotations

from django.contrib.auth import get_user_model
from django.contrib.auth.models import AbstractBaseUser
from django.db import transaction
from oauth2_provider.models import AbstractApplication, get_application_model

from devidp import SIGSTORE_CLIENT_ID
from devidp.tokens import normalize_email

# Any port on these loopback callbacks (RFC 8252 §7.3; ALLOW_LOCALHOST_LOOPBACK for
# "localhost"), plus the out-of-band URI of `sigstore sign --oauth-force-oob`.
SIGSTORE_REDIRECT_URIS = (
    "http://localhost/auth/callback",
    "http://127.0.0.1/auth/callback",
    "http://[::1]/auth/callback",
    "urn:ietf:wg:oauth:2.0:oob",
)


def application_ensure_sigstore() -> AbstractApplication:
    """The public "sigstore" client (authorization code + PKCE, no consent screen)."""
    application, _ = get_application_model().objects.get_or_create(
        client_id=SIGSTORE_CLIENT_ID,
        defaults={
            "name": "sigstore",
            "client_type": AbstractApplication.CLIENT_PUBLIC,
            "authorization_grant_type": AbstractApplication.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": " ".join(SIGSTORE_REDIRECT_URIS),
            # A public client has no secret. sigstore-python still authenticates with
            # HTTP Basic "sigstore:" (empty), which matches the empty, unhashed value.
            "client_secret": "",
            "hash_client_secret": False,
            "skip_authorization": True,
            "algorithm": AbstractApplication.RS256_ALGORITHM,
        },
    )
    return application


@transaction.atomic
def identity_user_get_or_create(*, email: str) -> AbstractBaseUser:
    """The user for an email address, created on first sign-in (no password: anyone can
    be anyone here). Raises ValueError for an address normalize_email refuses."""
    email = normalize_email(email)
    user, created = get_user_model().objects.get_or_create(
        username=email, defaults={"email": email}
    )
    if created:
        user.set_unusable_password()
        user.save(update_fields=["password"])
    return user
