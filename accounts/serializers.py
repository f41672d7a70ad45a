"""Input and output serializers of the accounts REST API.

Inputs are strict: unknown fields, wrong JSON types and oversize strings are refused
with 400 before any service runs (the services check content and permissions again, so
the pages get the same rules). Outputs are plain: what the caller sees of each row.
"""

from __future__ import annotations

import base64
from collections.abc import Mapping
from typing import Any

from rest_framework import serializers

from accounts.audit import actor_description, policy_public_pem
from accounts.models import ApiToken, AuditEvent, Membership, Revocation, TrustedSigner
from accounts.selectors import MAX_LIST_PAGE


class Text(serializers.CharField):
    """A JSON string (DRF's CharField would also turn numbers into strings)."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return str(super().to_internal_value(data))


class StrictInput(serializers.Serializer):
    """A JSON object holding only this serializer's fields."""

    def to_internal_value(self, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(self.fields))
            if unknown:
                raise serializers.ValidationError({"unknown_fields": unknown})
        return super().to_internal_value(data)


def page_limit(*, default: int) -> serializers.IntegerField:
    """A list's `limit` query parameter: 1 to the longest page any list answers."""
    return serializers.IntegerField(
        required=False, min_value=1, max_value=MAX_LIST_PAGE, default=default
    )


class ErrorOutput(serializers.Serializer):
    code = serializers.CharField()
    message = serializers.CharField()


# --- projects ----------------------------------------------------------------------------


class ProjectCreateInput(StrictInput):
    slug = Text(max_length=64)
    name = Text(max_length=200)
    description = Text(max_length=4000, required=False, allow_blank=True, default="")


class ProjectUpdateInput(StrictInput):
    name = Text(max_length=200, required=False)
    description = Text(max_length=4000, required=False, allow_blank=True)


class ProjectOutput(serializers.Serializer):
    slug = serializers.CharField()
    name = serializers.CharField()
    description = serializers.CharField()
    created_at = serializers.DateTimeField()


class ProjectDetailOutput(ProjectOutput):
    your_role = serializers.CharField(
        allow_null=True, help_text="The caller's role in the project: owner, maintainer or null"
    )


class ProjectsQueryInput(StrictInput):
    cursor = serializers.SlugField(required=False, max_length=64, help_text="next_cursor of a page")
    limit = page_limit(default=100)


class ProjectPageOutput(serializers.Serializer):
    projects = ProjectOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


# --- maintainers -------------------------------------------------------------------------


class MaintainerAddInput(StrictInput):
    issuer = Text(max_length=512, help_text="The OIDC issuer the person signed in with")
    role = serializers.ChoiceField(choices=Membership.Role.choices)
    email = Text(max_length=254, required=False, help_text="Their email as that issuer reported it")
    subject = Text(max_length=255, required=False, help_text="Or their subject at that issuer")


class MaintainerRoleInput(StrictInput):
    role = serializers.ChoiceField(choices=Membership.Role.choices)


class MaintainerOutput(serializers.Serializer):
    id = serializers.IntegerField()
    role = serializers.CharField()
    issuer = serializers.CharField(allow_null=True)
    subject = serializers.CharField(allow_null=True)
    label = serializers.CharField()
    added_at = serializers.DateTimeField()

    def to_representation(self, instance: Membership) -> dict[str, Any]:
        who = actor_description(instance.user)
        return {
            "id": instance.pk,
            "role": instance.role,
            "issuer": who.get("issuer"),
            "subject": who.get("subject"),
            "label": who["label"],
            "added_at": serializers.DateTimeField().to_representation(instance.added_at),
        }


# --- the allow-list ----------------------------------------------------------------------


class SignerAddInput(StrictInput):
    issuer = Text(max_length=512, help_text="A configured OIDC issuer URL of this instance")
    identity = Text(max_length=1024, help_text="An identity, or a pattern when match=pattern")
    match = serializers.ChoiceField(choices=TrustedSigner.Match.choices, default="exact")
    source_repository = Text(max_length=1024, required=False, allow_blank=True, default="")
    source_ref = Text(max_length=255, required=False, allow_blank=True, default="")
    build_trigger = Text(max_length=64, required=False, allow_blank=True, default="")
    note = Text(max_length=500, required=False, allow_blank=True, default="")


