"""Storage of the transparency logs.

A `Log` is one Merkle tree (a Rekor shard, or the CT log). Its hashes are stored as C2SP
tiles (`Tile`, 256 hashes a row), never a row per node, so a proof reads a handful of rows
at any size. An accepted entry waits in `PendingEntry` until the integrator moves it into
`Entry` (the leaves), in one transaction with the tiles, the log's new size and the
signed checkpoint.
"""

from __future__ import annotations

import hashlib

from django.db import models
from django.db.models import Q


class Log(models.Model):
    class Kind(models.TextChoices):
        REKOR = "rekor", "Rekor (artifact signatures)"
        CT = "ct", "Certificate transparency"

    class State(models.TextChoices):
        ACTIVE = "active", "Active"
        FROZEN = "frozen", "Frozen (read-only shard)"

    tree_id = models.BigIntegerField(unique=True)
    kind = models.CharField(max_length=8, choices=Kind.choices)
    state = models.CharField(max_length=8, choices=State.choices, default=State.ACTIVE)
    # Fixed at creation (STYLE.md habit 10): origin "<host> - <tree id>", signer name "<host>".
    origin = models.CharField(max_length=255, unique=True)
    signer_name = models.CharField(max_length=255)
    key_ref = models.CharField(max_length=255)
    public_key_der = models.BinaryField()
    # Global index of this shard's index 0 (Rekor v1 numbers entries across shards).
    index_offset = models.BigIntegerField(default=0)
    # The integrated tree: always equal to the newest checkpoint's size and root.
    tree_size = models.BigIntegerField(default=0)
    root_hash = models.BinaryField(default=hashlib.sha256(b"").digest())
    # Set when a consistency check fails: the log then refuses writes and reads (503)
    # until an operator investigates. Never cleared automatically.
    fault = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
    frozen_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind"], condition=Q(state="active"), name="one_active_log_per_kind"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.kind} log {self.tree_id} ({self.state}, size {self.tree_size})"

    @property
    def log_id(self) -> bytes:
        """SHA-256 of the log key's DER SPKI (Rekor logID, CT LogID)."""
        return hashlib.sha256(bytes(self.public_key_der)).digest()


class PendingEntry(models.Model):
    """An accepted entry waiting for the integrator.

    Sequencing is kept apart from the log proper (as in Tessera): the integrator moves a
    batch from here into `Entry` and deletes it here in one transaction. This table stays
    small and `Entry` is insert-only, so no dead tuples pile up in the log's indexes.
    """

    log = models.ForeignKey(Log, on_delete=models.PROTECT, related_name="pending")
    leaf_hash = models.BinaryField(max_length=32)
    body = models.BinaryField()
    kind = models.CharField(max_length=32)
    api_version = models.CharField(max_length=16)
    # JSON list of [kind, value] search keys, written to SearchKey on integration.
    search_keys = models.TextField(default="[]")
    submitted_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["log", "leaf_hash"], name="pending_unique_leaf"),
        ]


class Entry(models.Model):
    """An integrated leaf of a log. Never updated or deleted."""

    log = models.ForeignKey(Log, on_delete=models.PROTECT, related_name="entries")
    # Index inside this log's tree: gapless, assigned by the integrator in the same
    # transaction that stores the tiles and the checkpoint covering it.
    index = models.BigIntegerField()
    leaf_hash = models.BinaryField(max_length=32)
    body = models.BinaryField()
    kind = models.CharField(max_length=32)
    api_version = models.CharField(max_length=16)
    integrated_time = models.BigIntegerField()
    submitted_at = models.DateTimeField()

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["log", "leaf_hash"], name="entry_unique_leaf"),
            models.UniqueConstraint(fields=["log", "index"], name="entry_unique_index"),
        ]

    def __str__(self) -> str:
        return f"entry {self.index} of log {self.log_id}"


class Tile(models.Model):
    """A C2SP tile: up to 256 concatenated hashes at tree level 8*level."""

    log = models.ForeignKey(Log, on_delete=models.PROTECT, related_name="tiles")
    level = models.SmallIntegerField()
    index = models.BigIntegerField()
    hashes = models.BinaryField(max_length=256 * 32)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["log", "level", "index"], name="tile_unique"),
        ]

    @property
    def width(self) -> int:
        return len(self.hashes) // 32


class Checkpoint(models.Model):
    """A signed note over (origin, size, root). Never modified or deleted."""

    log = models.ForeignKey(Log, on_delete=models.PROTECT, related_name="checkpoints")
    tree_size = models.BigIntegerField()
    root_hash = models.BinaryField(max_length=32)
    note = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            models.Index(fields=["log", "-id"], name="checkpoint_latest"),
            # The home page's entries-per-hour chart: the newest checkpoint before a time.
            models.Index(fields=["log", "created_at"], name="checkpoint_time"),
        ]


class SearchKey(models.Model):
    """One searchable fact about an entry (artifact digest, identity, key, issuer...)."""

    entry = models.ForeignKey(Entry, on_delete=models.PROTECT, related_name="search_keys")
    kind = models.CharField(max_length=16)
    value = models.CharField(max_length=1024)

    class Meta:
        indexes = [
            models.Index(fields=["kind", "value", "entry"], name="searchkey_lookup"),
            # Prefix search (`value LIKE 'x%'`) in PostgreSQL, whatever the collation; the
            # opclasses are ignored elsewhere (SQLite).
            models.Index(
                fields=["kind", "value"],
                name="searchkey_prefix",
                opclasses=["varchar_pattern_ops", "varchar_pattern_ops"],
            ),
        ]


class LogEvent(models.Model):
    """Audit record of a privileged change to a log (created, frozen, fault)."""

    log = models.ForeignKey(Log, on_delete=models.PROTECT, related_name="events")
    action = models.CharField(max_length=32)
    actor = models.CharField(max_length=255, blank=True, default="")
    detail = models.TextField(blank=True, default="")
    created_at = models.DateTimeField(auto_now_add=True)
