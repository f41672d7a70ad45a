"""Admin: logs and shards (freeze and rotate), read-only entries and checkpoints."""

from __future__ import annotations

from typing import Any

from cryptography.hazmat.primitives import serialization
from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from tlog import services
from tlog.models import Checkpoint, Entry, Log, LogEvent


class ReadOnlyAdmin(admin.ModelAdmin):
    """Entries, checkpoints and audit records are immutable: view only."""

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Log)
class LogAdmin(ReadOnlyAdmin):
    list_display = (
        "tree_id",
        "kind",
        "state",
        "tree_size",
        "index_offset",
        "created_at",
        "frozen_at",
        "fault",
    )
    list_filter = ("kind", "state")
    exclude = ("public_key_der", "root_hash")
    readonly_fields = ("public_key_pem", "root_hash_hex")
    actions = ["freeze_and_rotate"]

    @admin.display(description="Public key")
    def public_key_pem(self, obj: Log) -> str:
        key = serialization.load_der_public_key(bytes(obj.public_key_der))
        pem = key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        return pem.decode("ascii")

    @admin.display(description="Root hash")
    def root_hash_hex(self, obj: Log) -> str:
        return bytes(obj.root_hash).hex()

    @admin.action(description="Freeze this shard and start a new one")
    def freeze_and_rotate(self, request: HttpRequest, queryset: QuerySet[Log]) -> None:
        """Audited as the admin user (LogEvent actor), in the service's transaction."""
        frozen = queryset.exclude(state=Log.State.ACTIVE).count()
        if frozen:
            self.message_user(
                request, f"skipped {frozen} shard(s) already frozen", messages.WARNING
            )
        for log in queryset.filter(state=Log.State.ACTIVE):
            old, new = services.log_freeze_and_rotate(
                kind=log.kind, actor=request.user.get_username()
            )
            self.message_user(
                request, f"froze {old.tree_id}; started {new.tree_id}", messages.SUCCESS
            )


@admin.register(Entry)
class EntryAdmin(ReadOnlyAdmin):
    list_display = ("index", "log", "kind", "api_version", "integrated_time")
    list_filter = ("kind", "log")
    list_select_related = ("log",)
    show_full_result_count = False  # a count(*) over millions of entries is not free


@admin.register(Checkpoint)
class CheckpointAdmin(ReadOnlyAdmin):
    list_display = ("id", "log", "tree_size", "created_at")
    list_filter = ("log",)
    show_full_result_count = False


@admin.register(LogEvent)
class LogEventAdmin(ReadOnlyAdmin):
    list_display = ("created_at", "log", "action", "actor", "detail")
    list_filter = ("action",)
