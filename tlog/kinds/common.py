"""What every entry kind shares: the error, the result types and strict JSON helpers.

Everything a client sends is untrusted and named `unverified_*` until a check has
passed. Every rejection is an `EntryError` whose `code` is stable (the HTTP layer
returns it in `{"code", "message"}`) and whose message names the JSON path to fix.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import rfc8785
from cryptography import x509
from cryptography.hazmat.primitives import hashes

#: The Rekor v1 upload endpoint accepts bodies up to this size; nothing inside one is larger.
MAX_BODY_BYTES = 128 * 1024
#: At most this many signatures (dsse, intoto) or verifiers (dsse) in one entry.
MAX_SIGNATURES = 16

#: Digest algorithms a log entry may name, with the hash that produces them.
HASH_ALGORITHMS: dict[str, hashes.HashAlgorithm] = {
    "sha256": hashes.SHA256(),
    "sha384": hashes.SHA384(),
    "sha512": hashes.SHA512(),
}
_HEX_DIGITS = frozenset("0123456789abcdef")


class EntryError(ValueError):
    """A proposed or stored entry was refused; the message says what to fix.

    Codes: unsupported_kind, unsupported_version, malformed_entry, bad_base64,
    bad_public_key, bad_certificate, signature_invalid, hash_mismatch, too_large.
    """

    def __init__(self, code: str, message: str) -> None:
        super().__init__(message)
        self.code = code
        self.message = message

    def __repr__(self) -> str:
        return f"EntryError({self.code!r}, {self.message!r})"


@dataclass(frozen=True)
class SearchKey:
    """One row of the search index.

    kind is "sha256"/"sha384"/"sha512" (value "<alg>:<hex>"), "email", "uri",
    "key" ("sha256:<hex of SHA-256(SPKI DER)>"), "issuer" or "cert_serial" (lowercase hex).
    """

    kind: str
    value: str


@dataclass(frozen=True)
class AcceptedEntry:
    """An entry that passed every check, in the form the log stores."""

    kind: str
    api_version: str
    #: RFC 8785 JSON of the canonicalized body: the Merkle leaf data.
    canonical_body: bytes
    search_keys: tuple[SearchKey, ...]
    #: The signer certificates found in the entry (may be empty for raw public keys).
    certificates: tuple[x509.Certificate, ...]


def malformed(message: str) -> EntryError:
    return EntryError("malformed_entry", message)


def at(path: str, key: str | int) -> str:
    """The JSON path of a member or an array element, for error messages."""
    if isinstance(key, int):
        return f"{path}[{key}]"
    return f"{path}.{key}" if path else key


def expect_object(
    unverified: object,
    path: str,
    *,
    required: Iterable[str],
    optional: Iterable[str] = (),
) -> dict[str, object]:
    """A JSON object with exactly these members; null optional members count as absent.

    Go's JSON decoding in Rekor reads null as "not set", and sigstore-python sends
    `"signatures": null` in its dsse requests, so null is accepted where a member
    is optional and refused where it is required.
    """
    where = path or "the request body"
    if not isinstance(unverified, dict):
        raise malformed(f"{where} must be a JSON object")
    required = tuple(required)
    allowed = set(required) | set(optional)
    unexpected = sorted(str(key) for key in unverified if key not in allowed)
    if unexpected:
        raise malformed(
            f"unexpected field {at(path, unexpected[0])}; "
            f"{where} may only contain {', '.join(sorted(allowed))}"
        )
    for key in required:
        if unverified.get(key) is None:
            raise malformed(f"{at(path, key)} is required")
    return {str(key): value for key, value in unverified.items() if value is not None}


def expect_str(unverified: dict[str, object], key: str, path: str) -> str:
    value = unverified.get(key)
    if not isinstance(value, str):
        raise malformed(f"{at(path, key)} must be a string")
    return value


def expect_nonempty_str(unverified: dict[str, object], key: str, path: str) -> str:
    value = expect_str(unverified, key, path)
    if not value:
        raise malformed(f"{at(path, key)} must not be empty")
    return value


def expect_list(unverified: dict[str, object], key: str, path: str) -> list[object]:
    """A non-empty JSON array of at most MAX_SIGNATURES items."""
    value = unverified.get(key)
    if not isinstance(value, list):
        raise malformed(f"{at(path, key)} must be a JSON array")
    if not value:
        raise malformed(f"{at(path, key)} must not be empty")
    if len(value) > MAX_SIGNATURES:
        raise EntryError(
            "too_large", f"{at(path, key)} has {len(value)} items; at most {MAX_SIGNATURES}"
        )
    return value


def b64decode_strict(unverified: str, path: str) -> bytes:
    """Standard, padded base64 in its one canonical spelling, or bad_base64.

    Besides the alphabet and the padding, the unused low bits of the last
    character must be zero, so that one value has one spelling and the stored
    string always equals base64(decoded bytes), which is what clients rebuild.
    """
    try:
        decoded = base64.b64decode(unverified, validate=True)
    except (binascii.Error, ValueError):
        raise EntryError(
            "bad_base64", f"{path} is not valid standard base64 (padded, no line breaks)"
        ) from None
    if base64.b64encode(decoded).decode("ascii") != unverified:
        raise EntryError("bad_base64", f"{path} is not canonical base64 (stray bits in padding)")
    return decoded


def b64encode(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def utf8(text: str, path: str) -> bytes:
    """The UTF-8 bytes of a JSON string; lone surrogates (`"\\ud800"`) are refused."""
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise malformed(f"{path} is not valid Unicode text (lone surrogate)") from None


def expect_hex_digest(unverified: str, algorithm: str, path: str) -> str:
    """A lowercase hex digest of the right length for `algorithm`."""
    size = HASH_ALGORITHMS[algorithm].digest_size
    if len(unverified) != size * 2 or not set(unverified) <= _HEX_DIGITS:
        raise malformed(f"{path} must be {size * 2} lowercase hex digits for {algorithm}")
    return unverified


def expect_hash(
    unverified: object, path: str, *, algorithms: Iterable[str] = ("sha256",)
) -> tuple[str, str]:
    """A `{"algorithm", "value"}` object, returned as (algorithm, hex value)."""
    unverified_hash = expect_object(unverified, path, required=("algorithm", "value"))
    algorithm = expect_str(unverified_hash, "algorithm", path)
    allowed = tuple(algorithms)
    if algorithm not in allowed:
        raise malformed(f"{at(path, 'algorithm')} must be one of {', '.join(allowed)}")
    value = expect_str(unverified_hash, "value", path)
    return algorithm, expect_hex_digest(value, algorithm, at(path, "value"))


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def digest_key(algorithm: str, hex_value: str) -> SearchKey:
    return SearchKey(algorithm, f"{algorithm}:{hex_value.lower()}")


def _refuse_duplicate_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    result: dict[str, Any] = {}
    for key, value in pairs:
        if key in result:
            raise ValueError(f"duplicate member {key!r}")
        result[key] = value
    return result


def parse_json(text: str | bytes, path: str) -> object:
    """Parse JSON we were handed inside a string, refusing duplicate members.

    Two parsers that pick different duplicates would read two different
    documents from one signed envelope. The HTTP layer bounds the size; deep
    nesting ends in RecursionError, which is caught here.
    """
    try:
        return json.loads(text, object_pairs_hook=_refuse_duplicate_members)
    except (ValueError, RecursionError) as exc:
        raise malformed(f"{path} is not valid JSON: {exc}") from None


def canonical_json(value: Any) -> bytes:
    """RFC 8785 (JCS) bytes: what Rekor stores after its own canonicalization."""
    result: bytes = rfc8785.dumps(value)
    return result


def unique_keys(keys: Iterable[SearchKey]) -> tuple[SearchKey, ...]:
    """Drop repeated search keys, keeping the first occurrence's position."""
    return tuple(dict.fromkeys(keys))
