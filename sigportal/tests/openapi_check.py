"""Test support: hold a real answer to the response schema /api/schema/ publishes for it."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import jsonschema
from django.test import Client


def answer_checker(client: Client) -> Callable[..., None]:
    """`check(response, "/api/v1/log", "get")`: the response's JSON against the schema of
    that operation and status (AssertionError-like ValidationError if it differs)."""
    schema = client.get("/api/schema/?format=json").json()

    def check(response: Any, path: str, method: str = "get") -> None:
        answers = schema["paths"][path][method]["responses"]
        wanted = answers[str(response.status_code)]["content"]["application/json"]["schema"]
        # The components beside it, for its $refs (#/components/schemas/...).
        jsonschema.validate(response.json(), {**wanted, "components": schema["components"]})

    return check
