"""tlog.core.note: checkpoints and signed notes vs the Go vector, real Rekor, sigstore-python."""

from __future__ import annotations

import base64
import hashlib

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from hypothesis import given, settings
from hypothesis import strategies as st
from sigstore._internal.rekor.checkpoint import SignedCheckpoint
from sigstore._internal.trust import Keyring, RekorKeyring
from sigstore._utils import KeyID
from sigstore.errors import VerificationError
from sigstore_models.common.v1 import PublicKey, PublicKeyDetails

from tlog.core.note import (
    EM_DASH,
    Checkpoint,
    CheckpointError,
    EcdsaNoteSigner,
    Ed25519NoteSigner,
    NoteError,
    NoteVerifier,
    c2sp_ed25519_key_id,
    open_note,
    rekor_key_hint,
    sign_note,
)

ROOT = bytes(range(32))


def spki(key: ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey) -> bytes:
    return key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


@pytest.fixture(scope="module")
def ecdsa_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture(scope="module")
def log(ecdsa_key: ec.EllipticCurvePrivateKey) -> tuple[EcdsaNoteSigner, NoteVerifier]:
    hint = rekor_key_hint(spki(ecdsa_key))
    signer = EcdsaNoteSigner("log.example", ecdsa_key, hint)
    return signer, NoteVerifier.ecdsa("log.example", ecdsa_key.public_key(), hint)


# --- Checkpoints. ---


def test_checkpoint_text_is_exact() -> None:
    checkpoint = Checkpoint("sigportal.example - 42", 7, ROOT, ("Timestamp: 1700000000",))
    root = base64.b64encode(ROOT).decode()
    assert checkpoint.to_text() == f"sigportal.example - 42\n7\n{root}\nTimestamp: 1700000000\n"
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint
    assert Checkpoint("o", 0, ROOT).to_text() == f"o\n0\n{root}\n"


origins = st.text(st.characters(blacklist_categories=("Cc", "Cs")), min_size=1, max_size=40).filter(
    lambda s: "\n" not in s
)


@settings(max_examples=100, deadline=None)
@given(
    origin=origins,
    size=st.integers(0, 2**63 - 1),
    root=st.binary(min_size=32, max_size=32),
    extensions=st.lists(origins, max_size=3),
)
def test_checkpoints_round_trip(origin: str, size: int, root: bytes, extensions: list[str]) -> None:
    checkpoint = Checkpoint(origin, size, root, tuple(extensions))
    assert Checkpoint.from_text(checkpoint.to_text()) == checkpoint


GOOD_ROOT = base64.b64encode(ROOT).decode()


@pytest.mark.parametrize(
    "text",
    [
        f"o\n1\n{GOOD_ROOT}",  # no final newline
        "o\n1\n",
        f"\n1\n{GOOD_ROOT}\n",  # empty origin
        f"o\n01\n{GOOD_ROOT}\n",
        f"o\n+1\n{GOOD_ROOT}\n",
        f"o\n-1\n{GOOD_ROOT}\n",
        f"o\n 1\n{GOOD_ROOT}\n",
        f"o\n1 \n{GOOD_ROOT}\n",
        f"o\n\u0661\n{GOOD_ROOT}\n",
        f"o\n9223372036854775808\n{GOOD_ROOT}\n",
        f"o\n1\n{base64.b64encode(ROOT[:31]).decode()}\n",
        f"o\n1\n{GOOD_ROOT[:-1]}\n",
        f"o\n1\n{GOOD_ROOT[:-2]}B=\n",  # non-canonical: non-zero padding bits
        f"o\n1\n{GOOD_ROOT}\n\n",  # empty extension line
        f"o\x00\n1\n{GOOD_ROOT}\n",
    ],
)
def test_malformed_checkpoints_are_refused(text: str) -> None:
    with pytest.raises(CheckpointError):
        Checkpoint.from_text(text)


def test_checkpoint_fields_are_checked() -> None:
    for args in [("", 1, ROOT), ("a\nb", 1, ROOT), ("o", -1, ROOT), ("o", 1, ROOT[:31])]:
        with pytest.raises(CheckpointError):
            Checkpoint(*args)  # type: ignore[arg-type]
    with pytest.raises(CheckpointError):
        Checkpoint("o", 1, ROOT, ("",))


# --- The Go sumdb/note vector: Ed25519 is deterministic, so we must match byte for byte. ---

