"""A small OCI distribution client: just what signing container images needs.

It resolves a reference to its manifest digest, fetches and pushes manifests and small
blobs (monolithic upload: POST then PUT), and lists referrers through the OCI 1.1
referrers API or, where a registry lacks it (Docker's registry 2.8 does), through the
fallback tag ``sha256-<hex>`` holding an image index.

Transport: https, or plain http to loopback registries only (like Docker's
``--insecure-registry`` for 127.0.0.1 and localhost). Authentication: anonymous, or the
credentials the Docker config (``~/.docker/config.json``, ``$DOCKER_CONFIG``) holds for the
registry, found as the docker CLI finds them: its ``credHelpers`` entry, else its
``credsStore``, else its ``auths`` entry; used for HTTP Basic or to get a Bearer token, and
looked up only when the registry asks for them.

Everything read from a registry is bounded in size and, when fetched by digest, checked
against that digest before it is returned.
"""

from __future__ import annotations

import base64
import hashlib
import ipaddress
import json
import os
import re
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests

from sigclient.errors import ClientError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_MANIFEST_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"
MANIFEST_TYPES = (OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, DOCKER_MANIFEST_LIST)
OCI_CONFIG = "application/vnd.oci.image.config.v1+json"

TIMEOUT = 30.0
# Registries themselves refuse manifests over 4 MiB.
MAX_MANIFEST_BYTES = 4 * 1024 * 1024
# The blobs this client reads are signatures, payloads and bundles: kilobytes.
MAX_BLOB_BYTES = 4 * 1024 * 1024
_CHUNK = 64 * 1024

DOCKER_HUB = "docker.io"
_DOCKER_HUB_API = "registry-1.docker.io"
_DOCKER_HUB_AUTH_KEYS = ("https://index.docker.io/v1/", "index.docker.io", "docker.io")

_COMPONENT = re.compile(r"[a-z0-9]+(?:(?:[._]|__|-+)[a-z0-9]+)*")
_TAG = re.compile(r"[A-Za-z0-9_][A-Za-z0-9_.-]{0,127}")
_DIGEST = re.compile(r"sha256:[a-f0-9]{64}")
_CHALLENGE_PARAM = re.compile(r'(\w+)="([^"]*)"')


@dataclass(frozen=True)
class Reference:
    """An image reference: ``registry/repository`` with a tag, a digest, or both."""

    registry: str
    repository: str
    tag: str | None = None
    digest: str | None = None

    @property
    def name(self) -> str:
        """``registry/repository``: what cosign signs as the ``docker-reference``."""
        return f"{self.registry}/{self.repository}"

    def at(self, digest: str) -> Reference:
        """The same repository, pinned to ``digest`` (the tag dropped)."""
        return Reference(self.registry, self.repository, digest=digest)

    def __str__(self) -> str:
        text = self.name
        if self.tag:
            text += f":{self.tag}"
        if self.digest:
            text += f"@{self.digest}"
        return text


def parse_reference(text: str) -> Reference:
    """Parse ``[registry/]repository[:tag][@sha256:<hex>]``; the tag defaults to ``latest``.

    As in Docker, the first path component is the registry when it contains ``.`` or
    ``:`` or is ``localhost``; otherwise the registry is Docker Hub and a one-component
    repository gets the ``library/`` prefix.
    """
    bad = ClientError(
        f"{text!r} is not an image reference",
        "Use REGISTRY/REPOSITORY[:TAG][@sha256:DIGEST], e.g. 127.0.0.1:5000/app:v1",
    )
    rest, _, digest = text.strip().partition("@")
    if digest and not _DIGEST.fullmatch(digest):
        raise ClientError(
            f"{digest!r} in {text!r} is not a sha256 digest", "Use @sha256:<64 hex digits>"
        )
    registry, repository = DOCKER_HUB, rest
    first, slash, remainder = rest.partition("/")
    if slash and ("." in first or ":" in first or first == "localhost"):
        registry, repository = first, remainder
    tag = None
    path, colon, maybe_tag = repository.rpartition(":")
    if colon and "/" not in maybe_tag:
        repository, tag = path, maybe_tag
        if not _TAG.fullmatch(tag):
            raise bad
    if registry == DOCKER_HUB and "/" not in repository:
        repository = f"library/{repository}"
    if not repository or not all(_COMPONENT.fullmatch(c) for c in repository.split("/")):
        raise bad
    if tag is None and not digest:
        tag = "latest"
    return Reference(registry, repository, tag, digest or None)


