from typing import Any

from django.core.management.base import BaseCommand

from tlog import services
from tlog.models import Log


class Command(BaseCommand):
    help = "Initialise what is missing: log keys and the active logs. Safe to run again."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Log.objects.filter(kind=Log.Kind.REKOR, state=Log.State.ACTIVE).exists():
            log = services.log_create(kind=Log.Kind.REKOR)
            self.stdout.write(f"created {log} with origin {log.origin!r}")
        else:
            self.stdout.write("rekor log: present")
