"""Admin: logs and shards (freeze and rotate), read-only entries and checkpoints."""

from __future__ import annotations

from typing import Any

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
    list_display = ("tree_id", "kind", "state", "tree_size", "index_offset", "created_at", "fault")
    list_filter = ("kind", "state")
    actions = ["freeze_and_rotate"]

    @admin.action(description="Freeze this shard and start a new one")
    def freeze_and_rotate(self, request: HttpRequest, queryset: QuerySet[Log]) -> None:
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
