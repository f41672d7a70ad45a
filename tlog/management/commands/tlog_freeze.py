from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from tlog import services
from tlog.models import Log


class Command(BaseCommand):
    help = "Freeze the active shard of a log kind and start a new shard after it."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--kind", default=Log.Kind.REKOR, choices=list(Log.Kind.values))
        parser.add_argument("--actor", default="manage.py tlog_freeze")

    def handle(self, *args: Any, **options: Any) -> None:
        old, new = services.log_freeze_and_rotate(kind=options["kind"], actor=options["actor"])
        self.stdout.write(f"froze {old}; started {new}")
