from __future__ import annotations

from django import forms
from django.core.exceptions import ValidationError

from devidp.tokens import MAX_EMAIL_LENGTH, normalize_email


class SignInForm(forms.Form):
    """Any email address: whoever types it becomes that identity."""

    email = forms.EmailField(max_length=MAX_EMAIL_LENGTH, label="Email address")

    def clean_email(self) -> str:
        try:
            return normalize_email(self.cleaned_data["email"])
        except ValueError as exc:
            raise ValidationError(
                "Use a plain address made of letters, digits and . _ + - "
                "(for example alice@example.com).",
                code="invalid",
            ) from exc
