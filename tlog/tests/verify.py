"""Independent verification of our Rekor v1 answers with sigstore-python's own code
(its RFC 6962 inclusion verifier, checkpoint parser and SET check)."""

from __future__ import annotations

import base64
from datetime import UTC, datetime
from typing import Any

from sigstore._internal.trust import Keyring, RekorKeyring
from sigstore.models import TransparencyLogEntry
from sigstore_models.common import v1 as common_v1


def rekor_keyring(spki_der: bytes) -> RekorKeyring:
    key = common_v1.PublicKey(
        raw_bytes=base64.b64encode(spki_der),
        key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
        valid_for=common_v1.TimeRange(start=datetime(2020, 1, 1, tzinfo=UTC)),
    )
    return RekorKeyring(Keyring([key]))


def sigstore_verify(doc: dict[str, Any], spki_der: bytes) -> TransparencyLogEntry:
    """Raise unless sigstore-python accepts the entry's inclusion proof, checkpoint and SET."""
    entry = TransparencyLogEntry._from_v1_response(doc)
    entry._verify(rekor_keyring(spki_der))
    return entry
