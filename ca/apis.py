"""Fulcio-compatible API (INTEROP §2), published trust configuration (§1.2), and the
RFC 6962 read API of the CT log."""

from __future__ import annotations

import base64
import binascii
import functools
import struct
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from django.http import JsonResponse
from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from ca import openapi, selectors, services, trust
from ca.models import CertificateAuthority, IssuedCertificate, OidcIssuer
from sigportal import keys
from sigportal.errors import ApiError
from sigportal.http import query_int, read_json_body
from sigportal.schema import errors, int_query
from tlog import rekor
from tlog import selectors as tlog_selectors
from tlog.apis import CompatView
from tlog.models import Entry, Log

_PEM = serialization.Encoding.PEM


class SigningCertApi(CompatView):
    @extend_schema(
        operation_id="createSigningCertificate",
        summary="Issue a 10-minute code-signing certificate for an OIDC identity",
        description=(
            "Accepts a base64 PEM CSR with the token as `Authorization: Bearer` "
            "(sigstore-python), or `credentials.oidcIdentityToken` plus `publicKeyRequest` "
            "with a proof of possession over the token's `email` or `sub` (sigstore-js). "
            "The precertificate is logged in the CT log before the SCT is embedded. "
            "Answers JSON whatever the Accept header says."
        ),
        request=OpenApiTypes.OBJECT,
        responses={201: openapi.SIGNING_CERT, **errors(400, 401, 503)},
    )
    def post(self, request: Request) -> Response:
        body = read_json_body(request)
        try:
            issued = services.certificate_issue(
                body=body, authorization=request.META.get("HTTP_AUTHORIZATION")
            )
        except services.IssuanceError as exc:
            raise ApiError(exc.status, exc.code, exc.message) from None
        chain = [cert.public_bytes(_PEM).decode() for cert in issued.chain]
        return Response(
            {"signedCertificateEmbeddedSct": {"chain": {"certificates": chain}}}, status=201
        )


def _chains() -> list[list[str]]:
    chains = []
    for authority in CertificateAuthority.objects.order_by("-active", "-id"):
        chains.append([authority.intermediate_pem, authority.root_pem])
    return chains


class TrustBundleApi(CompatView):
    @extend_schema(
        operation_id="getTrustBundle",
        summary="The CA chains (intermediate, root) as PEM, active first",
        responses={200: openapi.TRUST_BUNDLE},
    )
    def get(self, request: Request) -> Response:
        return Response({"chains": [{"certificates": chain} for chain in _chains()]})


class ConfigurationApi(CompatView):
    @extend_schema(
        operation_id="getConfiguration",
        summary="The OIDC issuers this CA accepts",
        responses={200: openapi.CONFIGURATION},
    )
    def get(self, request: Request) -> Response:
        issuers = [
            {
                "issuerUrl": issuer.issuer_url,
                "audience": issuer.audience,
                "challengeClaim": "email" if issuer.kind == OidcIssuer.Kind.EMAIL else "sub",
                "issuerType": issuer.kind,
            }
            for issuer in OidcIssuer.objects.filter(enabled=True).order_by("issuer_url")
        ]
        return Response({"issuers": issuers})


class _TrustDocument(CompatView):
    build: Any = None

    @extend_schema(responses={200: OpenApiTypes.OBJECT})
    def get(self, request: Request) -> JsonResponse:
        response = JsonResponse(type(self).build())
        response["Cache-Control"] = "public, max-age=60"
        return response


class TrustedRootApi(_TrustDocument):
    """The trusted root (every CA, every log key, the CT key) as sigstore clients read it."""

    build = staticmethod(trust.trusted_root)


class SigningConfigApi(_TrustDocument):
    """The signing config (CA, Rekor and OIDC URLs) as sigstore clients read it."""

    build = staticmethod(trust.signing_config)


class ClientTrustConfigApi(_TrustDocument):
    """`sigstore --trust-config <this file> sign ...` works against this instance."""

    build = staticmethod(trust.client_trust_config)


