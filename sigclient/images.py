"""Sign container images by digest, and verify them: cosign's role.

One signature is a Sigstore message signature over a cosign *simple-signing* payload,
which names the signed manifest digest. It is stored twice in the image's repository:

- as cosign stores it: a layer of the image manifest tagged ``sha256-<hex>.sig``, with
  the signature, certificate, chain and a "rekor bundle" (the log's signed entry
  timestamp and entry) as annotations; cosign and its ecosystem read this form;
- as an OCI 1.1 referrer: a manifest whose ``subject`` is the signed manifest, whose
  ``artifactType`` and one layer are a Sigstore v0.3 bundle, and whose config blob is
  the signed payload itself (a message signature carries only the payload's digest,
  so the payload travels with it). Registries without the referrers API get the
  fallback index tag ``sha256-<hex>`` updated instead.

Verification trusts neither the tags nor the indexes that lead to a signature: a
candidate counts only if its bundle verifies against the trusted root and identity
policy *and* its payload names the digest the reference resolved to. That last check
is what catches a tag moved to another image.
"""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import partial
from typing import Any

from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding
from sigstore.errors import Error as SigstoreError
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.verify import Verifier, policy

from sigclient import oci, rekor
from sigclient.blobs import parse_identity_token, signing_context
from sigclient.errors import ClientError, VerificationFailed

SIMPLE_SIGNING = "application/vnd.dev.cosign.simplesigning.v1+json"
SIGNATURE_TYPE = "cosign container image signature"
BUNDLE_TYPE = "application/vnd.dev.sigstore.bundle.v0.3+json"
ANN_SIGNATURE = "dev.cosignproject.cosign/signature"
ANN_CERTIFICATE = "dev.sigstore.cosign/certificate"
ANN_CHAIN = "dev.sigstore.cosign/chain"
ANN_BUNDLE = "dev.sigstore.cosign/bundle"
ANN_CONTENT = "dev.sigstore.bundle.content"
ANN_CREATED = "org.opencontainers.image.created"
REFERRER = "OCI referrer"
COSIGN = "cosign signature"

MAX_PAYLOAD_BYTES = 64 * 1024
MAX_BUNDLE_BYTES = 1024 * 1024
MAX_LOG_ENTRY_BYTES = 1024 * 1024
# Checking a candidate costs a few requests; a hostile registry could list thousands.
MAX_CANDIDATES = 32

LogEntryFetcher = Callable[[str, int], Mapping[str, Any]]


@dataclass(frozen=True)
class SignedImage:
    """Where ``sign_image`` put one signature."""

    image: oci.Reference  # the signed manifest, by digest
    log_index: int
    cosign_tag: str  # e.g. ``sha256-<hex>.sig``
    referrer: str  # the referrer manifest's digest
    fallback_tag: str | None  # the referrers index tag, if the registry needed one


@dataclass(frozen=True)
class Candidate:
    """One signature found for an image, and why it failed (``error``) if it did."""

    form: str  # REFERRER or COSIGN
    where: str
    error: str | None = None


@dataclass(frozen=True)
class ImageVerification:
    """The outcome of ``verify_image``: the resolved digest and every candidate checked."""

    image: oci.Reference  # the verified manifest, by digest
    candidates: list[Candidate]

    @property
    def verified(self) -> list[Candidate]:
        """The candidates that verified."""
        return [c for c in self.candidates if c.error is None]

    @property
    def rejected(self) -> list[Candidate]:
        """The candidates that did not."""
        return [c for c in self.candidates if c.error is not None]