GO_TEXT = (
    "If you think cryptography is the answer to your problem,\n"
    "then you don't know what your problem is.\n"
)
GO_NOTE = (
    GO_TEXT
    + "\n"
    + EM_DASH
    + " PeterNeumann x08go/ZJkuBS9UG/SffcvIAQxVBtiFupLLr8pAcElZInNIuGUgYN1FF"
    + "YC2pZSNXgKvqfqdngotpRZb6KE6RyyBwJnAM=\n"
)
# PRIVATE+KEY+PeterNeumann+c74f20a3+<0x01 || seed> and PeterNeumann+c74f20a3+<0x01 || key>.
GO_SEED = base64.b64decode("AYEKFALVFGyNhPJEMzD1QIDr+Y7hfZx09iUvxdXHKDFz")[1:]
GO_PUBLIC = base64.b64decode("ARpc2QcUPDhMQegwxbzhKqiBfsVkmqq/LDE4izWy10TW")[1:]


def test_go_sumdb_note_vector() -> None:
    key = ed25519.Ed25519PrivateKey.from_private_bytes(GO_SEED)
    assert key.public_key().public_bytes_raw() == GO_PUBLIC
    hint = c2sp_ed25519_key_id("PeterNeumann", GO_PUBLIC)[:4]
    assert hint.hex() == "c74f20a3"
    assert sign_note(GO_TEXT, [Ed25519NoteSigner("PeterNeumann", key, hint)]) == GO_NOTE
    verifier = NoteVerifier.ed25519("PeterNeumann", key.public_key(), hint)
    assert open_note(GO_NOTE, [verifier]) == (GO_TEXT, [verifier])
    with pytest.raises(NoteError, match="does not verify"):
        open_note(GO_NOTE.replace("cryptography", "cryptographY"), [verifier])


# --- A real checkpoint from rekor.sigstore.dev (from a public Sigstore bundle). ---

REKOR_PUBLIC_PEM = b"""-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAE2G2Y+2tabdTV5BcGiBIx0a9fAFwr
kBbmLSGtks4L3qX6yYY0zufBnhC8Ur/iy55GhWP/9A/bY2LhC30M9+RYtw==
-----END PUBLIC KEY-----
"""
REKOR_LOG_ID = "c0d23d6ad406973f9559f3ba2d1ca01f84147d8ffc5b8445c224f98b9591801d"
REKOR_CHECKPOINT = (
    "rekor.sigstore.dev - 1193050959916656506\n"
    "151165654\n"
    "mQzjnEcka/8RktFYpvWYHha4kQcfzNVgTAMmg4OghL8=\n"
    "\n"
    f"{EM_DASH} rekor.sigstore.dev wNI9ajBFAiEA/3AFziktWhi/OYoqavWWSpVZC/EBTw2nZPltb200J1oC"
    "IG4JmkmTXrItmU4bUeJiYjTWAzwIvTO0ISB7OrbIadgC\n"
)


def test_real_rekor_checkpoint_opens() -> None:
    public_key = serialization.load_pem_public_key(REKOR_PUBLIC_PEM)
    assert isinstance(public_key, ec.EllipticCurvePublicKey)
    der = public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    hint = rekor_key_hint(der)
    assert hint == bytes.fromhex(REKOR_LOG_ID)[:4]
    verifier = NoteVerifier.ecdsa("rekor.sigstore.dev", public_key, hint)
    text, verified = open_note(REKOR_CHECKPOINT, [verifier])
    assert verified == [verifier]
    checkpoint = Checkpoint.from_text(text)
    assert checkpoint.origin == "rekor.sigstore.dev - 1193050959916656506"
    assert checkpoint.size == 151165654
    assert checkpoint.root_hash.hex().startswith("990ce39c47246bff1192d158a6f5981e16b")
    assert checkpoint.to_text() == text


# --- sigstore-python 4.5.1 accepts what we sign. ---


def _sigstore_keyring(der: bytes, details: PublicKeyDetails) -> RekorKeyring:
    # The protobuf model takes bytes fields base64-encoded, as in trusted_root.json.
    public_key = PublicKey(raw_bytes=base64.b64encode(der), key_details=details)
    keyring = Keyring([public_key])
    assert len(keyring._keyring) == 1
    return RekorKeyring(keyring)


