"""Reads of the certificate authority."""

from __future__ import annotations

from django.db.models import QuerySet

from ca.models import IssuedCertificate


def certificates_search(
    *,
    identity: str = "",
    serial: str = "",
    fingerprint: str = "",
    issuer: str = "",
    cursor: int = 0,
    limit: int = 100,
) -> list[IssuedCertificate]:
    """Issued certificates matching every given criterion, oldest first, after `cursor`."""
    qs: QuerySet[IssuedCertificate] = IssuedCertificate.objects.filter(id__gt=cursor)
    if identity:
        qs = qs.filter(san_value=identity)
    if serial:
        qs = qs.filter(serial_hex=serial.lower().removeprefix("0x").lstrip("0") or "0")
    if fingerprint:
        qs = qs.filter(key_fingerprint=fingerprint.lower().removeprefix("sha256:"))
    if issuer:
        qs = qs.filter(issuer_url=issuer)
    return list(qs.select_related("ct_entry").order_by("id")[:limit])
