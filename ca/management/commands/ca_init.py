from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from ca import services
from ca.models import CertificateAuthority


class Command(BaseCommand):
    help = (
        "Create what the CA lacks: the CT log, a root (ECDSA P-384) and an intermediate "
        "(ECDSA P-256) as encrypted PEM, and the configured OIDC issuers. Safe to run again."
    )

    def handle(self, *args: Any, **options: Any) -> None:
        ct = services.ct_log_ensure()
        self.stdout.write(f"ct log: {ct.origin}")
        if not CertificateAuthority.objects.filter(active=True).exists():
            authority = services.ca_create(
                name=settings.PUBLIC_HOST.replace(":", "-"),
                organization=settings.CA_ORGANIZATION,
                actor="ca_init",
            )
            self.stdout.write(f"created CA {authority}")
        else:
            self.stdout.write("CA: present")
        for issuer in settings.OIDC_ISSUERS:
            services.issuer_seed(**issuer)
            self.stdout.write(f"issuer: {issuer['issuer_url']}")
        if settings.DEV_IDP_ENABLED:
            from devidp import issuer_url

            services.issuer_seed(
                issuer_url=issuer_url(),
                kind="email",
                allow_http_loopback=True,
                note="development identity provider",
            )
            self.stdout.write(f"development identity provider: {issuer_url()}")
