"""hashedrekord 0.0.1: a signature over an artifact's digest (what `sigstore sign` logs).

Facts from Rekor's `pkg/types/hashedrekord/v0.0.1/entry.go` that this follows:

* the spec is `signature.content` (base64 signature), `signature.publicKey.content`
  (base64 PEM certificate or public key) and `data.hash` (sha256, sha384 or
  sha512, hex of the matching length); there is no `data.content`;
* the signature is verified over the digest itself, with the entry's hash
  algorithm: ECDSA, RSA PKCS#1 v1.5, or Ed25519ph for an Ed25519 key;
* the certificate is not chained and its validity period is not checked;
* the stored body keeps the signature bytes, the key's canonical PEM and the hash.
"""

from __future__ import annotations

from dataclasses import dataclass

from tlog.kinds.common import (
    HASH_ALGORITHMS,
    AcceptedEntry,
    SearchKey,
    b64decode_strict,
    canonical_json,
    digest_key,
    expect_hash,
    expect_nonempty_str,
    expect_object,
    unique_keys,
)
from tlog.kinds.verifiers import Verifier, parse_verifier, verifier_search_keys, verify_prehashed

KIND = "hashedrekord"
API_VERSION = "0.0.1"


@dataclass(frozen=True)
class _Parsed:
    algorithm: str
    hex_digest: str
    signature_b64: str
    unverified_signature: bytes
    verifier: Verifier


def accept(unverified_spec: object) -> AcceptedEntry:
    """Validate and verify a proposed hashedrekord spec; return what the log stores."""
    parsed = _parse(unverified_spec)
    verify_prehashed(
        parsed.verifier,
        parsed.unverified_signature,
        bytes.fromhex(parsed.hex_digest),
        parsed.algorithm,
        "spec.signature.content",
    )
    body = {
        "apiVersion": API_VERSION,
        "kind": KIND,
        "spec": {
            "data": {"hash": {"algorithm": parsed.algorithm, "value": parsed.hex_digest}},
            "signature": {
                "content": parsed.signature_b64,
                "publicKey": {"content": parsed.verifier.canonical_b64},
            },
        },
    }
    certificate = parsed.verifier.certificate
    return AcceptedEntry(
        kind=KIND,
        api_version=API_VERSION,
        canonical_body=canonical_json(body),
        search_keys=_search_keys(parsed),
        certificates=(certificate,) if certificate is not None else (),
    )


def stored_search_keys(spec: object) -> tuple[SearchKey, ...]:
    """The search keys of a stored body's spec (the stored shape equals the request's)."""
    return _search_keys(_parse(spec))


def _parse(unverified_spec: object) -> _Parsed:
    spec = expect_object(unverified_spec, "spec", required=("signature", "data"))
    signature = expect_object(
        spec["signature"], "spec.signature", required=("content", "publicKey")
    )
    public_key = expect_object(
        signature["publicKey"], "spec.signature.publicKey", required=("content",)
    )
    data = expect_object(spec["data"], "spec.data", required=("hash",))
    algorithm, hex_digest = expect_hash(data["hash"], "spec.data.hash", algorithms=HASH_ALGORITHMS)

    signature_b64 = expect_nonempty_str(signature, "content", "spec.signature")
    unverified_signature = b64decode_strict(signature_b64, "spec.signature.content")
    key_path = "spec.signature.publicKey.content"
    key_b64 = expect_nonempty_str(public_key, "content", "spec.signature.publicKey")
    verifier = parse_verifier(b64decode_strict(key_b64, key_path), key_path)
    return _Parsed(algorithm, hex_digest, signature_b64, unverified_signature, verifier)


def _search_keys(parsed: _Parsed) -> tuple[SearchKey, ...]:
    return unique_keys(
        [digest_key(parsed.algorithm, parsed.hex_digest), *verifier_search_keys(parsed.verifier)]
    )
