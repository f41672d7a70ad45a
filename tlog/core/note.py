"""C2SP signed notes and tlog checkpoints, in the shape the Sigstore clients parse.

Pure Python with no Django. A signed note is a text ending in a newline, a
blank line, then one line per signature::

    <origin>\\n<size>\\n<base64 root>\\n[extension lines]\\n
    \\n
    \u2014 <key name> <base64(4-byte key hint || signature)>\\n

The C2SP spec lets the text contain blank lines (the last one separates), but
sigstore-python demands exactly one blank line in the whole note, so this
module refuses blank lines inside the text, both when signing and opening.

Key hints: Rekor v1 uses SHA-256(SPKI DER)[:4] for every key type (it must
equal ``logId[0:4]``, see INTEROP §1.4 and §4.6); the C2SP Ed25519 key ID is
SHA-256(name || "\\n" || 0x01 || raw key)[:4], which Rekor v2 also uses.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Protocol

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from .merkle import HASH_SIZE, MAX_TREE_SIZE

EM_DASH = "\u2014"
MAX_NOTE_SIZE = 1 << 20
MAX_SIGNATURES = 100
KEY_HINT_SIZE = 4

# Any ASCII control character but the newline is forbidden in a note.
_CONTROL = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_SIZE = re.compile(r"0|[1-9][0-9]*", re.ASCII)
# No Unicode spaces and no "+" in a key name; the signature is standard base64.
_SIGNATURE_LINE = re.compile(EM_DASH + r" ([^\s+]+) ([A-Za-z0-9+/]+={0,2})")
_NAME = re.compile(r"[^\s+]+")

NotePublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class NoteError(ValueError):
    """A note is malformed or carries no valid signature by a known key."""


class CheckpointError(ValueError):
    """A checkpoint's text breaks the C2SP tlog-checkpoint format."""


@dataclass(frozen=True)
class Checkpoint:
    """A transparency log checkpoint: origin, tree size, root hash, optional extension lines."""

    origin: str
    size: int
    root_hash: bytes
    extensions: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        _check_line("origin", self.origin)
        if not isinstance(self.size, int) or isinstance(self.size, bool):
            raise CheckpointError("checkpoint size must be an integer")
        if not 0 <= self.size <= MAX_TREE_SIZE:
            raise CheckpointError(f"checkpoint size must be between 0 and 2**63-1, not {self.size}")
        if not isinstance(self.root_hash, bytes) or len(self.root_hash) != HASH_SIZE:
            raise CheckpointError(f"checkpoint root hash must be {HASH_SIZE} bytes")
        for i, line in enumerate(self.extensions):
            _check_line(f"extension line {i}", line)

    def to_text(self) -> str:
        """Return the note text: origin, size, base64 root, extensions, each ending in newline."""
        root = base64.b64encode(self.root_hash).decode("ascii")
        return "".join(
            f"{line}\n" for line in (self.origin, str(self.size), root, *self.extensions)
        )

    @classmethod
    def from_text(cls, text: str) -> Checkpoint:
        """Parse a checkpoint note text strictly; raises CheckpointError on any deviation."""
        if not isinstance(text, str) or not text.endswith("\n"):
            raise CheckpointError("checkpoint text must end with a newline")
        lines = text[:-1].split("\n")
        if len(lines) < 3:
            raise CheckpointError(f"checkpoint text has {len(lines)} lines; at least 3 are needed")
        origin, size_text, root_text, *extensions = lines
        if not _SIZE.fullmatch(size_text):
            raise CheckpointError(f"checkpoint size {size_text!r} is not a canonical decimal")
        return cls(origin, int(size_text), _decode_root(root_text), tuple(extensions))


class NoteSigner(Protocol):
    """Something that signs note text under a key name and 4-byte key hint."""

    @property
    def name(self) -> str: ...

    @property
    def key_hint(self) -> bytes: ...

    def sign(self, message: bytes) -> bytes:
        """Return the raw signature over ``message`` (the note text's UTF-8 bytes)."""
        ...


@dataclass(frozen=True)
class EcdsaNoteSigner:
    """Signs notes with ECDSA P-256 over SHA-256 (DER signature), as Rekor v1 does."""

    name: str
    private_key: ec.EllipticCurvePrivateKey = field(repr=False)
    key_hint: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        _check_key_hint(self.key_hint)
        _check_p256(self.private_key.curve)

    def sign(self, message: bytes) -> bytes:
        """Return the DER ECDSA signature of SHA-256(message)."""
        return self.private_key.sign(message, ec.ECDSA(hashes.SHA256()))


