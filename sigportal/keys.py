"""Key storage and the signer interface shared by the CA and the transparency log.

Private keys live on disk as encrypted PEM (passphrase from SIGPORTAL_KEY_PASSPHRASE) and
are referenced from the database by a `key_ref`: `file:<name>` for a file under
KEY_DIR. Everything that signs goes through `Signer`, so that a KMS or PKCS#11 signer can
be added as another `key_ref` scheme without touching issuance or sequencing.

Keys are loaded once per process and cached: decrypting a PEM costs milliseconds (scrypt
or PBKDF2), which must never land on the request path.
"""

from __future__ import annotations

import hashlib
import os
import secrets
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Literal, Protocol

from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519
from django.conf import settings

KeyAlgorithm = Literal["ecdsa-p256", "ecdsa-p384", "ed25519"]
PrivateKey = ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey
PublicKey = ec.EllipticCurvePublicKey | ed25519.Ed25519PublicKey


class Signer(Protocol):
    """Something that signs with one private key it never hands out."""

    key_ref: str
    algorithm: KeyAlgorithm

    def public_key(self) -> PublicKey: ...

    def sign(self, data: bytes) -> bytes:
        """ECDSA: DER signature over SHA-256 (P-256) or SHA-384 (P-384) of data.
        Ed25519: the raw 64-byte signature over data."""
        ...


def spki_der(public_key: PublicKey) -> bytes:
    return public_key.public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )


def key_fingerprint(public_key: PublicKey) -> bytes:
    """SHA-256 of the DER SubjectPublicKeyInfo: the Rekor logID / CT LogID (INTEROP §1.4)."""
    return hashlib.sha256(spki_der(public_key)).digest()


@dataclass
class FileSigner:
    """A key in an encrypted PEM file under KEY_DIR."""

    key_ref: str
    algorithm: KeyAlgorithm
    private_key: PrivateKey

    def public_key(self) -> PublicKey:
        return self.private_key.public_key()

    def sign(self, data: bytes) -> bytes:
        if isinstance(self.private_key, ed25519.Ed25519PrivateKey):
            return self.private_key.sign(data)
        digest = hashes.SHA384() if self.algorithm == "ecdsa-p384" else hashes.SHA256()
        return self.private_key.sign(data, ec.ECDSA(digest))


def _new_private_key(algorithm: KeyAlgorithm) -> PrivateKey:
    if algorithm == "ecdsa-p256":
        return ec.generate_private_key(ec.SECP256R1())
    if algorithm == "ecdsa-p384":
        return ec.generate_private_key(ec.SECP384R1())
    if algorithm == "ed25519":
        return ed25519.Ed25519PrivateKey.generate()
    raise ValueError(f"unsupported key algorithm {algorithm!r}")


def _algorithm_of(key: PrivateKey) -> KeyAlgorithm:
    if isinstance(key, ed25519.Ed25519PrivateKey):
        return "ed25519"
    if isinstance(key.curve, ec.SECP256R1):
        return "ecdsa-p256"
    if isinstance(key.curve, ec.SECP384R1):
        return "ecdsa-p384"
    raise ValueError(f"unsupported curve {key.curve.name}")


def _key_path(key_ref: str) -> Path:
    scheme, _, name = key_ref.partition(":")
    if scheme != "file" or not name or "/" in name or name.startswith("."):
        raise ValueError(f"unsupported key reference {key_ref!r}")
    return Path(settings.KEY_DIR) / name


def key_create(*, name: str, algorithm: KeyAlgorithm) -> Signer:
    """Generate a key, write it encrypted (mode 0600) and return its signer.

    Refuses to overwrite: a log's or CA's key never changes after creation. The file
    name gets a random suffix, so re-creating a CA or log never meets an old key file.
    """
    key_ref = f"file:{name}-{secrets.token_hex(4)}.pem"
    path = _key_path(key_ref)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    private_key = _new_private_key(algorithm)
    pem = private_key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.BestAvailableEncryption(settings.KEY_PASSPHRASE.encode()),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "wb") as f:
        f.write(pem)
    signer = FileSigner(key_ref=key_ref, algorithm=algorithm, private_key=private_key)
    with _cache_lock:
        _cache[key_ref] = signer
    return signer


_cache: dict[str, Signer] = {}
_cache_lock = threading.Lock()


def signer_load(key_ref: str) -> Signer:
    """The signer for a key reference, loaded once per process."""
    signer = _cache.get(key_ref)
    if signer is not None:
        return signer
    with _cache_lock:
        signer = _cache.get(key_ref)
        if signer is None:
            data = _key_path(key_ref).read_bytes()
            private_key = serialization.load_pem_private_key(
                data, password=settings.KEY_PASSPHRASE.encode()
            )
            if not isinstance(private_key, ec.EllipticCurvePrivateKey | ed25519.Ed25519PrivateKey):
                raise ValueError(f"{key_ref}: unsupported key type")
            signer = FileSigner(
                key_ref=key_ref, algorithm=_algorithm_of(private_key), private_key=private_key
            )
            _cache[key_ref] = signer
    return signer
