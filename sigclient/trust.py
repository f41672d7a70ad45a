"""Where the client's trust comes from: a trust-config file, or an instance URL pinned on
first use.

An instance publishes its ClientTrustConfig (trusted root + signing config) at
``{url}/api/v1/trust/client_trust_config.json``. The first fetch is trusted and pinned
under ``pin_dir``; later fetches must carry the same trusted root, or the client refuses
until the user confirms the change with ``refresh=True`` (``--refresh-trust``).
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

import rfc8785
from sigstore.models import ClientTrustConfig

from sigclient.errors import ClientError
from sigclient.oci import is_loopback

CONFIG_PATH = "/api/v1/trust/client_trust_config.json"
FETCH_TIMEOUT = 30.0
# A real config is a few kilobytes; a megabyte leaves room for many keys and rotations.
MAX_CONFIG_BYTES = 1024 * 1024


def default_pin_dir() -> Path:
    """``$XDG_CONFIG_HOME/sigclient``, else ``~/.config/sigclient``."""
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "sigclient"


def _stderr(line: str) -> None:
    print(line, file=sys.stderr)


def load_trust(
    instance: str | None,
    trust_config: Path | None,
    *,
    pin_dir: Path,
    refresh: bool = False,
    notify: Callable[[str], None] = _stderr,
) -> ClientTrustConfig:
    """Return the trust configuration to sign and verify with.

    Exactly one of ``instance`` (a sigportal base URL, fetched and pinned on first use)
    and ``trust_config`` (a ClientTrustConfig JSON file, used as is) must be given.
    ``notify`` receives the one-line messages about pinning (stderr by default).
    Raises ``ClientError`` saying what failed and what to do.
    """
    if (instance is None) == (trust_config is None):
        raise ClientError(
            "no trust source given" if instance is None else "two trust sources given",
            "Pass exactly one of --instance URL or --trust-config FILE",
        )
    if trust_config is not None:
        return _read_config_file(trust_config)
    assert instance is not None
    return _load_pinned_instance(instance, pin_dir=pin_dir, refresh=refresh, notify=notify)


def public_trust(*, offline: bool) -> ClientTrustConfig:
    """The public Sigstore instance's trust config, through its TUF repository (offline:
    the metadata cached locally, or shipped with sigstore-python)."""
    try:
        return ClientTrustConfig.production(offline=offline)
    except Exception as exc:  # TUF, network and parsing errors of several types
        raise ClientError(
            f"cannot load the public Sigstore trusted root: {exc}",
            "Check your network connection to tuf-repo-cdn.sigstore.dev, or pass --offline "
            "to use the cached copy",
        ) from exc


def root_fingerprint(config_text: str) -> str:
    """SHA-256 (hex) of the trusted root's canonical JSON (RFC 8785) in a ClientTrustConfig."""
    root = _trusted_root_of(config_text, source="the trust configuration")
    return hashlib.sha256(rfc8785.dumps(root)).hexdigest()


def config_url(instance: str) -> str:
    """The trust-config URL of ``instance``, refusing plain http except on loopback."""
    parsed = urllib.parse.urlsplit(instance.strip())
    if parsed.scheme not in ("https", "http") or not parsed.hostname:
        raise ClientError(
            f"{instance!r} is not an instance URL", "Pass one like https://sigportal.example"
        )
    if parsed.scheme == "http" and not is_loopback(parsed.hostname):
        raise ClientError(
            f"refusing plain http to {parsed.hostname}: the trust configuration would be "
            "open to tampering in transit",
            "Use the instance's https:// URL (plain http is only allowed for loopback hosts)",
        )
    return instance.strip().rstrip("/") + CONFIG_PATH


def pin_path(instance: str, pin_dir: Path) -> Path:
    """Where the pinned configuration of ``instance`` lives: ``<pin_dir>/<host>_<port>.json``."""
    parsed = urllib.parse.urlsplit(instance.strip())
    port = parsed.port or (443 if parsed.scheme == "https" else 80)
    host = (parsed.hostname or "unknown").replace(":", "-")
    return pin_dir / f"{host}_{port}.json"


def _read_config_file(path: Path) -> ClientTrustConfig:
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise ClientError(
            f"cannot read the trust configuration {path}: {exc.strerror}",
            "Check the --trust-config path",
        ) from exc
    return _parse(text, source=str(path))


