"""Sign many files under one signing certificate, and verify them.

Each file gets a Sigstore v0.3 bundle beside it, ``<file>.sigstore.json``: the same bundle
``sigstore sign`` writes, so ``sigstore verify identity`` (and any other Sigstore client)
accepts it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from pathlib import Path

from sigstore.errors import Error as SigstoreError
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.sign import SigningContext
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

from sigclient.errors import ClientError, VerificationFailed

BUNDLE_SUFFIX = ".sigstore.json"
#: Called after each signed file with (files done, files in all, what was written).
Progress = Callable[[int, int, str], None]


def bundle_path_for(path: Path) -> Path:
    """The default bundle location: ``<file>.sigstore.json`` beside the file."""
    return path.with_name(path.name + BUNDLE_SUFFIX)


def sign_files(
    paths: Sequence[Path],
    *,
    trust: ClientTrustConfig,
    identity_token: str,
    bundle_paths: Sequence[Path] | None = None,
    progress: Progress | None = None,
) -> list[Path]:
    """Sign every file in ``paths`` with one short-lived certificate; return the bundles.

    One ``SigningContext.signer`` context requests a single certificate for
    ``identity_token`` and reuses its ephemeral key for every file, so N files cost one
    certificate and N log entries. ``bundle_paths`` overrides where each bundle goes.
    ``progress`` is called after each signed file.
    """
    outputs = _outputs(paths, bundle_paths)
    digests = [(path, file_digest(path)) for path in paths]  # fail before signing anything
    token = parse_identity_token(identity_token)
    context = signing_context(trust)
    with context.signer(token, cache=True) as signer:
        for number, ((path, digest), out) in enumerate(zip(digests, outputs, strict=True), 1):
            try:
                bundle = signer.sign_artifact(digest)
            except Exception as exc:  # network, HTTP and sigstore errors all end here
                raise signing_error(path, exc) from exc
            write_bundle(out, bundle)
            if progress:
                progress(number, len(paths), f"signed {path} -> {out}")
    return outputs


def verify_files(
    paths: Sequence[Path],
    *,
    trust: ClientTrustConfig,
    identity: str,
    issuer: str,
    bundle_paths: Sequence[Path] | None = None,
) -> None:
    """Verify each file against its bundle, signed by ``identity`` from ``issuer``.

    Verification is offline: it needs only the trusted root. Every file is checked;
    ``VerificationFailed`` then names each file that failed and why.
    """
    verifier = Verifier(trusted_root=trust.trusted_root)
    expected = policy.Identity(identity=identity, issuer=issuer)
    failures: list[str] = []
    for path, bundle_file in zip(paths, _outputs(paths, bundle_paths), strict=True):
        bundle = read_bundle(bundle_file, artifact=path)
        try:
            verifier.verify_artifact(file_digest(path), bundle, expected)
        except VerificationError as exc:
            failures.append(f"{path}: {exc}")
    if failures:
        raise VerificationFailed(
            f"{len(failures)} of {len(paths)} file(s) failed verification: " + "; ".join(failures),
            "Do not use these files: they were changed after signing, or were signed by "
            "someone other than the expected identity and issuer",
        )


def file_digest(path: Path) -> Hashed:
    """SHA-256 of a file, streamed, in the form sigstore-python signs and verifies."""
    try:
        with path.open("rb") as f:
            digest = hashlib.file_digest(f, "sha256").digest()
    except OSError as exc:
        raise ClientError(f"cannot read {path}: {exc.strerror}", "Check the file path") from exc
    return Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)


def parse_identity_token(raw: str) -> IdentityToken:
    """Wrap a raw OIDC token; sigstore-python checks only its shape and expiry here."""
    try:
        return IdentityToken(raw.strip())
    except SigstoreError as exc:
        raise ClientError(
            f"the identity token is not usable: {exc}",
            "Get a fresh token from the instance's identity provider",
        ) from exc


def signing_context(trust: ClientTrustConfig) -> SigningContext:
    """A signing context for the CA, log and timestamp services named in ``trust``."""
    try:
        return SigningContext.from_trust_config(trust)
    except SigstoreError as exc:
        raise ClientError(
            f"the trust configuration cannot be used for signing: {exc}",
            "Check that its signingConfig names a CA and a transparency log",
        ) from exc


def signing_error(what: Path | str, exc: Exception) -> ClientError:
    """The error for a failed signing step (over a file, or a named step), with
    sigstore's own explanation."""
    reason = exc.diagnostics() if isinstance(exc, SigstoreError) else str(exc)
    reason = " ".join(reason.split())[:300] or type(exc).__name__
    step = f"signing {what}" if isinstance(what, Path) else what
    return ClientError(
        f"{step} failed: {reason}",
        "Check that the identity token is fresh and the instance is reachable "
        "(run with --verbose for details)",
    )


def write_bundle(path: Path, bundle: Bundle) -> None:
    """Write a bundle as JSON, failing with a ClientError naming the path."""
    try:
        path.write_text(bundle.to_json(), encoding="utf-8")
    except OSError as exc:
        raise ClientError(
            f"cannot write the bundle {path}: {exc.strerror}", "Check the directory is writable"
        ) from exc


def read_bundle(path: Path, *, artifact: Path) -> Bundle:
    """Read and parse the bundle for ``artifact``; a malformed bundle fails verification."""
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError as exc:
        raise ClientError(
            f"no bundle for {artifact} (looked for {path})",
            "Sign the file first, or pass its bundle with --bundle",
        ) from exc
    except OSError as exc:
        raise ClientError(f"cannot read the bundle {path}: {exc.strerror}", "") from exc
    try:
        return Bundle.from_json(raw)
    except Exception as exc:  # pydantic, base64 and sigstore errors
        raise VerificationFailed(
            f"{artifact}: the bundle {path} is not a valid Sigstore bundle",
            "Re-sign the file, or pass the right bundle with --bundle",
        ) from exc


def _outputs(paths: Sequence[Path], bundle_paths: Sequence[Path] | None) -> list[Path]:
    if bundle_paths is None:
        return [bundle_path_for(p) for p in paths]
    if len(bundle_paths) != len(paths):
        raise ClientError(
            f"{len(paths)} file(s) but {len(bundle_paths)} bundle path(s)",
            "Pass one --bundle per file, or none to use <file>.sigstore.json",
        )
    return list(bundle_paths)
