"""In-toto attestations about a file: an in-toto v1 statement, signed as a DSSE envelope
in a Sigstore bundle (what ``sigstore attest`` produces), and its verification."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from sigstore import dsse
from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.models import ClientTrustConfig
from sigstore.verify import Verifier, policy

from sigclient.blobs import (
    bundle_path_for,
    file_digest,
    parse_identity_token,
    read_bundle,
    signing_context,
    signing_error,
    write_bundle,
)
from sigclient.errors import ClientError, VerificationFailed

STATEMENT_TYPE = "https://in-toto.io/Statement/v1"
PAYLOAD_TYPE = "application/vnd.in-toto+json"


def attest_file(
    path: Path,
    *,
    predicate: dict[str, Any],
    predicate_type: str,
    trust: ClientTrustConfig,
    identity_token: str,
    bundle: Path | None = None,
) -> Path:
    """Sign an in-toto v1 statement about ``path``; return where its bundle was written.

    The statement's one subject is the file's name and SHA-256. The bundle goes to
    ``bundle`` or, by default, ``<file>.sigstore.json`` beside the file.
    """
    hexdigest = file_digest(path).digest.hex()
    try:
        statement = (
            dsse.StatementBuilder()
            .subjects([dsse.Subject(name=path.name, digest=dsse.DigestSet({"sha256": hexdigest}))])
            .predicate_type(predicate_type)
            .predicate(predicate)
            .build()
        )
    except SigstoreError as exc:
        raise ClientError(
            f"cannot build an in-toto statement for {path}: {exc}",
            "Check the predicate is a JSON object and the type a URI",
        ) from exc
    out = bundle or bundle_path_for(path)
    token = parse_identity_token(identity_token)
    with signing_context(trust).signer(token) as signer:
        try:
            signed = signer.sign_dsse(statement)
        except Exception as exc:  # network, HTTP and sigstore errors all end here
            raise signing_error(path, exc) from exc
    write_bundle(out, signed)
    return out


def verify_attestation(
    path: Path,
    *,
    trust: ClientTrustConfig,
    identity: str,
    issuer: str,
    predicate_type: str | None = None,
    bundle: Path | None = None,
) -> dict[str, Any]:
    """Verify an attestation about ``path``; return the verified in-toto statement.

    Checks, in order: (1) the DSSE bundle's certificate, log entry and signature, and
    that ``identity`` from ``issuer`` signed it; (2) the payload is an in-toto v1
    statement; (3) one of its subjects has the file's SHA-256; (4) if given, its
    predicate type. Raises ``VerificationFailed`` naming the file and the reason.
    """
    bundle_file = bundle or bundle_path_for(path)
    signed = read_bundle(bundle_file, artifact=path)
    expected = policy.Identity(identity=identity, issuer=issuer)
    # (1) Signature, certificate chain, log inclusion and identity policy.
    try:
        payload_type, payload = Verifier(trusted_root=trust.trusted_root).verify_dsse(
            signed, expected
        )
    except VerificationError as exc:
        raise _failed(path, str(exc)) from exc
    # (2) Only now is the payload trusted enough to parse.
    statement = _statement(path, payload_type, payload)
    # (3) The attestation must be about this file, not another one.
    want = file_digest(path).digest.hex()
    if not any(_sha256_of(s) == want for s in statement.get("subject", [])):
        raise _failed(path, f"the attestation is not about this file (sha256 {want})")
    # (4) The caller's expected kind of attestation.
    found_type = statement.get("predicateType")
    if predicate_type is not None and found_type != predicate_type:
        raise _failed(path, f"predicate type is {found_type!r}, expected {predicate_type!r}")
    return statement


def _statement(path: Path, payload_type: str, payload: bytes) -> dict[str, Any]:
    if payload_type != PAYLOAD_TYPE:
        raise _failed(path, f"the DSSE payload type is {payload_type!r}, not {PAYLOAD_TYPE!r}")
    try:
        statement = json.loads(payload)
    except ValueError as exc:
        raise _failed(path, "the signed payload is not JSON") from exc
    if not isinstance(statement, dict) or statement.get("_type") != STATEMENT_TYPE:
        raise _failed(path, f"the signed payload is not an in-toto statement ({STATEMENT_TYPE})")
    return statement


def _sha256_of(subject: object) -> object:
    if isinstance(subject, dict) and isinstance(subject.get("digest"), dict):
        return subject["digest"].get("sha256")
    return None


def _failed(path: Path, reason: str) -> VerificationFailed:
    return VerificationFailed(
        f"attestation for {path} failed verification: {reason}",
        "Do not rely on this attestation: check the file, the bundle, the expected "
        "identity and issuer, and the predicate type",
    )