def _parse(text: str, *, source: str) -> ClientTrustConfig:
    try:
        return ClientTrustConfig.from_json(text)
    except Exception as exc:  # pydantic and sigstore raise several unrelated types
        raise ClientError(
            f"{source} is not a valid Sigstore ClientTrustConfig",
            "Check that it is the instance's client_trust_config.json (run with --verbose "
            "for the parser's reasons)",
        ) from exc


def _trusted_root_of(text: str, *, source: str) -> Any:
    try:
        return json.loads(text)["trustedRoot"]
    except (ValueError, KeyError, TypeError) as exc:
        raise ClientError(
            f"{source} has no trustedRoot",
            "Check that it is a Sigstore ClientTrustConfig",
        ) from exc


def _load_pinned_instance(
    instance: str, *, pin_dir: Path, refresh: bool, notify: Callable[[str], None]
) -> ClientTrustConfig:
    url = config_url(instance)
    fetched = _fetch(url)
    config = _parse(fetched, source=f"the trust configuration from {url}")
    new_fp = root_fingerprint(fetched)
    pin = pin_path(instance, pin_dir)
    old_fp = _pinned_fingerprint(pin)
    if old_fp is None:
        _write_pin(pin, fetched)
        notify(
            f"sigclient: trusting {instance} on first use; trusted root SHA-256 {new_fp} "
            f"(pinned in {pin}). Check this fingerprint with the instance's operator."
        )
    elif old_fp != new_fp and not refresh:
        raise ClientError(
            f"the trusted root published by {instance} changed since it was pinned "
            f"(pinned SHA-256 {old_fp}, now {new_fp})",
            "If the operator announced a key rotation, confirm the new fingerprint with them "
            "and rerun with --refresh-trust; otherwise do not trust this instance",
        )
    else:
        if old_fp != new_fp:
            notify(f"sigclient: re-pinned {instance}; trusted root SHA-256 is now {new_fp}")
        # Same root (or a confirmed refresh): keep the newest signing config.
        _write_pin(pin, fetched)
    return config


def _fetch(url: str) -> str:
    # config_url() built ``url`` and allowed only https, or http to loopback.
    body = fetch(url, max_bytes=MAX_CONFIG_BYTES, what="the trust configuration")
    try:
        return body.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise ClientError(
            f"the trust configuration at {url} is not UTF-8 text",
            "Check that the --instance URL points at a sigportal instance",
        ) from exc


def fetch(url: str, *, max_bytes: int, what: str, json_body: Any = None) -> bytes:
    """GET (or POST ``json_body`` to) an instance URL, bounded in size and time.

    The caller builds ``url`` from an instance URL checked by ``config_url`` rules
    (https, or http to loopback only)."""
    data = None if json_body is None else json.dumps(json_body).encode()
    headers = {"Accept": "application/json"}
    if data is not None:
        headers["Content-Type"] = "application/json"
    request = urllib.request.Request(url, data=data, headers=headers)  # noqa: S310
    try:
        with urllib.request.urlopen(request, timeout=FETCH_TIMEOUT) as response:  # noqa: S310
            body: bytes = response.read(max_bytes + 1)
    except urllib.error.HTTPError as exc:
        exc.close()
        raise ClientError(
            f"fetching {what} from {url} failed with HTTP {exc.code}",
            "Check the --instance URL (it is the site's base URL, without /api/...)",
        ) from exc
    except (urllib.error.URLError, OSError) as exc:
        raise ClientError(
            f"cannot reach {url}", "Check the --instance URL and your network connection"
        ) from exc
    if len(body) > max_bytes:
        raise ClientError(
            f"{what} at {url} is larger than {max_bytes} bytes",
            "Check that the --instance URL points at a sigportal instance",
        )
    return body


def _pinned_fingerprint(pin: Path) -> str | None:
    try:
        text = pin.read_text(encoding="utf-8")
    except FileNotFoundError:
        return None
    except OSError as exc:
        raise ClientError(
            f"cannot read the pinned trust configuration {pin}: {exc.strerror}",
            "Fix its permissions, or delete it to trust the instance afresh",
        ) from exc
    try:
        return root_fingerprint(text)
    except ClientError as exc:
        raise ClientError(
            f"the pinned trust configuration {pin} is damaged",
            "Delete it and rerun to trust the instance afresh (check the fingerprint printed)",
        ) from exc


def _write_pin(pin: Path, text: str) -> None:
    pin.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    tmp = pin.with_suffix(".tmp")
    tmp.write_text(text, encoding="utf-8")
    # A crash before the rename leaves only the .tmp file: the old pin still holds.
    os.replace(tmp, pin)
