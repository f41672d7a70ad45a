from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand

from accounts.audit import policy_key_ensure
from tlog import services
from tlog.models import Log


class Command(BaseCommand):
    help = "Initialise what is missing: the Rekor log, then the CA (ca_init). Safe to rerun."

    def handle(self, *args: Any, **options: Any) -> None:
        if not Log.objects.filter(kind=Log.Kind.REKOR, state=Log.State.ACTIVE).exists():
            log = services.log_create(kind=Log.Kind.REKOR)
            self.stdout.write(f"created {log} with origin {log.origin!r}")
        else:
            self.stdout.write("rekor log: present")
        call_command("ca_init", stdout=self.stdout)
        key = policy_key_ensure()
        self.stdout.write(f"policy key: {key.key_ref}")
        if settings.LOGIN_DEV_IDP:  # the portal signs in through the development provider
            from devidp.services import application_ensure_portal

            self.stdout.write(f"portal sign-in client: {application_ensure_portal().client_id}")
