"""Shared fixtures: a live sigportal (gunicorn + its own PostgreSQL database) on loopback,
and builders for valid log entries."""

from __future__ import annotations

import base64
import hashlib
import secrets
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils

from sigportal.livetest import (
    ROOT,
    LiveServer,
    free_port,
    live_server_or_skip,
    start_live_server,
)

__all__ = ["ROOT", "EntryMaker", "LiveServer", "free_port", "start_live_server"]


@dataclass
class EntryMaker:
    """Makes valid hashedrekord 0.0.1 requests the way sigstore clients do."""

    key: ec.EllipticCurvePrivateKey = field(
        default_factory=lambda: ec.generate_private_key(ec.SECP256R1())
    )

    @property
    def public_pem(self) -> bytes:
        return self.key.public_key().public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )

    def hashedrekord(self, artifact: bytes | None = None) -> tuple[dict[str, Any], bytes]:
        artifact = artifact if artifact is not None else secrets.token_bytes(32)
        digest = hashlib.sha256(artifact).digest()
        signature = self.key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
        entry = {
            "apiVersion": "0.0.1",
            "kind": "hashedrekord",
            "spec": {
                "signature": {
                    "content": base64.b64encode(signature).decode(),
                    "publicKey": {"content": base64.b64encode(self.public_pem).decode()},
                },
                "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
            },
        }
        return entry, artifact


@pytest.fixture
def entry_maker() -> EntryMaker:
    return EntryMaker()


@pytest.fixture(scope="session")
def live_server_pg(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveServer]:
    """gunicorn (2 workers x 4 threads) on its own fresh PostgreSQL database."""
    yield from live_server_or_skip(tmp_path_factory.mktemp("live"))