def digest_of(data: bytes) -> str:
    """The OCI digest (``sha256:<hex>``) of ``data``."""
    return "sha256:" + hashlib.sha256(data).hexdigest()


def fallback_tag(digest: str) -> str:
    """The referrers fallback tag for ``digest``: ``sha256-<hex>``."""
    algorithm, _, hexdigest = digest.partition(":")
    return f"{algorithm}-{hexdigest}"


def is_loopback(host: str) -> bool:
    """Whether ``host`` (no port, no brackets) is a loopback name or address."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


@dataclass(frozen=True)
class Descriptor:
    """An OCI content descriptor."""

    media_type: str
    digest: str
    size: int
    artifact_type: str | None = None
    annotations: Mapping[str, str] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        """The descriptor as it appears in a manifest or index."""
        doc: dict[str, Any] = {"mediaType": self.media_type, "digest": self.digest}
        doc["size"] = self.size
        if self.artifact_type:
            doc["artifactType"] = self.artifact_type
        if self.annotations:
            doc["annotations"] = dict(self.annotations)
        return doc

    @classmethod
    def from_json(cls, unverified: object) -> Descriptor:
        """Parse a descriptor from registry JSON, refusing malformed ones."""
        if not isinstance(unverified, dict):
            raise ValueError("a descriptor is not a JSON object")
        media_type, digest = unverified.get("mediaType"), unverified.get("digest")
        size, annotations = unverified.get("size"), unverified.get("annotations") or {}
        artifact_type = unverified.get("artifactType")
        if not isinstance(media_type, str) or not isinstance(digest, str):
            raise ValueError("a descriptor lacks its mediaType or digest")
        if not _DIGEST.fullmatch(digest):
            raise ValueError(f"unsupported digest {digest[:80]!r}")
        if not isinstance(size, int) or isinstance(size, bool) or size < 0:
            raise ValueError("a descriptor's size is not a non-negative integer")
        if not isinstance(annotations, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in annotations.items()
        ):
            raise ValueError("a descriptor's annotations are not strings")
        if artifact_type is not None and not isinstance(artifact_type, str):
            raise ValueError("a descriptor's artifactType is not a string")
        return cls(media_type, digest, size, artifact_type, annotations)


@dataclass(frozen=True)
class Manifest:
    """A manifest or index as fetched: its exact bytes, descriptor and parsed JSON."""

    descriptor: Descriptor
    raw: bytes
    content: dict[str, Any]

    def layers(self) -> list[Descriptor]:
        """The manifest's layers (an image index has none)."""
        return [Descriptor.from_json(d) for d in self.content.get("layers") or []]

    def manifests(self) -> list[Descriptor]:
        """The manifests an index lists (an image manifest has none)."""
        return [Descriptor.from_json(d) for d in self.content.get("manifests") or []]


