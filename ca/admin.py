"""Admin: OIDC issuers (editable), CA status and issued certificates (read-only)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db import transaction
from django.db.models import QuerySet
from django.http import HttpRequest

from ca import services
from ca.models import CaEvent, CertificateAuthority, IssuedCertificate, OidcIssuer
from tlog.admin import ReadOnlyAdmin


@admin.register(OidcIssuer)
class OidcIssuerAdmin(admin.ModelAdmin):
    """Trusting an issuer is the most privileged CA change: every edit is audited."""

    list_display = ("issuer_url", "kind", "audience", "enabled", "allow_http_loopback")
    list_filter = ("kind", "enabled")

    def save_model(self, request: HttpRequest, obj: OidcIssuer, form: Any, change: bool) -> None:
        with transaction.atomic():
            super().save_model(request, obj, form, change)
            CaEvent.objects.create(
                action="issuer_changed" if change else "issuer_trusted",
                actor=request.user.get_username(),
                detail=f"{obj.issuer_url} kind={obj.kind} enabled={obj.enabled}",
            )

    def delete_model(self, request: HttpRequest, obj: OidcIssuer) -> None:
        with transaction.atomic():
            CaEvent.objects.create(
                action="issuer_removed", actor=request.user.get_username(), detail=obj.issuer_url
            )
            super().delete_model(request, obj)


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(ReadOnlyAdmin):
    list_display = ("name", "active", "created_at", "retired_at")
    actions = ["roll_intermediate"]

    @admin.action(description="Roll a new intermediate (the old one stays trusted)")
    def roll_intermediate(
        self, request: HttpRequest, queryset: QuerySet[CertificateAuthority]
    ) -> None:
        authority = services.intermediate_roll(actor=request.user.get_username())
        self.message_user(request, f"now issuing from {authority.name}", messages.SUCCESS)


@admin.register(IssuedCertificate)
class IssuedCertificateAdmin(ReadOnlyAdmin):
    list_display = ("serial_hex", "san_value", "issuer_url", "not_before")
    search_fields = ("=serial_hex", "=san_value", "=key_fingerprint")
    show_full_result_count = False


@admin.register(CaEvent)
class CaEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "action", "actor", "detail")
