"""Pages of the development identity provider: the sign-in form and the authorization
endpoint (DOT's, plus an out-of-band code page)."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from django.contrib.auth import login
from django.contrib.auth.views import redirect_to_login
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import reverse, reverse_lazy
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods
from oauth2_provider.views import AuthorizationView

from devidp import issuer_url
from devidp.forms import SignInForm
from devidp.services import identity_user_get_or_create

OOB_REDIRECT_URI = "urn:ietf:wg:oauth:2.0:oob"


@require_http_methods(["GET", "POST"])
def sign_in(request: HttpRequest) -> HttpResponse:
    """Sign in as whatever address is typed, then continue to `next` (the authorize URL)."""
    next_url = request.POST.get("next") or request.GET.get("next") or ""
    form = SignInForm(request.POST if request.method == "POST" else None)
    if form.is_valid():
        user = identity_user_get_or_create(email=form.cleaned_data["email"])
        login(request, user, backend="django.contrib.auth.backends.ModelBackend")
        return HttpResponseRedirect(_safe_next(request, next_url))
    context = {"form": form, "next": next_url, "issuer": issuer_url()}
    return render(request, "devidp/sign_in.html", context, status=400 if form.errors else 200)


def _safe_next(request: HttpRequest, next_url: str) -> str:
    """Only back to this host: the sign-in page must not be an open redirect."""
    allowed = url_has_allowed_host_and_scheme(
        next_url, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    )
    return next_url if allowed else reverse("devidp:login")


class DevAuthorizationView(AuthorizationView):
    """DOT's authorization endpoint with two additions: a signed-in user without an email
    (say an admin) is sent to the sign-in form, and the out-of-band redirect URI shows the
    code on a page for the person to paste into `sigstore sign --oauth-force-oob`."""

    login_url = reverse_lazy("devidp:login")

    def dispatch(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        user = request.user
        if user.is_authenticated and not getattr(user, "email", ""):
            return redirect_to_login(request.get_full_path(), self.login_url)
        return super().dispatch(request, *args, **kwargs)

    def redirect(self, redirect_to: str, application: Any) -> HttpResponse:
        if not redirect_to.startswith(OOB_REDIRECT_URI):
            return super().redirect(redirect_to, application)
        params = parse_qs(urlsplit(redirect_to).query)
        context = {key: values[0] for key, values in params.items() if key in ("code", "error")}
        return render(
            self.request, "devidp/oob.html", context, status=400 if "error" in context else 200
        )