class SignerOutput(serializers.ModelSerializer):
    class Meta:
        model = TrustedSigner
        fields = [
            "id",
            "issuer",
            "identity",
            "match",
            "source_repository",
            "source_ref",
            "build_trigger",
            "note",
            "added_at",
        ]


# --- revocations -------------------------------------------------------------------------


class RevocationAddInput(StrictInput):
    target_kind = serializers.ChoiceField(choices=Revocation.Target.choices)
    target = Text(max_length=200, help_text="An entry UUID, or a certificate serial in hex")
    reason = Text(max_length=500)


class RevocationOutput(serializers.ModelSerializer):
    project = serializers.SlugRelatedField(slug_field="slug", read_only=True, allow_null=True)

    class Meta:
        model = Revocation
        fields = ["id", "target_kind", "target", "project", "reason", "revoked_at"]


class RevocationsQueryInput(StrictInput):
    cursor = serializers.IntegerField(
        required=False, min_value=1, max_value=2**63 - 1, help_text="next_cursor of a page"
    )
    limit = page_limit(default=100)


class RevocationPageOutput(serializers.Serializer):
    revocations = RevocationOutput(many=True)
    next_cursor = serializers.CharField(allow_null=True)


# --- the audit trail ---------------------------------------------------------------------


class AuditQueryInput(StrictInput):
    cursor = serializers.IntegerField(
        required=False, min_value=0, max_value=2**31 - 1, help_text="next_cursor of a page"
    )
    limit = page_limit(default=50)


class LogEntryOutput(serializers.Serializer):
    uuid = serializers.CharField()
    log_index = serializers.IntegerField()


class AuditEventOutput(serializers.Serializer):
    sequence = serializers.IntegerField()
    action = serializers.CharField()
    actor = serializers.CharField(help_text="Who made the change (their identity's label)")
    time = serializers.DateTimeField()
    document = serializers.CharField(help_text="Base64 of the signed canonical JSON document")
    document_sha256 = serializers.CharField()
    previous_sha256 = serializers.CharField(help_text="The previous event's document_sha256")
    signature = serializers.CharField(help_text="Base64 ECDSA P-256 SHA-256 signature")
    public_key = serializers.CharField(help_text="The policy key that signed it (PEM)")
    log_leaf_hash = serializers.CharField(help_text="Leaf hash of its log entry (64 hex)")
    log_entry = LogEntryOutput(allow_null=True, help_text="Null until the log integrates it")

    def to_representation(self, instance: AuditEvent) -> dict[str, Any]:
        entries: Mapping[str, dict[str, Any]] = self.context.get("entries", {})
        return {
            "sequence": instance.sequence,
            "action": instance.action,
            "actor": instance.actor_label,
            "time": serializers.DateTimeField().to_representation(instance.created_at),
            "document": base64.b64encode(bytes(instance.document)).decode(),
            "document_sha256": instance.document_sha256,
            "previous_sha256": instance.previous_sha256,
            "signature": base64.b64encode(bytes(instance.signature)).decode(),
            "public_key": policy_public_pem(instance.policy_key),
            "log_leaf_hash": instance.log_leaf_hash,
            "log_entry": entries.get(instance.log_leaf_hash),
        }


class AuditPageOutput(serializers.Serializer):
    events = AuditEventOutput(many=True)
    next_cursor = serializers.IntegerField(allow_null=True)


# --- API tokens --------------------------------------------------------------------------


class TokenCreateInput(StrictInput):
    name = Text(max_length=100)


class TokenOutput(serializers.ModelSerializer):
    class Meta:
        model = ApiToken
        fields = ["id", "name", "prefix", "created_at", "last_used_at"]


class TokenCreatedOutput(TokenOutput):
    token = serializers.CharField(help_text="The token itself: shown only in this response")

    class Meta(TokenOutput.Meta):
        fields = [*TokenOutput.Meta.fields, "token"]
