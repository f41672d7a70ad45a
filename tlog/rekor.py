"""Rekor v1 wire documents (INTEROP §4.4-4.6): log entries with SET and inclusion proof."""

from __future__ import annotations

import base64
from typing import Any

import rfc8785

from sigportal import keys
from tlog import selectors
from tlog.errors import LogFaulty, LogUnavailable
from tlog.models import Checkpoint, Entry, Log


def signed_entry_timestamp(
    log: Log, *, body: bytes, integrated_time: int, global_index: int
) -> bytes:
    """The SET: the log key's signature over RFC 8785 JSON of the entry's summary."""
    payload = rfc8785.dumps(
        {
            "body": base64.b64encode(body).decode(),
            "integratedTime": integrated_time,
            "logID": log.log_id.hex(),
            "logIndex": global_index,
        }
    )
    return keys.signer_load(log.key_ref).sign(payload)


def entry_document(
    entry: Entry, checkpoint: Checkpoint | None = None, proof: list[bytes] | None = None
) -> dict[str, Any]:
    """`{uuid: {body, integratedTime, logID, logIndex, verification}}` for one entry.

    The inclusion proof is against the given checkpoint, else the newest of the entry's
    shard, so the checkpoint's size and root are the proof's (JS recomputes with the
    checkpoint size). `proof`, when given, is the entry's proof against `checkpoint`.
    """
    log = entry.log
    if log.fault:  # never serve a faulty log, whoever read its checkpoint
        raise LogFaulty(log.fault)
    checkpoint = checkpoint or latest_checkpoint_served(log)
    if checkpoint.tree_size <= entry.index:  # a checkpoint older than the entry: not served
        raise LogUnavailable("the entry is not covered by a checkpoint yet")
    body = bytes(entry.body)
    gindex = log.index_offset + entry.index
    if proof is None:
        proof = selectors.inclusion_proof(log, entry.index, checkpoint.tree_size)
    doc = {
        "body": base64.b64encode(body).decode(),
        "integratedTime": entry.integrated_time,
        "logID": log.log_id.hex(),
        "logIndex": gindex,
        "verification": {
            "inclusionProof": {
                "checkpoint": checkpoint.note,
                "hashes": [h.hex() for h in proof],
                "logIndex": entry.index,
                "rootHash": bytes(checkpoint.root_hash).hex(),
                "treeSize": checkpoint.tree_size,
            },
            "signedEntryTimestamp": base64.b64encode(
                signed_entry_timestamp(
                    log, body=body, integrated_time=entry.integrated_time, global_index=gindex
                )
            ).decode(),
        },
    }
    return {selectors.entry_uuid(entry): doc}


def latest_checkpoint_served(log: Log) -> Checkpoint:
    """The newest checkpoint of a log that may be served: never a faulty log's."""
    if log.fault:
        raise LogFaulty(log.fault)
    checkpoint = selectors.checkpoint_latest(log)
    if checkpoint is None:
        raise LogUnavailable(f"log {log.tree_id} has no checkpoint yet")
    return checkpoint


def tree_document(log: Log) -> dict[str, Any]:
    checkpoint = latest_checkpoint_served(log)
    return {
        "rootHash": bytes(checkpoint.root_hash).hex(),
        "treeSize": checkpoint.tree_size,
        "signedTreeHead": checkpoint.note,
        "treeID": str(log.tree_id),
    }
