"""Fixtures: a browser with CSRF enforced, and a relying party like sigstore-python."""

from __future__ import annotations

import pytest
from django.test import Client

from devidp.tests.helpers import RelyingParty


@pytest.fixture
def browser() -> Client:
    """A browser: cookies kept, CSRF enforced as for real."""
    return Client(enforce_csrf_checks=True)


@pytest.fixture
def rp() -> RelyingParty:
    return RelyingParty()