def sign_image(reference: str, *, trust: ClientTrustConfig, identity_token: str) -> SignedImage:
    """Sign the manifest ``reference`` resolves to (by digest, never by tag).

    Logs one hashedrekord entry for the simple-signing payload, then stores the
    signature as an OCI referrer and in cosign's ``.sig`` tag (appending to the
    signatures already there).
    """
    ref = oci.parse_reference(reference)
    token = parse_identity_token(identity_token)
    registry = oci.Registry.for_reference(ref)
    subject = resolve(registry, ref).descriptor
    payload = simple_signing_payload(ref.name, subject.digest)
    with signing_context(trust).signer(token) as signer:
        try:
            bundle = signer.sign_artifact(payload)
        except Exception as exc:  # network, HTTP and sigstore errors all end here
            raise _signing_failed(ref, exc) from exc
    # The signature is in the log now. A crash before the pushes below leaves a log
    # entry and nothing in the registry; signing again is harmless.
    rekor_bundle = cosign_rekor_bundle(bundle)
    referrer, fallback = _push_referrer(registry, ref.repository, subject, payload, bundle)
    # A crash here leaves only the referrer form, which verify-image accepts on its own.
    annotations = _cosign_annotations(bundle, rekor_bundle, trust)
    cosign_tag = _push_cosign_layer(registry, ref.repository, subject.digest, payload, annotations)
    return SignedImage(
        image=ref.at(subject.digest),
        log_index=int(rekor_bundle["Payload"]["logIndex"]),
        cosign_tag=cosign_tag,
        referrer=referrer.digest,
        fallback_tag=oci.fallback_tag(subject.digest) if fallback else None,
    )


def verify_image(
    reference: str,
    *,
    trust: ClientTrustConfig,
    identity: str,
    issuer: str,
    log_entry: LogEntryFetcher | None = None,
) -> ImageVerification:
    """Verify that ``identity`` from ``issuer`` signed the manifest ``reference`` resolves to.

    Every signature found (OCI referrers, then cosign's ``.sig`` tag) is checked; the
    image verifies if at least one does. Cosign-form signatures carry only the log's
    signed promise, so their inclusion proof is fetched from the log the trusted root
    names (``log_entry`` overrides how). Raises ``VerificationFailed`` naming every
    candidate and why it failed.
    """
    ref = oci.parse_reference(reference)
    registry = oci.Registry.for_reference(ref)
    digest = resolve(registry, ref).descriptor.digest
    check = _checker(trust, identity=identity, issuer=issuer, digest=digest)
    fetch = log_entry or log_entry_fetcher(trust)
    candidates = [
        *_referrer_candidates(registry, ref.repository, digest, check),
        *_cosign_candidates(registry, ref, digest, check, fetch),
    ]
    result = ImageVerification(ref.at(digest), candidates)
    if not candidates:
        raise VerificationFailed(
            f"no signatures found for {ref} ({digest})",
            "Sign it with `sigclient sign-image`; if it was signed, its tag may have moved "
            "to another image",
        )
    if not result.verified:
        reasons = "; ".join(f"{c.where}: {c.error}" for c in candidates)
        raise VerificationFailed(
            f"no valid signature for {ref} ({digest}): {reasons}",
            "Do not run this image: it was not signed by the expected identity and issuer, "
            "or its signatures were made for another image",
        )
    return result


def resolve(registry: oci.Registry, ref: oci.Reference) -> oci.Manifest:
    """The manifest ``ref`` names now (by digest if it has one, else by tag)."""
    target = ref.digest or ref.tag
    assert target is not None  # parse_reference always sets one of them
    manifest = registry.get_manifest(ref.repository, target)
    if manifest is None:
        raise ClientError(
            f"{ref} was not found in the registry {ref.registry}",
            "Check the image reference, and push the image first",
        )
    return manifest


def simple_signing_payload(docker_reference: str, digest: str) -> bytes:
    """The cosign simple-signing payload for ``digest``, serialized as cosign does."""
    document = {
        "critical": {
            "identity": {"docker-reference": docker_reference},
            "image": {"docker-manifest-digest": digest},
            "type": SIGNATURE_TYPE,
        },
        "optional": None,
    }
    return json.dumps(document, separators=(",", ":")).encode("utf-8")


def signed_digest(payload: bytes) -> str:
    """The manifest digest a (verified) simple-signing payload names."""
    try:
        critical = json.loads(payload)["critical"]
        kind, digest = critical["type"], critical["image"]["docker-manifest-digest"]
    except (ValueError, LookupError, TypeError) as exc:
        raise ValueError("the signed payload is not a cosign simple-signing payload") from exc
    if kind != SIGNATURE_TYPE or not isinstance(digest, str):
        raise ValueError(f"the signed payload is not a {SIGNATURE_TYPE!r}")
    return digest


