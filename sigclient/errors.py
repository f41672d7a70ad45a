"""The one error type the client raises: what failed, and what to do about it."""

from __future__ import annotations


class ClientError(Exception):
    """An operation failed in a way the user can act on.

    ``message`` says what failed; ``hint`` says what to do next. The command line
    prints them as one line: ``error: <message>. <hint>``.
    """

    def __init__(self, message: str, hint: str = "") -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint

    def __str__(self) -> str:
        text = self.message.rstrip(".")
        return f"{text}. {self.hint}" if self.hint else text


class VerificationFailed(ClientError):
    """A signature, bundle or attestation did not verify (exit code 1, not 2)."""
