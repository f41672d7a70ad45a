"""sigclient: sign and verify files and attestations against a sigportal instance.

A library first (``sigclient.trust``, ``sigclient.blobs``, ``sigclient.attest``) with a
thin command-line layer in ``sigclient.cli``. It imports no Django.
"""

from __future__ import annotations

from sigclient.errors import ClientError, VerificationFailed

__all__ = ["ClientError", "VerificationFailed"]
