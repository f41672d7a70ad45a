"""Policy verification over HTTP, for CI jobs and anyone else (docs/portal-api.md).

* `POST /api/v1/projects/<slug>/verify`: a bundle (with the artifact or its digest), or a
  digest alone, in; the Verdict out. 200 for every verdict, allowed or not: the verdict
  is the answer. 400 `{"code", "message"}` only for input that cannot be judged.
* `GET /api/v1/projects/<slug>/policy`: the allow-list signed by the instance.
* `GET /api/v1/trust/policy_keys.json`: every policy key, to pin beside the trust config.

All are reads: anonymous, no session authentication and so no CSRF check.
"""

from __future__ import annotations

import base64
import binascii
import json

from drf_spectacular.utils import OpenApiResponse, extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import AllowAny
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.views import APIView

from accounts import selectors, verification
from accounts.errors import AccountsError
from accounts.serializers import ErrorOutput
from sigportal.errors import ApiError
from sigportal.http import read_json_object
from sigportal.schema import errors

#: A bundle is a few KiB; the rest of the budget is for a small inline artifact.
MAX_VERIFY_BODY = 1024 * 1024
#: Larger artifacts send their digest instead.
MAX_ARTIFACT = 512 * 1024
_VERIFY_FIELDS = {"bundle", "artifact", "digest"}


class PublicReadApi(APIView):
    authentication_classes = ()
    permission_classes = (AllowAny,)

    def handle_exception(self, exc: Exception) -> Response:
        if isinstance(exc, AccountsError):
            exc = ApiError(exc.status, exc.code, exc.message)
        return super().handle_exception(exc)


# --- schema-only serializers -------------------------------------------------------------


class PolicyVerifyInput(serializers.Serializer):
    bundle = serializers.JSONField(
        required=False, help_text="A Sigstore bundle (JSON object), as `sigstore sign` writes"
    )
    artifact = serializers.CharField(
        required=False, help_text=f"The artifact, base64 (at most {MAX_ARTIFACT} bytes)"
    )
    digest = serializers.CharField(
        required=False, help_text="The artifact's digest, 'sha256:<hex>' (sha384/sha512 too)"
    )


class PolicyVerdictOutput(serializers.Serializer):
    allowed = serializers.BooleanField()
    verdict = serializers.ChoiceField(choices=["trusted", "untrusted", "revoked", "invalid"])
    signer = serializers.JSONField(allow_null=True, help_text="{identity, issuer, extensions}")
    rule = serializers.JSONField(
        allow_null=True, help_text="The admitting allow-list rule: {id, identity, issuer, ...}"
    )
    entry = serializers.JSONField(allow_null=True, help_text="{uuid, log_index, integrated_time}")
    certificate = serializers.JSONField(allow_null=True, help_text="{serial}")
    reasons = serializers.ListField(child=serializers.CharField())
    subjects = serializers.JSONField(help_text="In-toto subjects of an attestation")
    entries = serializers.JSONField(help_text="Digest mode: one verdict per log entry")


def _errors(*statuses: int) -> dict[int, OpenApiResponse]:
    return errors(*statuses, shape=ErrorOutput)


# --- verify -----------------------------------------------------------------------------------


class ProjectVerifyApi(PublicReadApi):
    @extend_schema(
        operation_id="verifyForProject",
        summary="Was this artifact signed by someone the project trusts?",
        description=(
            "Send a Sigstore bundle with the artifact (base64) or its digest, or a digest "
            "alone to search the log. The bundle is verified against this instance's "
            "trusted root (signature, chain, SCT, SET, inclusion proof, checkpoint), its "
            "entry must be in this log, and its signer on the project's allow-list and "
            "not revoked. Every verdict, allowed or not, is a 200."
        ),
        request=PolicyVerifyInput,
        responses={200: PolicyVerdictOutput, **_errors(400, 404, 413)},
    )
    def post(self, request: Request, slug: str) -> Response:
        project = selectors.project_by_slug(slug)
        body = read_json_object(request, allowed=_VERIFY_FIELDS, max_bytes=MAX_VERIFY_BODY)
        artifact = _artifact(body.get("artifact"))
        digest = body.get("digest")
        if digest is not None and not isinstance(digest, str):
            raise ApiError(400, "bad_digest", "digest must be a string 'sha256:<hex>'")
        if "bundle" in body:
            verdict = verification.bundle_verify(
                project=project,
                bundle_json=_bundle_bytes(body["bundle"]),
                artifact=artifact,
                digest=digest,
            )
        elif digest is not None and artifact is None:
            verdict = verification.digest_verify(project=project, digest=digest)
        else:
            raise ApiError(
                400,
                "nothing_to_verify",
                'send {"bundle": ..., "artifact" or "digest": ...} or {"digest": ...}',
            )
        return Response(verdict.as_dict())


def _artifact(value: object) -> bytes | None:
    if value is None:
        return None
    if not isinstance(value, str):
        raise ApiError(400, "bad_artifact", "artifact must be a base64 string")
    if len(value) > (MAX_ARTIFACT + 2) // 3 * 4:
        raise ApiError(
            413,
            "artifact_too_large",
            f"inline artifacts are limited to {MAX_ARTIFACT} bytes; "
            "send its digest ('sha256:<hex>') instead",
        )
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise ApiError(400, "bad_artifact", "artifact is not valid base64") from None


def _bundle_bytes(value: object) -> bytes:
    if not isinstance(value, dict):
        raise ApiError(400, "malformed_bundle", "bundle must be a JSON object")
    return json.dumps(value).encode()


# --- the signed policy document -------------------------------------------------------------


class ProjectPolicyApi(PublicReadApi):
    @extend_schema(
        operation_id="getProjectPolicy",
        summary="The project's allow-list, signed by the instance for offline verification",
        description=(
            "`document` is base64 of canonical JSON (RFC 8785): `_type`, `instance`, "
            "`project`, `signers`, `revocations`, `audit` (the latest audit event) and "
            "`issued_at`. `signature` is ECDSA P-256 SHA-256 over those bytes by the key "
            "`key_id` (SHA-256 hex of its SPKI), listed at /api/v1/trust/policy_keys.json."
        ),
        responses={
            200: inline_serializer(
                "SignedPolicyOutput",
                {
                    "document": serializers.CharField(),
                    "signature": serializers.CharField(),
                    "key_id": serializers.CharField(),
                    "public_key": serializers.CharField(),
                },
            ),
            **_errors(404),
        },
    )
    def get(self, request: Request, slug: str) -> Response:
        signed = verification.policy_document(project=selectors.project_by_slug(slug))
        response = Response(
            {
                "document": base64.b64encode(signed.document).decode(),
                "signature": base64.b64encode(signed.signature).decode(),
                "key_id": signed.key_id,
                "public_key": signed.public_key_pem,
            }
        )
        response["Cache-Control"] = "no-cache"
        return response


class PolicyKeysApi(PublicReadApi):
    @extend_schema(
        operation_id="getPolicyKeys",
        summary="Every key that signs policy documents and policy-change entries",
        responses={
            200: inline_serializer(
                "PolicyKeysOutput",
                {
                    "keys": inline_serializer(
                        "PolicyKeyOutput",
                        {
                            "key_id": serializers.CharField(),
                            "public_key": serializers.CharField(),
                            "active": serializers.BooleanField(),
                            "created_at": serializers.CharField(),
                        },
                        many=True,
                    )
                },
            )
        },
    )
    def get(self, request: Request) -> Response:
        response = Response({"keys": verification.policy_keys()})
        response["Cache-Control"] = "public, max-age=60"
        return response
