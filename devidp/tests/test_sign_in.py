"""The development sign-in page: anyone can be anyone, but safely rendered and CSRF-bound."""

from __future__ import annotations

import pytest
from django.contrib.auth import get_user_model
from django.test import Client

from devidp.tests.helpers import csrf_token_in

pytestmark = pytest.mark.django_db

LOGIN = "/oauth/login/"


def test_page_carries_the_loud_banner(browser: Client):
    response = browser.get(LOGIN)
    assert response.status_code == 200
    assert b"ANYONE CAN BE ANYONE" in response.content


def test_sign_in_creates_the_user_and_stays_on_this_host(browser: Client):
    form = browser.get(LOGIN)
    response = browser.post(
        LOGIN,
        {
            "email": "alice@example.com",
            "next": "https://evil.example/steal",
            "csrfmiddlewaretoken": csrf_token_in(form.content),
        },
    )
    assert response.status_code == 302
    assert response["Location"] == LOGIN
    assert b"signed in as <strong>alice@example.com</strong>" in browser.get(LOGIN).content
    assert get_user_model().objects.filter(username="alice@example.com").exists()


def test_post_without_csrf_token_is_forbidden(browser: Client):
    response = browser.post(LOGIN, {"email": "alice@example.com"})
    assert response.status_code == 403
    assert not get_user_model().objects.exists()


@pytest.mark.parametrize(
    "email", ["<script>alert(1)</script>@example.com", '"><script>alert(1)</script>']
)
def test_markup_in_the_address_is_refused_and_inert(browser: Client, email: str):
    form = browser.get(LOGIN)
    response = browser.post(
        LOGIN, {"email": email, "csrfmiddlewaretoken": csrf_token_in(form.content)}
    )
    assert response.status_code == 400
    assert b"<script>alert" not in response.content
    assert b"&lt;script&gt;" in response.content
    assert not get_user_model().objects.exists()


def test_next_is_rendered_escaped(browser: Client):
    response = browser.get(LOGIN, {"next": '"><script>alert(1)</script>'})
    assert b"<script>alert" not in response.content