def cosign_rekor_bundle(bundle: Bundle) -> dict[str, Any]:
    """Cosign's "rekor bundle" (``dev.sigstore.cosign/bundle``) for a bundle's log entry."""
    entry = json.loads(bundle.to_json())["verificationMaterial"]["tlogEntries"][0]
    promise = entry.get("inclusionPromise") or {}
    if not promise.get("signedEntryTimestamp") or not entry.get("integratedTime"):
        raise ClientError(
            "the transparency log returned no signed entry timestamp",
            "cosign's signature format needs one: sign against a Rekor v1 log",
        )
    return {
        "SignedEntryTimestamp": promise["signedEntryTimestamp"],
        "Payload": {
            "body": entry["canonicalizedBody"],
            "integratedTime": int(entry["integratedTime"]),
            "logIndex": int(entry["logIndex"]),
            "logID": base64.b64decode(entry["logId"]["keyId"]).hex(),
        },
    }


def bundle_from_cosign(
    unverified_payload: bytes, annotations: Mapping[str, str], *, log_entry: LogEntryFetcher
) -> Bundle:
    """Rebuild a Sigstore bundle from a cosign signature layer's annotations.

    Cosign's rekor bundle holds the log's signed promise but no inclusion proof, which
    sigstore-python requires; the proof comes from ``log_entry(logID, logIndex)``, whose
    body must be the one the annotation holds. Nothing here is verified yet: pass the
    result to a ``Verifier``. Raises ``ValueError`` for malformed annotations.
    """
    missing = [k for k in (ANN_SIGNATURE, ANN_CERTIFICATE, ANN_BUNDLE) if not annotations.get(k)]
    if missing:
        raise ValueError(f"the layer lacks the annotation(s) {', '.join(missing)}")
    try:
        certificate = x509.load_pem_x509_certificate(annotations[ANN_CERTIFICATE].encode())
        base64.b64decode(annotations[ANN_SIGNATURE], validate=True)
        cosign_bundle = json.loads(annotations[ANN_BUNDLE])
        promise, logged = cosign_bundle["SignedEntryTimestamp"], cosign_bundle["Payload"]
        entry = log_entry(str(logged["logID"]), int(logged["logIndex"]))
        if entry.get("body") != logged["body"]:
            raise ValueError(f"the log's entry {logged['logIndex']} is another signature's")
    except (LookupError, TypeError, AttributeError) as exc:
        raise ValueError(f"the cosign annotations are malformed ({exc!r})") from exc
    return rekor.bundle_from_entry(
        entry,
        certificate=certificate,
        signature_b64=annotations[ANN_SIGNATURE],
        digest=hashlib.sha256(unverified_payload).digest(),
        promise=promise,
    )


def log_entry_fetcher(trust: ClientTrustConfig) -> LogEntryFetcher:
    """Fetch Rekor v1 entries by index from the log the trusted root lists for a log ID.

    Only availability depends on the URL: the Verifier checks the entry's inclusion
    proof against a checkpoint signed by the trusted log key.
    """
    # sigstore-python 4.5.1 exposes no accessor for the trusted root's log URLs.
    urls = {
        tlog.log_id.key_id.hex(): tlog.base_url
        for tlog in trust.trusted_root._inner.tlogs
        if tlog.base_url
    }

    def fetch(log_id: str, index: int) -> Mapping[str, Any]:
        base = urls.get(log_id.lower())
        if base is None:
            raise ValueError(f"it was logged in a log the trusted root does not list ({log_id})")
        try:
            return rekor.entry_by_index(base, index)
        except ClientError as exc:
            raise ValueError(f"cannot fetch log entry {index} from {base}: {exc.message}") from exc

    return fetch


