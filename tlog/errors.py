"""Errors of the log that the API turns into HTTP answers."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from tlog.models import Entry


@dataclass
class DuplicateEntry(Exception):
    """The leaf is logged (or pending) already: `existing` names it (log and leaf hash)."""

    existing: Entry


class LogUnavailable(Exception):
    """No active log of that kind, the log is frozen, or it has no checkpoint yet."""


class LogFaulty(Exception):
    """The stored tiles disagree with the log's last checkpoint; the log is not served."""
