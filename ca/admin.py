"""Admin: OIDC issuers (editable), CA status and issued certificates (read-only)."""

from __future__ import annotations

from typing import Any

from cryptography import x509
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


def _certificate(pem: str) -> x509.Certificate:
    return x509.load_pem_x509_certificate(pem.encode())


@admin.register(CertificateAuthority)
class CertificateAuthorityAdmin(ReadOnlyAdmin):
    """CA status at a glance: which CA issues, and how long its certificates stay valid."""

    list_display = (
        "name",
        "active",
        "intermediate_subject",
        "intermediate_valid_until",
        "root_valid_until",
        "created_at",
        "retired_at",
    )
    fields = (
        "name",
        "active",
        "created_at",
        "retired_at",
        "root_subject",
        "root_valid_from",
        "root_valid_until",
        "intermediate_subject",
        "intermediate_valid_from",
        "intermediate_valid_until",
        "root_pem",
        "intermediate_pem",
    )
    readonly_fields = fields

    @admin.display(description="Root")
    def root_subject(self, obj: CertificateAuthority) -> str:
        return _certificate(obj.root_pem).subject.rfc4514_string()

    @admin.display(description="Root valid from")
    def root_valid_from(self, obj: CertificateAuthority) -> Any:
        return _certificate(obj.root_pem).not_valid_before_utc

    @admin.display(description="Root valid until")
    def root_valid_until(self, obj: CertificateAuthority) -> Any:
        return _certificate(obj.root_pem).not_valid_after_utc

    @admin.display(description="Intermediate")
    def intermediate_subject(self, obj: CertificateAuthority) -> str:
        return _certificate(obj.intermediate_pem).subject.rfc4514_string()

    @admin.display(description="Intermediate valid from")
    def intermediate_valid_from(self, obj: CertificateAuthority) -> Any:
        return _certificate(obj.intermediate_pem).not_valid_before_utc

    @admin.display(description="Intermediate valid until")
    def intermediate_valid_until(self, obj: CertificateAuthority) -> Any:
        return _certificate(obj.intermediate_pem).not_valid_after_utc

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
