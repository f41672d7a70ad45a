"""dsse 0.0.1: a signed DSSE envelope (what `sigstore attest` and sigstore-js `attest` log).

Facts from Rekor's `pkg/types/dsse/v0.0.1/entry.go` that this follows:

* the request is `spec.proposedContent` = {`envelope`: the envelope as a JSON
  *string*, `verifiers`: base64 PEM keys or certificates}; the computed members
  (`signatures`, `envelopeHash`, `payloadHash`) must not be sent with it;
* `envelopeHash` is SHA-256 of the envelope string exactly as received (Rekor
  hashes `[]byte(*ProposedContent.Envelope)`, not a re-marshalled envelope);
  `payloadHash` is SHA-256 of the decoded payload;
* every signature is checked over the PAE with SHA-256 (ECDSA, RSA PKCS#1 v1.5)
  or pure Ed25519; key ids are ignored (Rekor's verifier adapter has none);
* verifiers are matched as in Rekor's `verifyEnvelope`: see `match_signatures`;
* the stored body holds one `{signature, verifier}` per distinct signature
  string, sorted by that string, with the verifier's canonical PEM; the
  envelope itself (and so the payload) is not stored.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass

from cryptography import x509

from tlog.kinds.common import (
    HASH_ALGORITHMS,
    MAX_BODY_BYTES,
    AcceptedEntry,
    EntryError,
    SearchKey,
    at,
    b64decode_strict,
    canonical_json,
    digest_key,
    expect_hash,
    expect_list,
    expect_nonempty_str,
    expect_object,
    expect_str,
    malformed,
    parse_json,
    sha256_hex,
    unique_keys,
    utf8,
)
from tlog.kinds.verifiers import Verifier, parse_verifier, verifier_search_keys, verify_message

KIND = "dsse"
API_VERSION = "0.0.1"
INTOTO_PAYLOAD_TYPE = "application/vnd.in-toto+json"
#: A statement may list many subjects; index at most this many of their digests.
MAX_SUBJECT_KEYS = 256

_ENVELOPE = "spec.proposedContent.envelope"
_VERIFIERS = "spec.proposedContent.verifiers"


@dataclass(frozen=True)
class EnvelopeSignature:
    """One DSSE signature: the base64 string as sent, and its decoded bytes."""

    sig: str
    unverified_bytes: bytes


def pae(payload_type: bytes, payload: bytes) -> bytes:
    """DSSE pre-authentication encoding: what the signatures sign."""
    return b"DSSEv1 %d %b %d %b" % (len(payload_type), payload_type, len(payload), payload)


def match_signatures(
    verifiers: Sequence[Verifier],
    signatures: Sequence[EnvelopeSignature],
    message: bytes,
    *,
    verifier_path: Callable[[int], str],
    stop_when_covered: bool,
) -> dict[str, Verifier]:
    """Pair each distinct signature string with the verifier that accounts for it.

    This reproduces Rekor's `verifyEnvelope` with go-securesystemslib's
    one-verifier `EnvelopeVerifier`: the verifiers are taken in order, and each
    one accepts the *first* signature in envelope order that it verifies
    (already covered or not); a verifier that verifies none fails the request.
    Afterwards every signature string must have been accepted. dsse stops
    consulting verifiers once all signatures are covered; intoto does not.
    Consequence (as in Rekor): two different signatures by one key need that
    key listed twice, and even then the second copy accepts the first signature.
    """
    pending = {signature.sig for signature in signatures}
    by_signature: dict[str, Verifier] = {}
    for index, verifier in enumerate(verifiers):
        if stop_when_covered and not pending:
            break
        accepted = next(
            (s for s in signatures if verify_message(verifier, s.unverified_bytes, message)),
            None,
        )
        if accepted is None:
            raise EntryError(
                "signature_invalid",
                f"{verifier_path(index)} verifies none of the envelope's signatures",
            )
        pending.discard(accepted.sig)
        by_signature[accepted.sig] = verifier
    if pending:
        raise EntryError(
            "signature_invalid",
            f"{len(pending)} envelope signature(s) are not verified by any given key",
        )
    return by_signature


def subject_search_keys(payload_type: str, payload: bytes) -> list[SearchKey]:
    """sha256/sha384/sha512 digests of an in-toto statement's subjects, if it is one.

    The payload is signed but its content is the signer's word; it only feeds
    the search index, so anything unexpected is skipped, never an error.
    """
    if payload_type != INTOTO_PAYLOAD_TYPE:
        return []
    try:
        statement = parse_json(payload, "payload")
    except EntryError:
        return []
    subjects = statement.get("subject") if isinstance(statement, dict) else None
    if not isinstance(subjects, list):
        return []
    keys: list[SearchKey] = []
    for subject in subjects:
        digests = subject.get("digest") if isinstance(subject, dict) else None
        if isinstance(digests, dict):
            keys += [
                digest_key(algorithm, value)
                for algorithm, value in digests.items()
                if _is_hex_digest(algorithm, value)
            ]
    return keys[:MAX_SUBJECT_KEYS]


def _is_hex_digest(algorithm: object, value: object) -> bool:
    if algorithm not in HASH_ALGORITHMS or not isinstance(value, str):
        return False
    size = HASH_ALGORITHMS[str(algorithm)].digest_size
    return len(value) == size * 2 and all(c in "0123456789abcdefABCDEF" for c in value)


def accept(unverified_spec: object) -> AcceptedEntry:
    """Validate and verify a proposed dsse spec; return what the log stores."""
    spec = expect_object(
        unverified_spec,
        "spec",
        required=("proposedContent",),
        optional=("signatures", "envelopeHash", "payloadHash"),
    )
    if len(spec) > 1:
        raise malformed(
            "spec.signatures, spec.envelopeHash and spec.payloadHash are computed by the log; "
            "send only spec.proposedContent"
        )
    content = expect_object(
        spec["proposedContent"], "spec.proposedContent", required=("envelope", "verifiers")
    )
    envelope_text = expect_nonempty_str(content, "envelope", "spec.proposedContent")
    envelope_bytes = utf8(envelope_text, _ENVELOPE)
    if len(envelope_bytes) > MAX_BODY_BYTES:
        raise EntryError("too_large", f"{_ENVELOPE} is larger than {MAX_BODY_BYTES} bytes")
    payload_type, payload, signatures = _parse_envelope(envelope_text)
    verifiers = _parse_verifiers(expect_list(content, "verifiers", "spec.proposedContent"))

    by_signature = match_signatures(
        verifiers,
        signatures,
        pae(utf8(payload_type, at(_ENVELOPE, "payloadType")), payload),
        verifier_path=lambda index: at(_VERIFIERS, index),
        stop_when_covered=True,
    )
    stored = [(sig, by_signature[sig]) for sig in sorted(by_signature)]
    payload_hash = sha256_hex(payload)
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "spec": {
            "envelopeHash": {"algorithm": "sha256", "value": sha256_hex(envelope_bytes)},
            "payloadHash": {"algorithm": "sha256", "value": payload_hash},
            "signatures": [
                {"signature": sig, "verifier": verifier.canonical_b64} for sig, verifier in stored
            ],
        },
    }
    used = [verifier for _, verifier in stored]
    return AcceptedEntry(
        kind=KIND,
        api_version=API_VERSION,
        canonical_body=canonical_json(body),
        search_keys=envelope_search_keys(
            payload_hash, used, subject_search_keys(payload_type, payload)
        ),
        certificates=certificates_of(used),
    )


def stored_search_keys(spec: object) -> tuple[SearchKey, ...]:
    """Search keys of a stored dsse spec (without subject digests: the payload is not stored)."""
    stored = expect_object(spec, "spec", required=("envelopeHash", "payloadHash", "signatures"))
    expect_hash(stored["envelopeHash"], "spec.envelopeHash")
    _, payload_hash = expect_hash(stored["payloadHash"], "spec.payloadHash")
    verifiers = []
    for index, item in enumerate(expect_list(stored, "signatures", "spec")):
        path = at("spec.signatures", index)
        signature = expect_object(item, path, required=("signature", "verifier"))
        expect_str(signature, "signature", path)
        pem = b64decode_strict(expect_str(signature, "verifier", path), at(path, "verifier"))
        verifiers.append(parse_verifier(pem, at(path, "verifier")))
    return envelope_search_keys(payload_hash, verifiers, [])


def _parse_envelope(text: str) -> tuple[str, bytes, list[EnvelopeSignature]]:
    envelope = expect_object(
        parse_json(text, f"{_ENVELOPE} (a JSON document inside a string)"),
        _ENVELOPE,
        required=("payloadType", "payload", "signatures"),
    )
    payload_type = expect_str(envelope, "payloadType", _ENVELOPE)
    payload_b64 = expect_str(envelope, "payload", _ENVELOPE)
    payload = b64decode_strict(payload_b64, at(_ENVELOPE, "payload"))
    signatures = []
    for index, item in enumerate(expect_list(envelope, "signatures", _ENVELOPE)):
        path = at(at(_ENVELOPE, "signatures"), index)
        signature = expect_object(item, path, required=("sig",), optional=("keyid",))
        if "keyid" in signature:
            expect_str(signature, "keyid", path)
        sig = expect_nonempty_str(signature, "sig", path)
        signatures.append(EnvelopeSignature(sig, b64decode_strict(sig, at(path, "sig"))))
    return payload_type, payload, signatures


def _parse_verifiers(unverified: list[object]) -> list[Verifier]:
    # Rekor parses a verifier only when it gets to it; all are parsed here, so a
    # garbage verifier after the useful ones is refused rather than ignored.
    verifiers = []
    for index, item in enumerate(unverified):
        path = at(_VERIFIERS, index)
        if not isinstance(item, str) or not item:
            raise malformed(f"{path} must be a non-empty base64 string")
        verifiers.append(parse_verifier(b64decode_strict(item, path), path))
    return verifiers


def envelope_search_keys(
    payload_hash: str, verifiers: Sequence[Verifier], subject_keys: Sequence[SearchKey]
) -> tuple[SearchKey, ...]:
    """The payload digest, the statement's subject digests, then each verifier's keys."""
    keys = [digest_key("sha256", payload_hash), *subject_keys]
    for verifier in verifiers:
        keys += verifier_search_keys(verifier)
    return unique_keys(keys)


def certificates_of(verifiers: Sequence[Verifier]) -> tuple[x509.Certificate, ...]:
    """The distinct certificates among the verifiers, in order."""
    found = [v.certificate for v in verifiers if v.certificate is not None]
    return tuple(dict.fromkeys(found))
