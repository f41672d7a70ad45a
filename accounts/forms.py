"""Forms of the portal pages. They bound and shape the input; the rules (who may, what
is a valid pattern, which issuers exist) live in accounts.services, whose refusals the
views attach to the form as non-field errors."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings

from accounts.models import Identity, Membership, Revocation, TrustedSigner
from ca.models import OidcIssuer


class PageForm(forms.Form):
    """No "Name:" colons: a label is the field's accessible name, read out as written."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class ProjectForm(PageForm):
    slug = forms.SlugField(
        max_length=64,
        label="Short name (slug)",
        help_text="3 to 64 lowercase letters, digits and hyphens; it appears in URLs "
        "and in sigclient check --project. It cannot be changed later.",
    )
    name = forms.CharField(max_length=200)
    description = forms.CharField(
        max_length=4000, required=False, widget=forms.Textarea(attrs={"rows": 4})
    )


def _issuer_choices() -> list[tuple[str, str]]:
    urls = OidcIssuer.objects.filter(enabled=True).order_by("issuer_url")
    return [(url, url) for url in urls.values_list("issuer_url", flat=True)]


class SignerForm(PageForm):
    issuer = forms.ChoiceField(label="OIDC issuer", choices=())
    identity = forms.CharField(
        max_length=1024,
        help_text="An email address or URI, exact; or a pattern where * matches one path "
        "segment or email local part and ** several segments.",
    )
    match = forms.ChoiceField(
        choices=TrustedSigner.Match.choices, initial=TrustedSigner.Match.EXACT
    )
    source_repository = forms.CharField(
        max_length=1024, required=False, label="Source repository URI (optional)"
    )
    source_ref = forms.CharField(max_length=255, required=False, label="Source ref (optional)")
    build_trigger = forms.CharField(max_length=64, required=False, label="Build trigger (optional)")
    note = forms.CharField(max_length=500, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["issuer"].choices = _issuer_choices()  # type: ignore[attr-defined]


class RevocationForm(PageForm):
    target_kind = forms.ChoiceField(
        label="What to revoke", choices=Revocation.Target.choices, initial="entry"
    )
    target = forms.CharField(
        max_length=80,
        label="Entry UUID or certificate serial (hex)",
    )
    reason = forms.CharField(max_length=500)


def _login_issuer_choices() -> list[tuple[str, str]]:
    """The sign-in provider first, then any other issuer people have signed in with."""
    issuers = [settings.LOGIN_ISSUER] if settings.LOGIN_ISSUER else []
    known = Identity.objects.order_by("issuer").values_list("issuer", flat=True).distinct()
    issuers += [issuer for issuer in known if issuer not in issuers]
    return [(issuer, issuer) for issuer in issuers]


class MaintainerForm(PageForm):
    issuer = forms.ChoiceField(label="Sign-in provider", choices=())
    email = forms.EmailField(
        max_length=254,
        help_text="The verified address they signed in with here (they must have signed in once).",
    )
    role = forms.ChoiceField(choices=Membership.Role.choices, initial="maintainer")

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["issuer"].choices = _login_issuer_choices()  # type: ignore[attr-defined]


class RoleForm(PageForm):
    role = forms.ChoiceField(choices=Membership.Role.choices)


class ApiTokenForm(PageForm):
    name = forms.CharField(max_length=100, help_text="What the token is for, e.g. “release CI”.")