def _checker(
    trust: ClientTrustConfig, *, identity: str, issuer: str, digest: str
) -> Callable[[bytes, Bundle], None]:
    verifier = Verifier(trusted_root=trust.trusted_root)
    expected = policy.Identity(identity=identity, issuer=issuer)

    def check(unverified_payload: bytes, bundle: Bundle) -> None:
        # (1) Certificate chain, log inclusion, signature over the payload, identity.
        verifier.verify_artifact(unverified_payload, bundle, expected)
        # (2) Only now is the payload trusted enough to parse; (3) it must sign this image.
        found = signed_digest(unverified_payload)
        if found != digest:
            raise ValueError(f"it signs {found}, not {digest}")

    return check


def _referrer_candidates(
    registry: oci.Registry,
    repository: str,
    digest: str,
    check: Callable[[bytes, Bundle], None],
) -> list[Candidate]:
    listed, _ = registry.referrers(repository, digest)
    bundles = [d for d in listed if d.artifact_type == BUNDLE_TYPE][:MAX_CANDIDATES]
    return [
        _attempt(
            REFERRER,
            f"OCI referrer {d.digest}",
            partial(_verify_referrer, registry, repository, d.digest, digest, check),
        )
        for d in bundles
    ]


def _verify_referrer(
    registry: oci.Registry,
    repository: str,
    referrer: str,
    digest: str,
    check: Callable[[bytes, Bundle], None],
) -> None:
    manifest = registry.get_manifest(repository, referrer)
    if manifest is None:
        raise ValueError("it is listed but missing from the registry")
    subject = oci.Descriptor.from_json(manifest.content.get("subject"))
    if subject.digest != digest:
        raise ValueError(f"its subject is {subject.digest}")
    config = oci.Descriptor.from_json(manifest.content.get("config"))
    layers = [layer for layer in manifest.layers() if layer.media_type == BUNDLE_TYPE]
    if config.media_type != SIMPLE_SIGNING or len(layers) != 1:
        raise ValueError("it is not a simple-signing payload with one Sigstore bundle")
    payload = registry.get_blob(repository, config.digest, max_bytes=MAX_PAYLOAD_BYTES)
    raw = registry.get_blob(repository, layers[0].digest, max_bytes=MAX_BUNDLE_BYTES)
    check(payload, Bundle.from_json(raw))


def _cosign_candidates(
    registry: oci.Registry,
    ref: oci.Reference,
    digest: str,
    check: Callable[[bytes, Bundle], None],
    fetch: LogEntryFetcher,
) -> list[Candidate]:
    tag = oci.fallback_tag(digest) + ".sig"
    manifest = registry.get_manifest(ref.repository, tag)
    if manifest is None:
        return []
    layers = [layer for layer in manifest.layers() if layer.media_type == SIMPLE_SIGNING]
    return [
        _attempt(
            COSIGN,
            f"cosign signature {ref.name}:{tag} layer {number}",
            partial(_verify_cosign_layer, registry, ref, layer, check, fetch),
        )
        for number, layer in enumerate(layers[:MAX_CANDIDATES], 1)
    ]


def _verify_cosign_layer(
    registry: oci.Registry,
    ref: oci.Reference,
    layer: oci.Descriptor,
    check: Callable[[bytes, Bundle], None],
    fetch: LogEntryFetcher,
) -> None:
    payload = registry.get_blob(ref.repository, layer.digest, max_bytes=MAX_PAYLOAD_BYTES)
    check(payload, bundle_from_cosign(payload, layer.annotations, log_entry=fetch))


def _attempt(form: str, where: str, verify: Callable[[], None]) -> Candidate:
    try:
        verify()
    except (SigstoreError, ClientError, ValueError) as exc:
        reason = exc.diagnostics() if isinstance(exc, SigstoreError) else str(exc)
        return Candidate(form, where, " ".join(reason.split())[:300] or type(exc).__name__)
    return Candidate(form, where)