def test_sigstore_python_verifies_our_ecdsa_checkpoint(
    ecdsa_key: ec.EllipticCurvePrivateKey, log: tuple[EcdsaNoteSigner, NoteVerifier]
) -> None:
    signer, _ = log
    checkpoint = Checkpoint("log.example - 1", 12345, ROOT, ("Timestamp: 1",))
    note = sign_note(checkpoint.to_text(), [signer])
    der = spki(ecdsa_key)
    keyring = _sigstore_keyring(der, PublicKeyDetails.PKIX_ECDSA_P256_SHA_256)
    parsed = SignedCheckpoint.from_text(note)
    parsed.signed_note.verify(keyring, KeyID(hashlib.sha256(der).digest()))
    assert parsed.checkpoint.log_size == 12345
    assert parsed.checkpoint.log_hash == ROOT.hex()
    assert parsed.checkpoint.origin == "log.example - 1"
    tampered = SignedCheckpoint.from_text(note.replace("12345", "12346"))
    with pytest.raises(VerificationError):
        tampered.signed_note.verify(keyring, KeyID(hashlib.sha256(der).digest()))


def test_sigstore_python_verifies_our_ed25519_checkpoint() -> None:
    key = ed25519.Ed25519PrivateKey.generate()
    der = spki(key)
    # Rekor v1 with an Ed25519 key: the hint is still SHA-256(SPKI)[:4].
    note = sign_note(
        Checkpoint("log.example - 2", 3, ROOT).to_text(),
        [Ed25519NoteSigner("log.example", key, rekor_key_hint(der))],
    )
    keyring = _sigstore_keyring(der, PublicKeyDetails.PKIX_ED25519)
    SignedCheckpoint.from_text(note).signed_note.verify(
        keyring, KeyID(hashlib.sha256(der).digest())
    )


# --- Signing and opening. ---


def test_several_signers_and_unknown_signatures(
    log: tuple[EcdsaNoteSigner, NoteVerifier],
) -> None:
    signer, verifier = log
    witness_key = ed25519.Ed25519PrivateKey.generate()
    raw = witness_key.public_key().public_bytes_raw()
    witness_hint = c2sp_ed25519_key_id("witness.example", raw)[:4]
    witness = Ed25519NoteSigner("witness.example", witness_key, witness_hint)
    text = Checkpoint("log.example", 9, ROOT).to_text()
    note = sign_note(text, [signer, witness])
    assert note.count(f"\n{EM_DASH} ") == 2
    # The witness is unknown to this verifier list, so it is ignored.
    assert open_note(note, [verifier]) == (text, [verifier])
    witness_verifier = NoteVerifier.ed25519(
        "witness.example", witness_key.public_key(), witness_hint
    )
    assert open_note(note, [verifier, witness_verifier]) == (text, [verifier, witness_verifier])
    # The same name with another hint, or another name with the same hint, is a different key.
    other_key = ec.generate_private_key(ec.SECP256R1())
    strangers = [
        NoteVerifier.ecdsa("log.example", other_key.public_key(), b"\x00\x00\x00\x00"),
        NoteVerifier.ecdsa("other.example", other_key.public_key(), verifier.key_hint),
    ]
    with pytest.raises(NoteError, match="no signature by a trusted key"):
        open_note(note, strangers)


def _replace_signature_line(note: str, line: str) -> str:
    text, _, _ = note.partition(f"\n{EM_DASH} ")
    return f"{text}\n{line}\n"


def test_tampering_is_detected(log: tuple[EcdsaNoteSigner, NoteVerifier]) -> None:
    signer, verifier = log
    note = sign_note(Checkpoint("log.example", 12345, ROOT).to_text(), [signer])
    sig_line = note.split("\n")[-2]
    blob = base64.b64decode(sig_line.split(" ")[2])
    other_root = base64.b64encode(bytes(32)).decode()
    flipped_sig = blob[:-1] + bytes([blob[-1] ^ 1])
    wrong_hint = bytes([blob[0] ^ 1]) + blob[1:]
    cases = {
        "size": note.replace("12345", "12346"),
        "root": note.replace(GOOD_ROOT, other_root),
        "origin": note.replace("log.example\n", "log.exampl\n", 1),
        "signature": _replace_signature_line(
            note, f"{EM_DASH} log.example {base64.b64encode(flipped_sig).decode()}"
        ),
    }
    for what, bad in cases.items():
        with pytest.raises(NoteError, match="does not verify"):
            open_note(bad, [verifier])
        assert what
    # A changed name or hint makes the signature one by an unknown key.
    for bad in [
        note.replace(f"{EM_DASH} log.example ", f"{EM_DASH} log.exampl "),
        _replace_signature_line(
            note, f"{EM_DASH} log.example {base64.b64encode(wrong_hint).decode()}"
        ),
    ]:
        with pytest.raises(NoteError, match="no signature by a trusted key"):
            open_note(bad, [verifier])


