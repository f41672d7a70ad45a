"""Portal pages of the accounts app (sign-in, account, projects)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
