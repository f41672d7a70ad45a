"""Errors the accounts services raise; the API and the pages translate them.

`code` is stable (the API returns it in `{"code", "message"}`); `message` says what to do.
"""

from __future__ import annotations


class AccountsError(Exception):
    status = 400

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message


class InvalidInput(AccountsError):
    status = 400


class Forbidden(AccountsError):
    status = 403


class NotFound(AccountsError):
    status = 404


class Conflict(AccountsError):
    status = 409
