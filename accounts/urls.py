"""REST API routes of the accounts app (projects, maintainers, allow-lists, tokens)."""

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
