from typing import Any

from django.core.management.base import BaseCommand, CommandError

from tlog.invariants import log_check
from tlog.models import Log


class Command(BaseCommand):
    help = "Check every log's invariants: leaves, root, tiles, checkpoints, consistency."

    def handle(self, *args: Any, **options: Any) -> None:
        failed = False
        for log in Log.objects.order_by("id"):
            problems = log_check(log)
            status = "ok" if not problems else "FAILED"
            self.stdout.write(f"{log}: {status}")
            for problem in problems:
                self.stdout.write(f"  - {problem}")
            failed = failed or bool(problems)
        if failed:
            raise CommandError("some logs failed their invariant check")
