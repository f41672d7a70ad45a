"""The certificate authority's state: CA certificates, trusted OIDC issuers, and every
certificate issued (for search and audit)."""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class CertificateAuthority(models.Model):
    """A root and one intermediate under it. Exactly one is active (issuing); older ones
    stay in the trusted root so that certificates they issued keep verifying."""

    name = models.CharField(max_length=128, unique=True)
    root_pem = models.TextField()
    intermediate_pem = models.TextField()
    root_key_ref = models.CharField(max_length=255)
    intermediate_key_ref = models.CharField(max_length=255)
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)
    retired_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="one_active_ca"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.name} ({'active' if self.active else 'retired'})"


class OidcIssuer(models.Model):
    """An identity provider whose tokens the CA accepts. Only these are ever contacted."""

    class Kind(models.TextChoices):
        EMAIL = "email", "Email (requires email_verified)"
        URI = "uri", "URI subject"
        USERNAME = "username", "Username"
        GITHUB = "github-workflow", "GitHub Actions workflow"
        GITLAB = "gitlab-pipeline", "GitLab CI pipeline"

    issuer_url = models.CharField(max_length=512, unique=True)
    kind = models.CharField(max_length=32, choices=Kind.choices)
    audience = models.CharField(max_length=255, default="sigstore")
    subject_domain = models.CharField(max_length=512, blank=True, default="")
    # Plain http to a loopback issuer: only for the development identity provider.
    allow_http_loopback = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    note = models.CharField(max_length=255, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.issuer_url} ({self.kind})"


class IssuedCertificate(models.Model):
    """One issued leaf. Never modified."""

    serial_hex = models.CharField(max_length=64, unique=True)
    san_kind = models.CharField(max_length=16)
    san_value = models.CharField(max_length=1024, db_index=True)
    issuer_url = models.CharField(max_length=512, db_index=True)
    key_fingerprint = models.CharField(max_length=64, db_index=True)
    not_before = models.DateTimeField()
    not_after = models.DateTimeField()
    certificate_der = models.BinaryField()
    # RFC 6962 get-entries extra_data: the precertificate and its chain.
    precertificate_der = models.BinaryField()
    authority = models.ForeignKey(CertificateAuthority, on_delete=models.PROTECT)
    ct_entry = models.OneToOneField(
        "tlog.Entry", on_delete=models.PROTECT, related_name="issued_certificate"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.serial_hex} for {self.san_value}"


class CaEvent(models.Model):
    """Audit record of a privileged CA change (created, intermediate rolled)."""

    action = models.CharField(max_length=32)
    actor = models.CharField(max_length=255, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