@dataclass(frozen=True)
class Ed25519NoteSigner:
    """Signs notes with Ed25519 over the raw note text."""

    name: str
    private_key: ed25519.Ed25519PrivateKey = field(repr=False)
    key_hint: bytes

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        _check_key_hint(self.key_hint)

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self.private_key.sign(message)


@dataclass(frozen=True)
class NoteVerifier:
    """A trusted key: its name, 4-byte key hint and public key (ECDSA P-256 or Ed25519)."""

    name: str
    key_hint: bytes
    public_key: NotePublicKey = field(repr=False)

    def __post_init__(self) -> None:
        _check_key_name(self.name)
        _check_key_hint(self.key_hint)
        if isinstance(self.public_key, ec.EllipticCurvePublicKey):
            _check_p256(self.public_key.curve)
        elif not isinstance(self.public_key, ed25519.Ed25519PublicKey):
            raise ValueError("note keys must be ECDSA P-256 or Ed25519")

    @classmethod
    def ecdsa(
        cls, name: str, public_key: ec.EllipticCurvePublicKey, key_hint: bytes
    ) -> NoteVerifier:
        """Return a verifier for ECDSA P-256 / SHA-256 signatures."""
        if not isinstance(public_key, ec.EllipticCurvePublicKey):
            raise ValueError("expected an ECDSA public key")
        return cls(name, key_hint, public_key)

    @classmethod
    def ed25519(
        cls, name: str, public_key: ed25519.Ed25519PublicKey, key_hint: bytes
    ) -> NoteVerifier:
        """Return a verifier for Ed25519 signatures."""
        if not isinstance(public_key, ed25519.Ed25519PublicKey):
            raise ValueError("expected an Ed25519 public key")
        return cls(name, key_hint, public_key)

    def verify(self, message: bytes, signature: bytes) -> bool:
        """Return whether ``signature`` is this key's signature over ``message``."""
        try:
            if isinstance(self.public_key, ec.EllipticCurvePublicKey):
                self.public_key.verify(signature, message, ec.ECDSA(hashes.SHA256()))
            else:
                self.public_key.verify(signature, message)
        except (InvalidSignature, ValueError):
            return False
        return True


def rekor_key_hint(spki_der: bytes) -> bytes:
    """Return the Rekor v1 key hint, SHA-256(SPKI DER)[:4], which equals ``logId[0:4]``."""
    return hashlib.sha256(spki_der).digest()[:KEY_HINT_SIZE]


def c2sp_ed25519_key_id(name: str, raw_public_key: bytes) -> bytes:
    """Return the 32-byte C2SP Ed25519 key ID, SHA-256(name || "\\n" || 0x01 || key).

    Its first 4 bytes are the note key hint; all 32 are the Rekor v2 Ed25519 logId.
    """
    _check_key_name(name)
    if len(raw_public_key) != 32:
        raise ValueError("a raw Ed25519 public key is 32 bytes")
    return hashlib.sha256(name.encode("utf-8") + b"\n\x01" + raw_public_key).digest()


def sign_note(text: str, signers: Sequence[NoteSigner]) -> str:
    """Sign ``text`` with each signer and return the signed note.

    The text must be non-empty, end with a newline and hold no blank line or
    control character; each signer's name must be non-empty with no spaces
    or "+". Raises NoteError otherwise.
    """
    message = _encode_text(text)
    if not signers:
        raise NoteError("a note needs at least one signer")
    if len(signers) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures")
    lines = []
    for signer in signers:
        _check_key_name(signer.name, NoteError)
        _check_key_hint(signer.key_hint, NoteError)
        blob = base64.b64encode(signer.key_hint + signer.sign(message)).decode("ascii")
        lines.append(f"{EM_DASH} {signer.name} {blob}\n")
    note = text + "\n" + "".join(lines)
    if len(note.encode("utf-8")) > MAX_NOTE_SIZE:
        raise NoteError(f"the signed note is larger than {MAX_NOTE_SIZE} bytes")
    return note


def open_note(note: str, verifiers: Sequence[NoteVerifier]) -> tuple[str, list[NoteVerifier]]:
    """Verify a signed note and return its text and the verifiers whose signature verified.

    Signatures by unknown keys (name and hint not both matching a verifier)
    are ignored. Raises NoteError if the note is malformed, if a known key's
    signature fails, or if no known key signed it.
    """
    text, signatures = _parse_note(note)
    message = text.encode("utf-8")
    verified: list[NoteVerifier] = []
    for name, hint, signature in signatures:
        known = [v for v in verifiers if v.name == name and v.key_hint == hint]
        if not known:
            continue
        good = [v for v in known if v.verify(message, signature)]
        if not good:
            raise NoteError(f"the signature by {name} (key hint {hint.hex()}) does not verify")
        verified.extend(v for v in good if not any(v is w for w in verified))
    if not verified:
        seen = ", ".join(f"{name} ({hint.hex()})" for name, hint, _ in signatures)
        raise NoteError(f"the note has no signature by a trusted key; it is signed by {seen}")
    return text, verified


