"""Errors of the log that the API turns into HTTP answers."""

from __future__ import annotations


class LogUnavailable(Exception):
    """No active log of that kind, the log is frozen, or it has no checkpoint yet."""


class LogFaulty(Exception):
    """The stored tiles disagree with the log's last checkpoint; the log is not served."""
