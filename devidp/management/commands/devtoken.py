"""`manage.py devtoken EMAIL`: an ID token from the development identity provider."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from devidp import SIGSTORE_CLIENT_ID
from devidp.settings import TOKEN_LIFETIME_SECONDS
from devidp.tokens import mint_token


class Command(BaseCommand):
    help = (
        "Print a fresh ID token for EMAIL, signed by the development identity provider "
        "(verifiable through its discovery document and JWKS). For example: "
        'sigstore sign --identity-token "$(python manage.py devtoken alice@example.com)" FILE'
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("email")
        parser.add_argument("--audience", default=SIGSTORE_CLIENT_ID)
        parser.add_argument(
            "--lifetime", type=int, default=TOKEN_LIFETIME_SECONDS, help="seconds (default 600)"
        )

    def handle(self, *args: Any, **options: Any) -> None:
        try:
            token = mint_token(
                options["email"], audience=options["audience"], lifetime=options["lifetime"]
            )
        except ValueError as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(token)