# --- RFC 6962 read API of the CT log ---------------------------------------------------

_MAX_ENTRIES = 256


def _ct_log() -> Log:
    log = tlog_selectors.log_active(kind=Log.Kind.CT)
    rekor.latest_checkpoint_served(log)  # 503 for a faulty log
    return log


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


class CtGetSthApi(CompatView):
    @extend_schema(
        operation_id="ctGetSth",
        summary="RFC 6962 signed tree head",
        responses={200: openapi.STH, **errors(503)},
    )
    def get(self, request: Request) -> Response:
        log = _ct_log()
        checkpoint = rekor.latest_checkpoint_served(log)
        timestamp = int(checkpoint.created_at.timestamp() * 1000)
        root = bytes(checkpoint.root_hash)
        # TreeHeadSignature: version v1, signature_type tree_hash, timestamp, size, root.
        signed = struct.pack(">BBQQ", 0, 1, timestamp, checkpoint.tree_size) + root
        signature = keys.signer_load(log.key_ref).sign(signed)
        digitally_signed = struct.pack(">BBH", 4, 3, len(signature)) + signature
        return Response(
            {
                "tree_size": checkpoint.tree_size,
                "timestamp": timestamp,
                "sha256_root_hash": _b64(root),
                "tree_head_signature": _b64(digitally_signed),
            }
        )


class CtGetSthConsistencyApi(CompatView):
    @extend_schema(
        operation_id="ctGetSthConsistency",
        parameters=[int_query("first", required=True), int_query("second", required=True)],
        responses={200: openapi.STH_CONSISTENCY, **errors(503)},
    )
    def get(self, request: Request) -> Response:
        log = _ct_log()
        first = query_int(request, "first", required=True)
        second = query_int(request, "second", required=True)
        assert first is not None and second is not None
        if not 0 <= first <= second <= log.tree_size:
            raise ApiError(400, "bad_parameter", "need 0 <= first <= second <= tree size")
        proof = [] if first == 0 else tlog_selectors.consistency_proof(log, first, second)
        return Response({"consistency": [_b64(h) for h in proof]})


class CtGetProofByHashApi(CompatView):
    @extend_schema(
        operation_id="ctGetProofByHash",
        parameters=[
            OpenApiParameter("hash", str, required=True),
            int_query("tree_size", required=True, minimum=1),
        ],
        responses={200: openapi.PROOF_BY_HASH, **errors(404, 503)},
    )
    def get(self, request: Request) -> Response:
        log = _ct_log()
        size = query_int(request, "tree_size", required=True, minimum=1)
        assert size is not None
        try:
            leaf = base64.b64decode(request.query_params.get("hash", ""), validate=True)
        except (binascii.Error, ValueError):
            raise ApiError(400, "bad_parameter", "hash must be base64 of a leaf hash") from None
        if len(leaf) != 32 or size > log.tree_size:
            raise ApiError(400, "bad_parameter", "hash must be 32 bytes; tree_size <= STH")
        entry = Entry.objects.filter(log=log, leaf_hash=leaf, index__lt=size).first()
        if entry is None:
            raise ApiError(404, "not_found", "no such leaf in a tree of that size")
        proof = tlog_selectors.inclusion_proof(log, entry.index, size)
        return Response({"leaf_index": entry.index, "audit_path": [_b64(h) for h in proof]})


def _precert_chain_entry(issued: IssuedCertificate | None) -> bytes:
    """RFC 6962 PrecertChainEntry: the precertificate, then its chain."""
    if issued is None:
        return b""

    chain = _encoded_chain(
        issued.authority_id, issued.authority.intermediate_pem, issued.authority.root_pem
    )
    return _asn1cert(bytes(issued.precertificate_der)) + len(chain).to_bytes(3, "big") + chain


def _asn1cert(der: bytes) -> bytes:
    return len(der).to_bytes(3, "big") + der


