"""Writes of the development identity provider."""

from __future__ import annotations

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.hashers import check_password
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


def application_ensure_portal() -> AbstractApplication:
    """The portal's own sign-in client (settings.OIDC_RP_CLIENT_ID): confidential,
    authorization code + PKCE, RS256 ID tokens, redirecting only to PUBLIC_URL's
    /oidc/callback/, no consent screen. Idempotent: a changed public URL or secret (the
    generated one in the data directory) is written over the stored client."""
    redirect_uri = f"{settings.PUBLIC_URL}/oidc/callback/"
    secret = settings.OIDC_RP_CLIENT_SECRET
    with transaction.atomic():
        application, created = (
            get_application_model()
            .objects.select_for_update()
            .get_or_create(
                client_id=settings.OIDC_RP_CLIENT_ID,
                defaults={
                    "name": "sigportal portal sign-in",
                    "client_type": AbstractApplication.CLIENT_CONFIDENTIAL,
                    "authorization_grant_type": AbstractApplication.GRANT_AUTHORIZATION_CODE,
                    "redirect_uris": redirect_uri,
                    "client_secret": secret,  # stored hashed (hash_client_secret)
                    "hash_client_secret": True,
                    "skip_authorization": True,
                    "algorithm": AbstractApplication.RS256_ALGORITHM,
                },
            )
        )
        if created:
            return application
        stale = application.redirect_uris != redirect_uri or not check_password(
            secret, application.client_secret
        )
        if stale:
            application.redirect_uris = redirect_uri
            application.client_secret = secret
            application.hash_client_secret = True
            application.save()
    return application
