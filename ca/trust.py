"""The instance's trust configuration, built from the live keys (INTEROP §1.2-1.3):
trusted root, signing config and client trust config, in exactly the JSON the real
clients parse (strict, camelCase, zoned timestamps, integer API versions)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.conf import settings

from ca.models import CertificateAuthority
from tlog.models import Log

TRUSTED_ROOT_MEDIA_TYPE = "application/vnd.dev.sigstore.trustedroot+json;version=0.1"
SIGNING_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.signingconfig.v0.2+json"
CLIENT_TRUST_CONFIG_MEDIA_TYPE = "application/vnd.dev.sigstore.clienttrustconfig.v0.1+json"
# Leaves live 10 minutes: a retired CA or frozen shard must stay valid that much longer.
_GRACE = timedelta(minutes=15)


def _zulu(value: datetime) -> str:
    """RFC 3339 with a zone, as the strict client models require."""
    return value.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


def _key_details(spki_der: bytes) -> str:
    from cryptography.hazmat.primitives.asymmetric import ec, ed25519

    key = serialization.load_der_public_key(spki_der)
    if isinstance(key, ed25519.Ed25519PublicKey):
        return "PKIX_ED25519"
    if isinstance(key, ec.EllipticCurvePublicKey) and isinstance(key.curve, ec.SECP256R1):
        return "PKIX_ECDSA_P256_SHA_256"
    raise ValueError("log keys are ECDSA P-256 or Ed25519")


def _log_instance(log: Log) -> dict[str, Any]:
    valid_for = {"start": _zulu(log.created_at - timedelta(minutes=1))}
    if log.frozen_at:
        valid_for["end"] = _zulu(log.frozen_at + _GRACE)
    spki = bytes(log.public_key_der)
    return {
        "baseUrl": settings.PUBLIC_URL,
        "hashAlgorithm": "SHA2_256",
        "publicKey": {
            "rawBytes": _b64(spki),
            "keyDetails": _key_details(spki),
            "validFor": valid_for,
        },
        "logId": {"keyId": _b64(log.log_id)},
    }


def _certificate_authority(authority: CertificateAuthority) -> dict[str, Any]:
    intermediate = x509.load_pem_x509_certificate(authority.intermediate_pem.encode())
    root = x509.load_pem_x509_certificate(authority.root_pem.encode())
    valid_for = {"start": _zulu(intermediate.not_valid_before_utc)}
    if authority.retired_at:
        valid_for["end"] = _zulu(authority.retired_at + _GRACE)
    der = serialization.Encoding.DER
    return {
        "subject": {
            "organization": settings.CA_ORGANIZATION,
            "commonName": intermediate.subject.rfc4514_string(),
        },
        "uri": settings.PUBLIC_URL,
        "certChain": {
            "certificates": [
                {"rawBytes": _b64(intermediate.public_bytes(der))},
                {"rawBytes": _b64(root.public_bytes(der))},
            ]
        },
        "validFor": valid_for,
    }


def trusted_root() -> dict[str, Any]:
    logs = list(Log.objects.order_by("index_offset", "id"))
    return {
        "mediaType": TRUSTED_ROOT_MEDIA_TYPE,
        "tlogs": [_log_instance(log) for log in logs if log.kind == Log.Kind.REKOR],
        "certificateAuthorities": [
            _certificate_authority(ca) for ca in CertificateAuthority.objects.order_by("id")
        ],
        "ctlogs": [_log_instance(log) for log in logs if log.kind == Log.Kind.CT],
        "timestampAuthorities": [],
    }


def _service(url: str, start: datetime) -> dict[str, Any]:
    return {
        "url": url,
        "majorApiVersion": 1,
        "validFor": {"start": _zulu(start)},
        "operator": settings.PUBLIC_HOST,
    }


def signing_config() -> dict[str, Any]:
    first = Log.objects.order_by("created_at").values_list("created_at", flat=True).first()
    start = (first or datetime.now(UTC)) - timedelta(minutes=1)
    oidc_urls = []
    if settings.DEV_IDP_ENABLED:
        from devidp import issuer_url

        oidc_urls.append(_service(issuer_url(), start))
    return {
        "mediaType": SIGNING_CONFIG_MEDIA_TYPE,
        "caUrls": [_service(settings.PUBLIC_URL, start)],
        "oidcUrls": oidc_urls,
        "rekorTlogUrls": [_service(settings.PUBLIC_URL, start)],
        "tsaUrls": [],
        "rekorTlogConfig": {"selector": "ANY"},
        "tsaConfig": {"selector": "ANY"},
    }


def client_trust_config() -> dict[str, Any]:
    return {
        "mediaType": CLIENT_TRUST_CONFIG_MEDIA_TYPE,
        "trustedRoot": trusted_root(),
        "signingConfig": signing_config(),
    }
