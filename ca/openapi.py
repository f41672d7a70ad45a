"""JSON Schemas of the Fulcio v2 and RFC 6962 answers, for the OpenAPI schema (the shapes
sigstore clients and CT monitors read: INTEROP §3 and RFC 6962 §4). Checked against real
answers by ca/tests/test_api_trust_ct.py and the conformance test."""

from __future__ import annotations

from typing import Any

_B64 = {"type": "string", "format": "byte"}
_PEMS = {"type": "array", "items": {"type": "string"}, "minItems": 1}


def _object(**properties: Any) -> dict[str, Any]:
    return {"type": "object", "required": sorted(properties), "properties": properties}


SIGNING_CERT = _object(
    signedCertificateEmbeddedSct=_object(
        chain=_object(certificates={**_PEMS, "description": "leaf, intermediate, root (PEM)"})
    )
)
TRUST_BUNDLE = _object(chains={"type": "array", "items": _object(certificates=_PEMS)})
CONFIGURATION = _object(
    issuers={
        "type": "array",
        "items": _object(
            issuerUrl={"type": "string"},
            audience={"type": "string"},
            challengeClaim={"type": "string", "enum": ["email", "sub"]},
            issuerType={"type": "string"},
        ),
    }
)
STH = _object(
    tree_size={"type": "integer", "minimum": 0},
    timestamp={"type": "integer", "description": "milliseconds since the epoch"},
    sha256_root_hash=_B64,
    tree_head_signature={**_B64, "description": "TLS DigitallySigned"},
)
STH_CONSISTENCY = _object(consistency={"type": "array", "items": _B64})
PROOF_BY_HASH = _object(
    leaf_index={"type": "integer", "minimum": 0}, audit_path={"type": "array", "items": _B64}
)
ENTRIES = _object(entries={"type": "array", "items": _object(leaf_input=_B64, extra_data=_B64)})
ROOTS = _object(certificates={"type": "array", "items": _B64})
