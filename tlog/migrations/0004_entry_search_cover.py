"""A covering index for search results (PostgreSQL only).

A search answers entry UUIDs (tree id + leaf hash) for the entry ids its keys name. With
only the primary key, each of those ids cost a heap fetch of a ~2 KB row at a random
place in the table: ~22 ms for 100 results at 10 million entries, most of it cold reads
(docs/benchmarks.md). With (id) INCLUDE (log_id, leaf_hash) the results come from an
index-only scan. SQLite has no INCLUDE; the embedded default does not need it.
"""

from django.db import migrations

_CREATE = (
    "CREATE INDEX IF NOT EXISTS entry_search_cover ON tlog_entry (id) INCLUDE (log_id, leaf_hash)"
)
_DROP = "DROP INDEX IF EXISTS entry_search_cover"


def _on_postgres(sql: str):
    def run(apps, schema_editor):
        if schema_editor.connection.vendor == "postgresql":
            schema_editor.execute(sql)

    return run


class Migration(migrations.Migration):
    dependencies = [
        ("tlog", "0003_portal_indexes"),
    ]

    operations = [
        migrations.RunPython(_on_postgres(_CREATE), _on_postgres(_DROP)),
    ]