def _push_referrer(
    registry: oci.Registry,
    repository: str,
    subject: oci.Descriptor,
    payload: bytes,
    bundle: Bundle,
) -> tuple[oci.Descriptor, bool]:
    config = registry.put_blob(repository, payload, SIMPLE_SIGNING)
    layer = registry.put_blob(repository, bundle.to_json().encode("utf-8"), BUNDLE_TYPE)
    created = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    annotations = {ANN_CONTENT: "message-signature", ANN_CREATED: created}
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "artifactType": BUNDLE_TYPE,
        "config": config.to_json(),
        "layers": [layer.to_json()],
        "subject": oci.Descriptor(subject.media_type, subject.digest, subject.size).to_json(),
        "annotations": annotations,
    }
    raw = oci.manifest_bytes(manifest)
    digest = oci.digest_of(raw)
    headers = registry.put_manifest(repository, digest, oci.OCI_MANIFEST, raw)
    descriptor = oci.Descriptor(oci.OCI_MANIFEST, digest, len(raw), BUNDLE_TYPE, annotations)
    if headers.get("OCI-Subject") == subject.digest:
        return descriptor, False  # the registry indexes referrers itself
    # A crash before this write leaves an unlisted referrer (found by no one); signing
    # again lists a new one.
    registry.add_fallback_referrer(repository, subject.digest, descriptor)
    return descriptor, True


def _push_cosign_layer(
    registry: oci.Registry,
    repository: str,
    digest: str,
    payload: bytes,
    annotations: dict[str, str],
) -> str:
    # Read, append, push: as with cosign, two signers racing can drop one signature.
    tag = oci.fallback_tag(digest) + ".sig"
    current = registry.get_manifest(repository, tag)
    if current is not None and current.descriptor.media_type not in (
        oci.OCI_MANIFEST,
        oci.DOCKER_MANIFEST,
    ):
        raise ClientError(
            f"the tag {repository}:{tag} is not a cosign signature manifest",
            "Remove or rename that tag, then sign again",
        )
    layers = current.layers() if current else []
    layer = registry.put_blob(repository, payload, SIMPLE_SIGNING)
    layer = oci.Descriptor(layer.media_type, layer.digest, layer.size, annotations=annotations)
    if layer not in layers:
        layers.append(layer)
    config = {
        "architecture": "",
        "os": "",
        "config": {},
        "rootfs": {"type": "layers", "diff_ids": [d.digest for d in layers]},
    }
    config_blob = registry.put_blob(repository, oci.manifest_bytes(config), oci.OCI_CONFIG)
    manifest = {
        "schemaVersion": 2,
        "mediaType": oci.OCI_MANIFEST,
        "config": config_blob.to_json(),
        "layers": [d.to_json() for d in layers],
    }
    registry.put_manifest(repository, tag, oci.OCI_MANIFEST, oci.manifest_bytes(manifest))
    return tag


def _cosign_annotations(
    bundle: Bundle, rekor_bundle: dict[str, Any], trust: ClientTrustConfig
) -> dict[str, str]:
    leaf = bundle.signing_certificate
    chain = _issuer_chain(leaf, trust.trusted_root.get_fulcio_certs())
    return {
        ANN_SIGNATURE: _b64(bundle.signature),
        ANN_CERTIFICATE: leaf.public_bytes(Encoding.PEM).decode("ascii"),
        ANN_CHAIN: "".join(c.public_bytes(Encoding.PEM).decode("ascii") for c in chain),
        ANN_BUNDLE: json.dumps(rekor_bundle, separators=(",", ":")),
    }


def _issuer_chain(leaf: x509.Certificate, cas: list[x509.Certificate]) -> list[x509.Certificate]:
    # Cosign's chain annotation: the CA certificates from the leaf's issuer to the root.
    chain: list[x509.Certificate] = []
    current = leaf
    while current.subject != current.issuer:
        issuer = next((c for c in cas if c.subject == current.issuer and c not in chain), None)
        if issuer is None:
            break
        chain.append(issuer)
        current = issuer
    return chain


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _signing_failed(ref: oci.Reference, exc: Exception) -> ClientError:
    reason = exc.diagnostics() if isinstance(exc, SigstoreError) else str(exc)
    return ClientError(
        f"signing {ref} failed: {' '.join(reason.split())[:300] or type(exc).__name__}",
        "Check that the identity token is fresh and the instance is reachable "
        "(run with --verbose for details)",
    )