def manifest_bytes(content: Mapping[str, Any]) -> bytes:
    """Serialize a manifest compactly; its digest is the digest of exactly these bytes."""
    return json.dumps(content, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


class Registry:
    """One registry host, spoken to over the OCI distribution API."""

    def __init__(
        self,
        host: str,
        *,
        credentials: tuple[str, str] | None = None,
        session: requests.Session | None = None,
        timeout: float = TIMEOUT,
    ) -> None:
        """``host`` is ``name[:port]`` as in a reference; ``credentials`` a user and secret."""
        self.host = host
        self.base_url = registry_base_url(host)
        self._credentials = credentials
        self._session = session or requests.Session()
        self._timeout = timeout
        self._authorization: str | None = None
        self._lookup_credentials = False

    @classmethod
    def for_reference(cls, ref: Reference) -> Registry:
        """A client for ``ref``'s registry, with its credentials from the Docker config
        (read when the registry first asks for them)."""
        registry = cls(ref.registry)
        registry._lookup_credentials = True
        return registry

    def get_manifest(self, repository: str, reference: str) -> Manifest | None:
        """The manifest at a tag or digest, or None if there is none.

        By digest, the bytes must hash to it. By tag, the digest is computed from the
        bytes received (never taken from the registry's ``Docker-Content-Digest``).
        """
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        response = self._request("GET", url, headers={"Accept": ", ".join(MANIFEST_TYPES)})
        if response.status_code == 404:
            response.close()
            return None
        self._check(response, f"fetching the manifest {repository}:{reference}")
        raw = _read_bounded(response, MAX_MANIFEST_BYTES, f"the manifest {reference}")
        digest = digest_of(raw)
        if _DIGEST.fullmatch(reference) and digest != reference:
            raise ClientError(
                f"{self.host} returned a manifest for {repository}@{reference} whose digest "
                f"is {digest}",
                "Do not trust this registry's content",
            )
        try:
            content = json.loads(raw)
        except ValueError as exc:
            raise ClientError(f"the manifest {repository}:{reference} is not JSON", "") from exc
        if not isinstance(content, dict):
            raise ClientError(f"the manifest {repository}:{reference} is not a JSON object", "")
        media_type = content.get("mediaType") or _content_type(response)
        if media_type not in MANIFEST_TYPES:
            raise ClientError(
                f"{repository}:{reference} is a {media_type!r}, not an OCI or Docker v2 "
                "manifest or index",
                "Sign an image pushed in OCI or Docker v2 format",
            )
        return Manifest(Descriptor(media_type, digest, len(raw)), raw, content)

    def put_manifest(
        self, repository: str, reference: str, media_type: str, raw: bytes
    ) -> requests.structures.CaseInsensitiveDict[str]:
        """Push a manifest under a tag or its digest; return the response headers."""
        url = f"{self.base_url}/v2/{repository}/manifests/{reference}"
        response = self._request("PUT", url, data=raw, headers={"Content-Type": media_type})
        self._check(response, f"pushing the manifest {repository}:{reference}")
        response.close()
        return response.headers

    def get_blob(self, repository: str, digest: str, *, max_bytes: int = MAX_BLOB_BYTES) -> bytes:
        """A blob's bytes, at most ``max_bytes``, checked against ``digest``."""
        url = f"{self.base_url}/v2/{repository}/blobs/{digest}"
        response = self._request("GET", url)
        self._check(response, f"fetching the blob {repository}@{digest}")
        data = _read_bounded(response, max_bytes, f"the blob {digest}")
        if digest_of(data) != digest:
            raise ClientError(
                f"{self.host} returned a blob for {repository}@{digest} with another digest",
                "Do not trust this registry's content",
            )
        return data

    def put_blob(self, repository: str, data: bytes, media_type: str) -> Descriptor:
        """Upload ``data`` unless the repository has it already (monolithic POST + PUT)."""
        digest = digest_of(data)
        blob_url = f"{self.base_url}/v2/{repository}/blobs/{digest}"
        head = self._request("HEAD", blob_url)
        head.close()
        if head.status_code == 200:
            return Descriptor(media_type, digest, len(data))
        start = self._request("POST", f"{self.base_url}/v2/{repository}/blobs/uploads/")
        self._check(start, f"starting an upload to {repository}")
        start.close()
        location = start.headers.get("Location")
        if not location:
            raise ClientError(f"{self.host} started an upload without a Location", "")
        upload = urljoin(start.url, location)
        done = self._request(
            "PUT",
            upload,
            params={"digest": digest},
            data=data,
            headers={"Content-Type": "application/octet-stream"},
        )
        self._check(done, f"uploading a blob to {repository}")
        done.close()
        return Descriptor(media_type, digest, len(data))

    def referrers(self, repository: str, digest: str) -> tuple[list[Descriptor], bool]:
        """The descriptors of manifests that name ``digest`` as their subject.

        Returns them and whether the registry's referrers API answered (False: they came
        from the fallback tag ``sha256-<hex>``, which anyone with push access can edit).
        """
        url = f"{self.base_url}/v2/{repository}/referrers/{digest}"
        response = self._request("GET", url, headers={"Accept": OCI_INDEX})
        if response.status_code == 200 and _content_type(response) == OCI_INDEX:
            raw = _read_bounded(response, MAX_MANIFEST_BYTES, "the referrers list")
            return _index_descriptors(raw, f"the referrers of {digest}"), True
        response.close()
        if response.status_code not in (404, 200):
            self._check(response, f"listing the referrers of {repository}@{digest}")
        index = self.get_manifest(repository, fallback_tag(digest))
        if index is None or index.descriptor.media_type != OCI_INDEX:
            return [], False
        return index.manifests(), False

    def add_fallback_referrer(self, repository: str, subject: str, referrer: Descriptor) -> None:
        """Add ``referrer`` to the fallback index tag of ``subject`` (read, append, push).

        Two writers racing here can lose one entry: the distribution API offers no
        compare-and-swap on tags. Re-running the signature restores a lost entry.
        """
        tag = fallback_tag(subject)
        current = self.get_manifest(repository, tag)
        if current is not None and current.descriptor.media_type != OCI_INDEX:
            raise ClientError(
                f"the tag {repository}:{tag} holds a {current.descriptor.media_type}, not the "
                "referrers index this client maintains there",
                "Remove or rename that tag, then sign again",
            )
        entries = (current.content.get("manifests") or []) if current else []
        if any(isinstance(e, dict) and e.get("digest") == referrer.digest for e in entries):
            return
        index = {"schemaVersion": 2, "mediaType": OCI_INDEX}
        index["manifests"] = [*entries, referrer.to_json()]
        self.put_manifest(repository, tag, OCI_INDEX, manifest_bytes(index))

    def _request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        headers = dict(kwargs.pop("headers", None) or {})
        for attempt in range(2):
            if self._authorization:
                headers["Authorization"] = self._authorization
            try:
                response = self._session.request(
                    method, url, headers=headers, timeout=self._timeout, stream=True, **kwargs
                )
            except requests.RequestException as exc:
                raise ClientError(
                    f"cannot reach the registry {self.host}: {type(exc).__name__}",
                    "Check the image reference and that the registry is running",
                ) from exc
            if response.status_code != 401 or attempt:
                return response
            challenge = response.headers.get("WWW-Authenticate", "")
            response.close()
            self._authorization = self._authorize(challenge)
        raise AssertionError("unreachable")

    def _authorize(self, challenge: str) -> str:
        if self._lookup_credentials:
            self._lookup_credentials = False
            self._credentials = docker_credentials(self.host)
        scheme, _, params_text = challenge.partition(" ")
        params = dict(_CHALLENGE_PARAM.findall(params_text))
        if scheme.lower() == "basic" and self._credentials:
            user, secret = self._credentials
            return "Basic " + base64.b64encode(f"{user}:{secret}".encode()).decode()
        if scheme.lower() == "bearer" and params.get("realm"):
            return "Bearer " + self._bearer_token(params)
        raise ClientError(
            f"the registry {self.host} requires authentication",
            f"Log in with `docker login {self.host}` (sigclient reads the credentials "
            "~/.docker/config.json holds, through its credential helpers too)",
        )

    def _bearer_token(self, params: dict[str, str]) -> str:
        realm = params["realm"]
        host = urlsplit(realm).hostname or ""
        if not realm.startswith("https://") and not (
            realm.startswith("http://") and is_loopback(host)
        ):
            raise ClientError(
                f"the registry {self.host} sends credentials to a non-https token service "
                f"({realm})",
                "Use a registry whose token service is https",
            )
        query = {k: v for k, v in params.items() if k in ("service", "scope")}
        try:
            response = self._session.get(
                realm, params=query, auth=self._credentials, timeout=self._timeout
            )
            token = response.json() if response.status_code == 200 else {}
        except (requests.RequestException, ValueError) as exc:
            raise ClientError(f"cannot get a token from {realm}", "Check the network") from exc
        value = token.get("token") or token.get("access_token") if isinstance(token, dict) else None
        if not isinstance(value, str) or not value:
            raise ClientError(
                f"the token service {realm} refused access (HTTP {response.status_code})",
                f"Check your `docker login {self.host}` credentials and access to the repository",
            )
        return value

    def _check(self, response: requests.Response, doing: str) -> None:
        if response.status_code < 300:
            return
        detail = _error_detail(response)
        response.close()
        hint = "Check the image reference and your access to the repository"
        if response.status_code in (401, 403):
            hint = f"Check your `docker login {self.host}` credentials and repository access"
        raise ClientError(f"{doing} failed with HTTP {response.status_code}{detail}", hint)


def registry_base_url(host: str) -> str:
    """``https://host``, or ``http://host`` for a loopback registry."""
    if host == DOCKER_HUB:
        return f"https://{_DOCKER_HUB_API}"
    hostname = urlsplit(f"//{host}").hostname or ""
    return f"{'http' if is_loopback(hostname) else 'https'}://{host}"


def docker_credentials(registry: str, config_path: Path | None = None) -> tuple[str, str] | None:
    """The user and secret for ``registry`` from the Docker config, if any: its
    ``credHelpers`` entry for the registry, else its ``credsStore``, else its ``auths``
    entry, as the docker CLI looks them up."""
    path = (
        config_path
        or Path(os.environ.get("DOCKER_CONFIG") or Path.home() / ".docker") / "config.json"
    )
    try:
        config = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return None
    except (OSError, ValueError) as exc:
        raise ClientError(f"cannot read the Docker config {path}", "Fix or remove it") from exc
    if not isinstance(config, dict):
        return None
    keys = _DOCKER_HUB_AUTH_KEYS if registry == DOCKER_HUB else (registry, f"https://{registry}")
    helpers = config.get("credHelpers")
    helper = next(
        (helpers[k] for k in keys if isinstance(helpers, dict) and isinstance(helpers.get(k), str)),
        config.get("credsStore"),
    )
    if isinstance(helper, str) and helper:
        return credential_helper_get(helper, keys[0])
    auths = config.get("auths")
    if not isinstance(auths, dict):
        return None
    for key in keys:
        entry = auths.get(key)
        if isinstance(entry, dict) and isinstance(entry.get("auth"), str):
            try:
                user, sep, secret = base64.b64decode(entry["auth"]).decode().partition(":")
            except ValueError as exc:
                raise ClientError(
                    f"the auths entry for {key} in {path} is not base64 user:password",
                    f"Run `docker login {registry}` again",
                ) from exc
            if sep:
                return user, secret
    return None


_HELPER_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,63}")
_HELPER_TIMEOUT = 30.0
_HELPER_OUTPUT_LIMIT = 64 * 1024


