"""Vacuum the short-lived pending table eagerly (PostgreSQL only)."""

from django.db import migrations


def tune(apps, schema_editor):
    if schema_editor.connection.vendor == "postgresql":
        schema_editor.execute(
            "ALTER TABLE tlog_pendingentry SET (autovacuum_vacuum_scale_factor = 0,"
            " autovacuum_vacuum_threshold = 1000, autovacuum_vacuum_cost_delay = 0)"
        )


class Migration(migrations.Migration):
    dependencies = [("tlog", "0001_initial")]
    operations = [migrations.RunPython(tune, migrations.RunPython.noop)]
