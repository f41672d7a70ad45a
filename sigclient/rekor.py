"""Reading the instance's Rekor v1 log: search by digest, fetch entries, and rebuild an
entry as a Sigstore v0.3 bundle so that sigstore-python's Verifier can check it.

Used wherever a signature is found in the log rather than handed over as a bundle:
``check`` (entries over an artifact's digest), ``git`` (the entry a commit signature was
logged as) and ``images`` (cosign's annotations carry a SET but no inclusion proof).
Nothing read here is trusted: the rebuilt bundle goes through the Verifier, which checks
the inclusion proof and checkpoint against the pinned log keys.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Mapping
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sigstore.models import Bundle

from sigclient.errors import ClientError
from sigclient.trust import fetch

BUNDLE_MEDIA_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
MAX_ENTRY_BYTES = 1024 * 1024
MAX_SEARCH_BYTES = 4 * 1024 * 1024


class MalformedEntry(ValueError):
    """The log answered something that is not a hashedrekord entry we can rebuild."""


def search(base: str, query: Mapping[str, Any]) -> list[str]:
    """Entry UUIDs matching ``query`` (``POST {base}/api/v1/index/retrieve``)."""
    raw = fetch(
        f"{base.rstrip('/')}/api/v1/index/retrieve",
        max_bytes=MAX_SEARCH_BYTES,
        what="the log search",
        json_body=dict(query),
    )
    found = _json(raw, "the log search")
    if not isinstance(found, list) or not all(isinstance(u, str) for u in found):
        raise ClientError("the log's search answer is not a list of entry ids", "")
    return found


def entry_by_uuid(base: str, uuid: str) -> dict[str, Any]:
    """The Rekor v1 entry (the value of the ``{uuid: entry}`` document)."""
    url = f"{base.rstrip('/')}/api/v1/log/entries/{uuid}"
    return _one_entry(_json(fetch(url, max_bytes=MAX_ENTRY_BYTES, what="a log entry"), url))


def entry_by_index(base: str, index: int) -> dict[str, Any]:
    url = f"{base.rstrip('/')}/api/v1/log/entries?logIndex={int(index)}"
    return _one_entry(_json(fetch(url, max_bytes=MAX_ENTRY_BYTES, what="a log entry"), url))


def _json(raw: bytes, what: str) -> Any:
    try:
        return json.loads(raw)
    except ValueError as exc:
        raise ClientError(f"{what} did not answer JSON", "Check the instance URL") from exc


def _one_entry(document: Any) -> dict[str, Any]:
    if not isinstance(document, dict) or len(document) != 1:
        raise ClientError("the log did not answer one entry", "Check the instance URL")
    entry = next(iter(document.values()))
    if not isinstance(entry, dict):
        raise ClientError("the log answered a malformed entry", "Check the instance URL")
    return entry


def hashedrekord_spec(entry: Mapping[str, Any]) -> dict[str, Any]:
    """The body's spec of a hashedrekord entry; MalformedEntry for any other kind."""
    try:
        body = json.loads(base64.b64decode(entry["body"], validate=True))
        kind = body["kind"]
        spec = body["spec"]
    except (LookupError, TypeError, ValueError) as exc:
        raise MalformedEntry("the entry's body is not Rekor JSON") from exc
    if kind != "hashedrekord" or not isinstance(spec, dict):
        raise MalformedEntry(f"a {kind} entry (attestations are checked with their bundle)")
    return spec


def bundle_from_entry(
    entry: Mapping[str, Any],
    *,
    certificate: x509.Certificate | None = None,
    signature_b64: str | None = None,
    digest: bytes | None = None,
    promise: str | None = None,
) -> Bundle:
    """A v0.3 message-signature bundle from a Rekor v1 hashedrekord entry.

    Certificate, signature, digest and signed entry timestamp default to the entry's own;
    a caller that holds them from elsewhere (a CMS signature, cosign's annotations) passes
    them, and the Verifier then checks that the logged body agrees with them.
    """
    spec = hashedrekord_spec(entry)
    try:
        if certificate is None:
            pem = base64.b64decode(spec["signature"]["publicKey"]["content"])
            certificate = x509.load_pem_x509_certificate(pem)
        if digest is None:
            digest = bytes.fromhex(spec["data"]["hash"]["value"])
        document = {
            "mediaType": BUNDLE_MEDIA_TYPE,
            "verificationMaterial": {
                "certificate": {"rawBytes": _b64(certificate.public_bytes(Encoding.DER))},
                "tlogEntries": [_tlog_entry(entry, promise)],
            },
            "messageSignature": {
                "messageDigest": {"algorithm": "SHA2_256", "digest": _b64(digest)},
                "signature": signature_b64 or spec["signature"]["content"],
            },
        }
        return Bundle.from_json(json.dumps(document))
    except MalformedEntry:
        raise
    except Exception as exc:  # KeyError, ValueError, x509, pydantic and sigstore errors
        raise MalformedEntry(f"cannot rebuild a bundle from the entry ({exc!r})") from exc


def _tlog_entry(entry: Mapping[str, Any], promise: str | None) -> dict[str, Any]:
    body = json.loads(base64.b64decode(entry["body"]))
    verification = entry["verification"]
    proof = verification["inclusionProof"]
    return {
        "logIndex": str(entry["logIndex"]),
        "logId": {"keyId": _b64(bytes.fromhex(entry["logID"]))},
        "kindVersion": {"kind": body["kind"], "version": body["apiVersion"]},
        "integratedTime": str(entry["integratedTime"]),
        "inclusionPromise": {
            "signedEntryTimestamp": promise or verification["signedEntryTimestamp"]
        },
        # Rekor v1's API gives hashes in hex; the bundle wants base64.
        "inclusionProof": {
            "logIndex": str(proof["logIndex"]),
            "rootHash": _b64(bytes.fromhex(proof["rootHash"])),
            "treeSize": str(proof["treeSize"]),
            "hashes": [_b64(bytes.fromhex(h)) for h in proof["hashes"]],
            "checkpoint": {"envelope": proof["checkpoint"]},
        },
        "canonicalizedBody": entry["body"],
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")
