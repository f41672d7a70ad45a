"""JSON Schemas of the Rekor v1 answers, for the OpenAPI schema (Rekor's own names and
shapes: INTEROP §4). The documents themselves are built by tlog/rekor.py; the conformance
test (sigportal/tests/test_api_conformance.py) holds the live answers to these."""

from __future__ import annotations

from typing import Any

_HEX32 = {"type": "string", "pattern": "^[0-9a-f]{64}$"}
_INDEX = {"type": "integer", "minimum": 0}

INCLUSION_PROOF: dict[str, Any] = {
    "type": "object",
    "required": ["checkpoint", "hashes", "logIndex", "rootHash", "treeSize"],
    "properties": {
        "checkpoint": {"type": "string", "description": "the signed note (C2SP signed-note)"},
        "hashes": {"type": "array", "items": _HEX32, "description": "RFC 6962 audit path"},
        "logIndex": {**_INDEX, "description": "the entry's index in its shard"},
        "rootHash": _HEX32,
        "treeSize": {"type": "integer", "minimum": 1},
    },
}

LOG_ENTRY_ANON: dict[str, Any] = {
    "type": "object",
    "required": ["body", "integratedTime", "logID", "logIndex", "verification"],
    "properties": {
        "body": {"type": "string", "format": "byte", "description": "the canonical entry"},
        "integratedTime": {"type": "integer", "description": "Unix seconds"},
        "logID": {**_HEX32, "description": "SHA-256 of the shard's public key (DER)"},
        "logIndex": {**_INDEX, "description": "global index, across shards"},
        "verification": {
            "type": "object",
            "required": ["inclusionProof", "signedEntryTimestamp"],
            "properties": {
                "inclusionProof": INCLUSION_PROOF,
                "signedEntryTimestamp": {"type": "string", "format": "byte"},
            },
        },
    },
}

# `{uuid: entry}`, one key, as Rekor answers.
LOG_ENTRY: dict[str, Any] = {
    "type": "object",
    "additionalProperties": LOG_ENTRY_ANON,
    "minProperties": 1,
    "maxProperties": 1,
}

_TREE: dict[str, Any] = {
    "type": "object",
    "required": ["rootHash", "treeSize", "signedTreeHead", "treeID"],
    "properties": {
        "rootHash": _HEX32,
        "treeSize": {"type": "integer", "minimum": 1},
        "signedTreeHead": {"type": "string", "description": "the newest checkpoint"},
        "treeID": {"type": "string", "pattern": "^[0-9]+$"},
    },
}

LOG_INFO: dict[str, Any] = {
    **_TREE,
    "required": [*_TREE["required"], "inactiveShards"],
    "properties": {**_TREE["properties"], "inactiveShards": {"type": "array", "items": _TREE}},
}

CONSISTENCY_PROOF: dict[str, Any] = {
    "type": "object",
    "required": ["rootHash", "hashes"],
    "properties": {"rootHash": _HEX32, "hashes": {"type": "array", "items": _HEX32}},
}