@functools.lru_cache(maxsize=16)
def _encoded_chain(authority_id: int, *pems: str) -> bytes:
    """A CA's chain as RFC 6962 ASN.1Cert list contents; CA rows never change, so this is
    parsed once per process, not for each of up to 256 entries a page."""
    return b"".join(
        _asn1cert(
            x509.load_pem_x509_certificate(p.encode()).public_bytes(serialization.Encoding.DER)
        )
        for p in pems
    )


class CtGetEntriesApi(CompatView):
    @extend_schema(
        operation_id="ctGetEntries",
        parameters=[int_query("start", required=True), int_query("end", required=True)],
        responses={200: openapi.ENTRIES, **errors(503)},
    )
    def get(self, request: Request) -> Response:
        log = _ct_log()
        start = query_int(request, "start", required=True)
        end = query_int(request, "end", required=True)
        assert start is not None and end is not None
        if start > end or start >= log.tree_size:
            raise ApiError(400, "bad_parameter", "need start <= end and start < tree size")
        end = min(end, log.tree_size - 1, start + _MAX_ENTRIES - 1)
        entries = (
            Entry.objects.filter(log=log, index__gte=start, index__lte=end)
            .select_related("issued_certificate__authority")
            .order_by("index")
        )
        out = []
        for entry in entries:
            issued = getattr(entry, "issued_certificate", None)
            out.append(
                {
                    "leaf_input": _b64(bytes(entry.body)),
                    "extra_data": _b64(_precert_chain_entry(issued)),
                }
            )
        return Response({"entries": out})


class CtGetRootsApi(CompatView):
    @extend_schema(
        operation_id="ctGetRoots",
        summary="The roots this CT log accepts",
        responses={200: openapi.ROOTS},
    )
    def get(self, request: Request) -> Response:
        roots = {
            x509.load_pem_x509_certificate(p.encode()).public_bytes(serialization.Encoding.DER)
            for p in CertificateAuthority.objects.values_list("root_pem", flat=True)
        }
        return Response({"certificates": sorted(_b64(d) for d in roots)})


# --- issued certificates ---------------------------------------------------------------


class CertificateSearchInput(serializers.Serializer):
    identity = serializers.CharField(required=False, max_length=1024)
    serial = serializers.RegexField(r"^(0x)?[0-9a-fA-F]{1,64}$", required=False)
    fingerprint = serializers.RegexField(r"^(sha256:)?[0-9a-fA-F]{64}$", required=False)
    issuer = serializers.CharField(required=False, max_length=512)
    cursor = serializers.IntegerField(required=False, min_value=0, max_value=2**63 - 1)
    limit = serializers.IntegerField(required=False, min_value=1, max_value=1000)

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        if not {"identity", "serial", "fingerprint", "issuer"} & set(attrs):
            raise serializers.ValidationError("give identity, serial, fingerprint or issuer")
        return attrs


class CertificateOutput(serializers.ModelSerializer):
    serial = serializers.CharField(source="serial_hex")
    identity = serializers.CharField(source="san_value")
    identity_kind = serializers.CharField(source="san_kind")
    ct_log_index = serializers.IntegerField(source="ct_entry.index")

    class Meta:
        model = IssuedCertificate
        fields = [
            "serial",
            "identity",
            "identity_kind",
            "issuer_url",
            "key_fingerprint",
            "not_before",
            "not_after",
            "created_at",
            "ct_log_index",
        ]


class CertificateSearchApi(APIView):
    """Search the certificates this CA issued (serial, identity, key, issuer)."""

    authentication_classes = ()

    @extend_schema(
        operation_id="searchCertificates",
        parameters=[CertificateSearchInput],
        responses={200: CertificateOutput(many=True)},
    )
    def get(self, request: Request) -> Response:
        query = CertificateSearchInput(data=request.query_params)
        query.is_valid(raise_exception=True)
        found = selectors.certificates_search(**query.validated_data)
        return Response(CertificateOutput(found, many=True).data)