def _parse_note(note: str) -> tuple[str, list[tuple[str, bytes, bytes]]]:
    # Steps as sigstore-python's SignedNote.from_text, plus the C2SP rules.
    # 1. Bounded size, valid UTF-8, no control characters but newlines.
    if not isinstance(note, str) or len(note) > MAX_NOTE_SIZE:
        raise NoteError(f"a note must be a string of at most {MAX_NOTE_SIZE} bytes")
    if len(_encode_utf8(note)) > MAX_NOTE_SIZE:
        raise NoteError(f"a note must be at most {MAX_NOTE_SIZE} bytes")
    if _CONTROL.search(note):
        raise NoteError("a note must not contain control characters other than newline")
    # 2. Exactly one blank line separates the text (with its final newline) from the signatures.
    if note.count("\n\n") != 1:
        raise NoteError("a note must contain exactly one blank line, before the signatures")
    split = note.index("\n\n")
    text, block = note[: split + 1], note[split + 2 :]
    if text.startswith("\n"):
        raise NoteError("a note's text must not start with a blank line")
    if not block.endswith("\n"):
        raise NoteError("a note's signature block must end with a newline")
    # 3. Every remaining line is "— <name> <base64(hint || signature)>".
    lines = block[:-1].split("\n")
    if len(lines) > MAX_SIGNATURES:
        raise NoteError(f"a note carries at most {MAX_SIGNATURES} signatures, not {len(lines)}")
    return text, [_parse_signature_line(line) for line in lines]


def _parse_signature_line(line: str) -> tuple[str, bytes, bytes]:
    match = _SIGNATURE_LINE.fullmatch(line)
    if match is None:
        raise NoteError(f"malformed signature line {line[:80]!r}")
    name, blob = match.groups()
    try:
        raw = base64.b64decode(blob, validate=True)
    except binascii.Error:
        raise NoteError(f"the signature by {name} is not valid base64") from None
    if len(raw) <= KEY_HINT_SIZE:
        raise NoteError(f"the signature by {name} is too short")
    return name, raw[:KEY_HINT_SIZE], raw[KEY_HINT_SIZE:]


def _encode_text(text: str) -> bytes:
    if not isinstance(text, str) or not text:
        raise NoteError("a note's text must be a non-empty string")
    if not text.endswith("\n"):
        raise NoteError("a note's text must end with a newline")
    if text.startswith("\n") or "\n\n" in text:
        raise NoteError("a note's text must not contain a blank line")
    if _CONTROL.search(text):
        raise NoteError("a note's text must not contain control characters other than newline")
    return _encode_utf8(text)


def _encode_utf8(text: str) -> bytes:
    try:
        return text.encode("utf-8")
    except UnicodeEncodeError:
        raise NoteError("a note must be valid UTF-8") from None


def _decode_root(text: str) -> bytes:
    try:
        root = base64.b64decode(text, validate=True)
    except binascii.Error:
        raise CheckpointError(f"checkpoint root hash {text!r} is not valid base64") from None
    if len(root) != HASH_SIZE:
        raise CheckpointError(f"checkpoint root hash is {len(root)} bytes, not {HASH_SIZE}")
    if base64.b64encode(root).decode("ascii") != text:
        raise CheckpointError(f"checkpoint root hash {text!r} is not canonical base64")
    return root


def _check_line(what: str, value: str) -> None:
    if not isinstance(value, str) or not value:
        raise CheckpointError(f"checkpoint {what} must be a non-empty string")
    if "\n" in value or _CONTROL.search(value):
        raise CheckpointError(f"checkpoint {what} must be one line without control characters")


def _check_key_name(name: str, error: type[ValueError] = ValueError) -> None:
    if not isinstance(name, str) or not _NAME.fullmatch(name) or _CONTROL.search(name):
        raise error(f"key name {name!r} must be non-empty, with no spaces and no '+'")


def _check_key_hint(hint: bytes, error: type[ValueError] = ValueError) -> None:
    if not isinstance(hint, bytes) or len(hint) != KEY_HINT_SIZE:
        raise error(f"a key hint is {KEY_HINT_SIZE} bytes")


def _check_p256(curve: ec.EllipticCurve) -> None:
    # Both Sigstore clients agree only on P-256 with SHA-256 (INTEROP §1.5).
    if not isinstance(curve, ec.SECP256R1):
        raise ValueError(f"note ECDSA keys must be P-256, not {curve.name}")
