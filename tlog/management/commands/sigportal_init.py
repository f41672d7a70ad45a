from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from ca import services as ca_services
from ca.models import CertificateAuthority
from tlog import services
from tlog.models import Log


class Command(BaseCommand):
    help = (
        "Initialise what is missing: the Rekor log, the CT log, the CA (root and "
        "intermediate) and the configured OIDC issuers. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        if not Log.objects.filter(kind=Log.Kind.REKOR, state=Log.State.ACTIVE).exists():
            log = services.log_create(kind=Log.Kind.REKOR)
            self.stdout.write(f"created {log} with origin {log.origin!r}")
        ct = ca_services.ct_log_ensure()
        self.stdout.write(f"ct log: {ct.origin}")
        if not CertificateAuthority.objects.filter(active=True).exists():
            authority = ca_services.ca_create(
                name=settings.PUBLIC_HOST.replace(":", "-"),
                organization=settings.CA_ORGANIZATION,
                actor="sigportal_init",
            )
            self.stdout.write(f"created CA {authority}")
        for issuer in settings.OIDC_ISSUERS:
            ca_services.issuer_upsert(**issuer)
            self.stdout.write(f"issuer: {issuer['issuer_url']}")
        if settings.DEV_IDP_ENABLED:
            from devidp import issuer_url

            ca_services.issuer_upsert(
                issuer_url=issuer_url(),
                kind="email",
                allow_http_loopback=True,
                note="development identity provider",
            )
            self.stdout.write(f"development identity provider: {issuer_url()}")
