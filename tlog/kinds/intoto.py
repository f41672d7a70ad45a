"""intoto 0.0.2: a DSSE envelope with a key per signature (what @sigstore/cli `attest` logs).

Facts from Rekor's `pkg/types/intoto/v0.0.2/entry.go` and its generated model:

* `payload`, `sig` and `publicKey` are OpenAPI `format: byte`, so each is base64
  of its bytes: the payload and the signatures are base64 twice (base64 of the
  DSSE base64 strings), the key is base64 of its PEM;
* `payload`, a non-empty `payloadType`, one or more signatures and `hash` are
  required (`Insertable`, `Canonicalize`);
* each signature's `publicKey` is a verifier, matched as for dsse (every key
  must verify some signature, every signature must be verified), over the PAE
  with SHA-256 / pure Ed25519; key ids are ignored;
* `payloadHash` is recomputed by the log; `hash` cannot be (it is the client's
  hash of its own envelope serialization) and is stored as sent;
* the stored body drops the payload: `content.envelope` keeps `payloadType` and
  the signatures in request order, each `{keyid (only if non-empty), publicKey, sig}`.

Two deliberate differences: the stored `publicKey` is the canonical PEM (the fix
Rekor's own test for sigstore/rekor#1170 expects; sigstore-js does not compare
it), and a `payloadHash` that disagrees with the payload is refused with
hash_mismatch instead of being silently replaced.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlog.kinds.common import (
    AcceptedEntry,
    EntryError,
    SearchKey,
    at,
    b64decode_strict,
    canonical_json,
    expect_hash,
    expect_list,
    expect_nonempty_str,
    expect_object,
    expect_str,
    sha256_hex,
    utf8,
)
from tlog.kinds.dsse import (
    EnvelopeSignature,
    certificates_of,
    envelope_search_keys,
    match_signatures,
    pae,
    subject_search_keys,
)
from tlog.kinds.verifiers import Verifier, parse_verifier

KIND = "intoto"
API_VERSION = "0.0.2"

_ENVELOPE = "spec.content.envelope"
_SIGNATURES = "spec.content.envelope.signatures"


@dataclass(frozen=True)
class _Signature:
    keyid: str
    sig_b64: str  # base64 of the DSSE signature's base64 string, as sent and stored
    signature: EnvelopeSignature
    verifier: Verifier


def accept(unverified_spec: object) -> AcceptedEntry:
    """Validate and verify a proposed intoto spec; return what the log stores."""
    spec = expect_object(unverified_spec, "spec", required=("content",))
    content = expect_object(
        spec["content"], "spec.content", required=("envelope", "hash"), optional=("payloadHash",)
    )
    envelope = expect_object(
        content["envelope"], _ENVELOPE, required=("payload", "payloadType", "signatures")
    )
    payload_type = expect_nonempty_str(envelope, "payloadType", _ENVELOPE)
    _, payload = _double_b64(
        expect_nonempty_str(envelope, "payload", _ENVELOPE), at(_ENVELOPE, "payload")
    )
    _, envelope_hash = expect_hash(content["hash"], "spec.content.hash")
    signatures = [
        _parse_signature(item, at(_SIGNATURES, index))
        for index, item in enumerate(expect_list(envelope, "signatures", _ENVELOPE))
    ]

    match_signatures(
        [s.verifier for s in signatures],
        [s.signature for s in signatures],
        pae(utf8(payload_type, at(_ENVELOPE, "payloadType")), payload),
        verifier_path=lambda index: at(at(_SIGNATURES, index), "publicKey"),
        stop_when_covered=False,
    )
    payload_hash = sha256_hex(payload)
    _check_claimed_payload_hash(content, payload_hash)
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "spec": {
            "content": {
                "envelope": {
                    "payloadType": payload_type,
                    "signatures": [_stored_signature(s) for s in signatures],
                },
                "hash": {"algorithm": "sha256", "value": envelope_hash},
                "payloadHash": {"algorithm": "sha256", "value": payload_hash},
            }
        },
    }
    verifiers = [s.verifier for s in signatures]
    return AcceptedEntry(
        kind=KIND,
        api_version=API_VERSION,
        canonical_body=canonical_json(body),
        search_keys=envelope_search_keys(
            payload_hash, verifiers, subject_search_keys(payload_type, payload)
        ),
        certificates=certificates_of(verifiers),
    )


def stored_search_keys(spec: object) -> tuple[SearchKey, ...]:
    """Search keys of a stored intoto spec (without subject digests: no payload is stored)."""
    stored = expect_object(spec, "spec", required=("content",))
    content = expect_object(
        stored["content"], "spec.content", required=("envelope", "hash", "payloadHash")
    )
    envelope = expect_object(content["envelope"], _ENVELOPE, required=("payloadType", "signatures"))
    expect_str(envelope, "payloadType", _ENVELOPE)
    expect_hash(content["hash"], "spec.content.hash")
    _, payload_hash = expect_hash(content["payloadHash"], "spec.content.payloadHash")
    signatures = [
        _parse_signature(item, at(_SIGNATURES, index))
        for index, item in enumerate(expect_list(envelope, "signatures", _ENVELOPE))
    ]
    return envelope_search_keys(payload_hash, [s.verifier for s in signatures], [])


def _double_b64(unverified: str, path: str) -> tuple[str, bytes]:
    """base64(base64(value)): the inner base64 string and the value, both layers strict."""
    inner = b64decode_strict(unverified, path)
    try:
        inner_text = inner.decode("ascii")
    except UnicodeDecodeError:
        raise EntryError(
            "bad_base64", f"{path} must be base64 of a base64 string (it is base64 once)"
        ) from None
    return inner_text, b64decode_strict(inner_text, f"{path} (inner base64)")


def _parse_signature(unverified: object, path: str) -> _Signature:
    signature = expect_object(unverified, path, required=("sig", "publicKey"), optional=("keyid",))
    keyid = expect_str(signature, "keyid", path) if "keyid" in signature else ""
    utf8(keyid, at(path, "keyid"))  # stored as sent, so it must be encodable
    sig_b64 = expect_nonempty_str(signature, "sig", path)
    # The DSSE signature string (the inner base64) is what Rekor matches signatures on.
    dsse_sig, unverified_bytes = _double_b64(sig_b64, at(path, "sig"))
    key_path = at(path, "publicKey")
    pem = b64decode_strict(expect_nonempty_str(signature, "publicKey", path), key_path)
    return _Signature(
        keyid=keyid,
        sig_b64=sig_b64,
        signature=EnvelopeSignature(dsse_sig, unverified_bytes),
        verifier=parse_verifier(pem, key_path),
    )


def _stored_signature(signature: _Signature) -> dict[str, str]:
    stored = {"publicKey": signature.verifier.canonical_b64, "sig": signature.sig_b64}
    if signature.keyid:  # Go's `json:"keyid,omitempty"` drops an empty key id
        stored["keyid"] = signature.keyid
    return stored


def _check_claimed_payload_hash(content: dict[str, object], payload_hash: str) -> None:
    if "payloadHash" not in content:
        return
    _, claimed = expect_hash(content["payloadHash"], "spec.content.payloadHash")
    if claimed != payload_hash:
        raise EntryError(
            "hash_mismatch",
            f"spec.content.payloadHash.value is {claimed} but the payload's SHA-256 is "
            f"{payload_hash}",
        )