def credential_helper_get(helper: str, server_url: str) -> tuple[str, str] | None:
    """Ask ``docker-credential-<helper> get`` for ``server_url``'s credentials (the docker
    credential helper protocol: the server URL on stdin, a JSON object with ``Username``
    and ``Secret`` on stdout); None if it has none."""
    program = f"docker-credential-{helper}"
    if not _HELPER_NAME.fullmatch(helper):
        raise ClientError(f"the Docker config names an invalid credential helper {helper!r}", "")
    try:
        done = subprocess.run(  # noqa: S603 - a program the user's Docker config names
            [program, "get"],
            input=server_url.encode(),
            capture_output=True,
            timeout=_HELPER_TIMEOUT,
            check=False,
        )
    except FileNotFoundError:
        raise ClientError(
            f"the Docker config uses the credential helper {program}, which is not installed",
            f"Install {program} or remove it from the Docker config",
        ) from None
    except subprocess.TimeoutExpired:
        raise ClientError(f"{program} did not answer in {_HELPER_TIMEOUT:.0f} s", "") from None
    output = done.stdout[:_HELPER_OUTPUT_LIMIT]
    if done.returncode != 0:
        if b"credentials not found" in output.lower() + done.stderr[:4096].lower():
            return None
        raise ClientError(
            f"{program} failed (exit {done.returncode})",
            f"Run `{program} get` by hand to see why",
        )
    try:
        answer = json.loads(output)
        user, secret = answer["Username"], answer["Secret"]
    except (ValueError, KeyError, TypeError):
        raise ClientError(f"{program} answered something that is not credentials", "") from None
    if not isinstance(user, str) or not isinstance(secret, str) or not secret:
        return None
    if user == "<token>":  # an OAuth2 identity (refresh) token, for registries that use one
        raise ClientError(
            f"{program} holds an identity token for {server_url}, which sigclient cannot use",
            f"Log in to {server_url} with a user name and a password or access token",
        )
    return user, secret


def _read_bounded(response: requests.Response, limit: int, what: str) -> bytes:
    with response:
        declared = response.headers.get("Content-Length", "")
        if declared.isdigit() and int(declared) > limit:
            raise ClientError(f"{what} is larger than {limit} bytes", "")
        data = bytearray()
        for chunk in response.iter_content(_CHUNK):
            data += chunk
            if len(data) > limit:
                raise ClientError(f"{what} is larger than {limit} bytes", "")
    return bytes(data)


def _index_descriptors(raw: bytes, what: str) -> list[Descriptor]:
    try:
        index = json.loads(raw)
        return [Descriptor.from_json(d) for d in index.get("manifests") or []]
    except (ValueError, AttributeError) as exc:
        raise ClientError(f"{what} is not a valid image index", "") from exc


def _content_type(response: requests.Response) -> str:
    return response.headers.get("Content-Type", "").split(";")[0].strip()


def _error_detail(response: requests.Response) -> str:
    try:
        errors = json.loads(response.raw.read(16 * 1024)).get("errors") or []
        message = errors[0].get("message") or errors[0].get("code")
    except (ValueError, AttributeError, IndexError, TypeError, OSError):
        return ""
    return f" ({str(message)[:200]})" if message else ""
