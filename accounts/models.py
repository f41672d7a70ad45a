"""Users (keyed by OIDC issuer and subject), projects, maintainers, trusted-signer
allow-lists, revocations, API tokens and the audit trail.

Every change to a project or its allow-list writes an `AuditEvent` in the same
transaction, and that event's canonical document is logged in the transparency log as
a policy-change entry signed by the instance's policy key (`PolicyKey`), so the history
of every allow-list is append-only and verifiable by anyone.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q


class Identity(models.Model):
    """An OIDC identity that signed in. Users are keyed by (issuer, subject), never by a
    claimed email alone: the email is kept for display and may change."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="identities"
    )
    issuer = models.CharField(max_length=512)
    subject = models.CharField(max_length=255)
    email = models.CharField(max_length=254, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    last_login_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name_plural = "identities"
        constraints = [
            models.UniqueConstraint(fields=["issuer", "subject"], name="identity_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.email or self.subject} ({self.issuer})"


class Project(models.Model):
    slug = models.SlugField(max_length=64, unique=True)
    name = models.CharField(max_length=200)
    description = models.TextField(blank=True, default="", max_length=4000)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return self.slug


class Membership(models.Model):
    class Role(models.TextChoices):
        OWNER = "owner", "Owner (manages maintainers and the allow-list)"
        MAINTAINER = "maintainer", "Maintainer (manages the allow-list)"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="memberships")
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="memberships"
    )
    role = models.CharField(max_length=16, choices=Role.choices)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "user"], name="membership_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.user} {self.role} of {self.project}"


class TrustedSigner(models.Model):
    """One row of a project's allow-list: an OIDC issuer plus an identity, exact or an
    anchored pattern (accounts.core.policy), with optional Fulcio-extension constraints."""

    class Match(models.TextChoices):
        EXACT = "exact", "Exact"
        PATTERN = "pattern", "Pattern"

    project = models.ForeignKey(Project, on_delete=models.CASCADE, related_name="signers")
    issuer = models.CharField(max_length=512)
    identity = models.CharField(max_length=1024)
    match = models.CharField(max_length=8, choices=Match.choices, default=Match.EXACT)
    # Constraints on the certificate's Fulcio extensions; empty means "any".
    source_repository = models.CharField(max_length=1024, blank=True, default="")
    source_ref = models.CharField(max_length=255, blank=True, default="")
    build_trigger = models.CharField(max_length=64, blank=True, default="")
    note = models.CharField(max_length=500, blank=True, default="")
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    added_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=[
                    "project",
                    "issuer",
                    "identity",
                    "match",
                    "source_repository",
                    "source_ref",
                    "build_trigger",
                ],
                name="trusted_signer_unique",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.identity} ({self.issuer}) for {self.project}"


class Revocation(models.Model):
    """A log entry or certificate marked revoked: for one project by its maintainers, or
    instance-wide (project NULL) by an admin. The log itself never changes; verification
    honours this table."""

    class Target(models.TextChoices):
        ENTRY = "entry", "Log entry (UUID)"
        CERTIFICATE = "certificate", "Certificate (serial)"

    target_kind = models.CharField(max_length=16, choices=Target.choices)
    # Entry: the 64-hex leaf hash part of the UUID. Certificate: lowercase hex serial.
    target = models.CharField(max_length=80)
    project = models.ForeignKey(
        Project, on_delete=models.CASCADE, related_name="revocations", null=True, blank=True
    )
    reason = models.CharField(max_length=500)
    revoked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    revoked_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["target_kind", "target", "project"],
                condition=Q(project__isnull=False),
                name="revocation_unique_project",
            ),
            models.UniqueConstraint(
                fields=["target_kind", "target"],
                condition=Q(project__isnull=True),
                name="revocation_unique_global",
            ),
        ]
        indexes = [models.Index(fields=["target_kind", "target"], name="revocation_lookup")]

    def __str__(self) -> str:
        return f"{self.target_kind} {self.target} revoked"


class PolicyKey(models.Model):
    """The instance key that signs policy-change log entries and policy documents."""

    key_ref = models.CharField(max_length=255)
    public_key_der = models.BinaryField()
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["active"], condition=Q(active=True), name="one_active_policy_key"
            ),
        ]


class AuditEvent(models.Model):
    """One change to a project (or an instance-wide revocation). Never modified.

    `document` is the canonical JSON (RFC 8785) that was signed and logged; `sequence`
    and `previous_sha256` chain a project's events, so a missing event is detectable.
    """

    project = models.ForeignKey(
        Project, on_delete=models.PROTECT, related_name="audit_events", null=True, blank=True
    )
    sequence = models.PositiveIntegerField()
    action = models.CharField(max_length=48)
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+", null=True
    )
    actor_label = models.CharField(max_length=600)
    document = models.BinaryField()
    document_sha256 = models.CharField(max_length=64)
    previous_sha256 = models.CharField(max_length=64, blank=True, default="")
    signature = models.BinaryField()
    policy_key = models.ForeignKey(PolicyKey, on_delete=models.PROTECT, related_name="+")
    # The policy-change entry: its leaf hash (the UUID's last 64 hex digits) once queued.
    log_leaf_hash = models.CharField(max_length=64, blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["project", "sequence"], name="audit_sequence_unique"),
        ]
        indexes = [models.Index(fields=["project", "-sequence"], name="audit_latest")]

    def __str__(self) -> str:
        return f"{self.action} #{self.sequence} on {self.project_id}"


class ApiToken(models.Model):
    """A REST API token. Shown once at creation; only its SHA-256 is stored. The prefix
    (the first characters of the token) is visible so a user can tell tokens apart."""

    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens"
    )
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=16, unique=True)
    token_sha256 = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"{self.prefix}… ({self.name})"
