"""Admin pages of the accounts app: read-only, except instance-wide revocations.

Every change to a project, its members or its allow-list must be signed, chained and
logged (accounts.audit). The admin's generic forms would write rows behind the audit
trail's back, so projects, memberships and signers are read here and changed through
the portal or the API (both call accounts.services). An administrator's one write is an
instance-wide revocation, which goes through `revocation_add` and so is audited too.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.contrib import admin
from django.http import HttpRequest

from accounts import selectors, services
from accounts.errors import AccountsError
from accounts.models import (
    ApiToken,
    AuditEvent,
    Identity,
    Membership,
    PolicyKey,
    Project,
    Revocation,
    TrustedSigner,
)


class ReadOnlyAdmin(admin.ModelAdmin):
    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class ReadOnlyInline(admin.TabularInline):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class MembershipInline(ReadOnlyInline):
    model = Membership
    fk_name = "project"
    fields = ("user", "role", "added_by", "added_at")
    readonly_fields = fields


class TrustedSignerInline(ReadOnlyInline):
    model = TrustedSigner
    fields = ("issuer", "identity", "match", "source_repository", "source_ref", "note")
    readonly_fields = fields


@admin.register(Project)
class ProjectAdmin(ReadOnlyAdmin):
    list_display = ("slug", "name", "created_at")
    search_fields = ("=slug", "name")
    inlines = (MembershipInline, TrustedSignerInline)


@admin.register(AuditEvent)
class AuditEventAdmin(ReadOnlyAdmin):
    list_display = ("project", "sequence", "action", "actor_label", "created_at")
    list_filter = ("action",)
    search_fields = ("=project__slug", "=document_sha256", "=log_leaf_hash")
    exclude = ("document", "signature")
    readonly_fields = ("document_text",)

    @admin.display(description="document")
    def document_text(self, obj: AuditEvent) -> str:
        return bytes(obj.document).decode("utf-8", "replace")


@admin.register(Identity)
class IdentityAdmin(ReadOnlyAdmin):
    list_display = ("user", "issuer", "subject", "email", "last_login_at")
    search_fields = ("=subject", "email")


@admin.register(ApiToken)
class ApiTokenAdmin(ReadOnlyAdmin):
    """Only a digest and a prefix are stored: there is no secret to show."""

    list_display = ("prefix", "name", "user", "created_at", "last_used_at")
    search_fields = ("=prefix",)
    exclude = ("token_sha256",)


@admin.register(PolicyKey)
class PolicyKeyAdmin(ReadOnlyAdmin):
    list_display = ("id", "key_ref", "active", "created_at")
    exclude = ("public_key_der",)


class RevocationForm(forms.ModelForm):
    class Meta:
        model = Revocation
        fields = ("target_kind", "target", "reason")

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("target_kind") and data.get("target"):
            try:
                data["target"] = services.revocation_target_normalise(
                    data["target_kind"], data["target"]
                )
            except AccountsError as exc:
                raise forms.ValidationError(exc.message) from None
            if (
                selectors.revocations(None)
                .filter(target_kind=data["target_kind"], target=data["target"])
                .exists()
            ):
                raise forms.ValidationError("that is already revoked instance-wide")
        return data

    def validate_unique(self) -> None:
        # revocation_add reports a duplicate; the model's conditional constraints would
        # be checked here against the unsaved project=None row otherwise.
        return None


@admin.register(Revocation)
class RevocationAdmin(admin.ModelAdmin):
    """Instance-wide revocations are added here (audited through revocation_add);
    project revocations are their maintainers'. Nothing is edited or deleted after."""

    form = RevocationForm
    list_display = ("target_kind", "target", "project", "reason", "revoked_at")
    list_filter = ("target_kind",)
    search_fields = ("=target", "=project__slug")

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def save_model(self, request: HttpRequest, obj: Revocation, form: Any, change: bool) -> None:
        created = services.revocation_add(
            actor=request.user,
            project=None,
            target_kind=obj.target_kind,
            target=obj.target,
            reason=obj.reason,
        )
        # The admin redirects to and messages about `obj`: make it the saved row.
        obj.pk = created.pk
        obj.revoked_at = created.revoked_at