def test_a_bad_signature_by_a_known_key_rejects_the_note(
    log: tuple[EcdsaNoteSigner, NoteVerifier],
) -> None:
    signer, verifier = log
    text = Checkpoint("log.example", 1, ROOT).to_text()
    good = sign_note(text, [signer]).split("\n")[-2]
    forged_blob = verifier.key_hint + b"\x30\x06\x02\x01\x01\x02\x01\x01"
    forged = f"{EM_DASH} log.example {base64.b64encode(forged_blob).decode()}"
    with pytest.raises(NoteError, match="does not verify"):
        open_note(f"{text}\n{good}\n{forged}\n", [verifier])


@pytest.mark.parametrize(
    ("mutate", "message"),
    [
        (lambda n: n.replace("\n\n", "\n\n\n"), "malformed signature line ''"),
        (lambda n: n.replace("\n\n", "\n"), "exactly one blank line"),
        (lambda n: n.replace("\n\n", "\n \n"), "exactly one blank line"),
        (lambda n: n[:-1], "must end with a newline"),
        (lambda n: n.replace(EM_DASH, "-"), "malformed signature line"),
        (lambda n: n.replace(f"{EM_DASH} ", f"{EM_DASH}  "), "malformed signature line"),
        (lambda n: n.replace("log.example ", "log example "), "malformed signature line"),
        (lambda n: n.replace("log.example ", "log+example "), "malformed signature line"),
        (lambda n: n + "\n", "exactly one blank line"),
        (lambda n: n + f"{EM_DASH} x AAAA\n", "too short"),
        (lambda n: n + f"{EM_DASH} x AAAAA\n", "not valid base64"),
        (lambda n: n + "trailing\n", "malformed signature line"),
        (lambda n: "\n" + n, "must not start with a blank line"),
        (lambda n: n.replace("log.example\n", "log.example\r\n", 1), "control characters"),
        (lambda n: n + f"{EM_DASH} x AAAAAAAA\n" * 100, "at most 100 signatures"),
        (lambda n: "x" * (1 << 20) + n, "at most 1048576"),
    ],
)
def test_malformed_notes_are_refused(
    log: tuple[EcdsaNoteSigner, NoteVerifier], mutate: object, message: str
) -> None:
    signer, verifier = log
    note = sign_note(Checkpoint("log.example", 1, ROOT).to_text(), [signer])
    with pytest.raises(NoteError, match=message):
        open_note(mutate(note), [verifier])  # type: ignore[operator]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "non-empty"),
        ("no newline", "end with a newline"),
        ("a\n\nb\n", "blank line"),
        ("\na\n", "blank line"),
        ("a\tb\n", "control characters"),
        ("\ud800\n", "valid UTF-8"),
    ],
)
def test_sign_note_checks_the_text(
    log: tuple[EcdsaNoteSigner, NoteVerifier], text: str, message: str
) -> None:
    with pytest.raises(NoteError, match=message):
        sign_note(text, [log[0]])


def test_sign_note_needs_a_signer() -> None:
    with pytest.raises(NoteError, match="at least one signer"):
        sign_note("a\n", [])


@pytest.mark.parametrize("name", ["", "a b", "a+b", "a\nb", "a\u00a0b", "a\u2003b"])
def test_key_names_are_checked(ecdsa_key: ec.EllipticCurvePrivateKey, name: str) -> None:
    with pytest.raises(ValueError, match="key name"):
        EcdsaNoteSigner(name, ecdsa_key, b"abcd")
    with pytest.raises(ValueError, match="key name"):
        NoteVerifier.ecdsa(name, ecdsa_key.public_key(), b"abcd")


def test_keys_and_hints_are_checked(ecdsa_key: ec.EllipticCurvePrivateKey) -> None:
    with pytest.raises(ValueError, match="4 bytes"):
        EcdsaNoteSigner("n", ecdsa_key, b"abc")
    p384 = ec.generate_private_key(ec.SECP384R1())
    with pytest.raises(ValueError, match="P-256"):
        EcdsaNoteSigner("n", p384, b"abcd")
    with pytest.raises(ValueError, match="P-256"):
        NoteVerifier.ecdsa("n", p384.public_key(), b"abcd")
    with pytest.raises(ValueError, match="32 bytes"):
        c2sp_ed25519_key_id("n", b"short")
    assert "private_key" not in repr(EcdsaNoteSigner("n", ecdsa_key, b"abcd"))
