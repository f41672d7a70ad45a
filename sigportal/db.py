"""Prepared statements for the hot paths (uploads, certificate issuance).

Django never prepares statements, so PostgreSQL parses and plans every statement of
every upload again: about 40% of its CPU per upload (bench/upload). Preparing every
statement a connection repeats (psycopg's prepare_threshold) is not safe either: after
five runs PostgreSQL may switch a prepared statement to a generic plan, which cannot bound
`value LIKE $1` by its prefix, and the portal's prefix search went from ~2 ms to ~700 ms
on a connection's eighth run. So only the hot paths' fixed statements, simple lookups by
key and inserts whose best plan never depends on the values, are prepared, by name,
through this function; everything else is planned for its values each time.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from django.conf import settings
from django.db.backends.utils import CursorWrapper


def prepared_statements() -> bool:
    options = settings.DATABASES["default"].get("OPTIONS") or {}
    return bool(settings.IS_POSTGRES and options.get("server_side_binding"))


def execute_prepared(
    cur: CursorWrapper, sql: str, params: Sequence[Any] | Mapping[str, Any] | None = None
) -> None:
    """cur.execute(sql, params), as a prepared statement on PostgreSQL with server-side
    binding. Errors are Django's (IntegrityError, OperationalError, ...) as usual."""
    if not prepared_statements():
        cur.execute(sql, params)
        return
    with cur.db.wrap_database_errors:
        cur.cursor.execute(sql, params, prepare=True)
