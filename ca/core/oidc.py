"""OIDC identity tokens: pick the issuer, verify the JWT, map claims to an identity.

The only network access is through an injected `fetch_json` callable (the service
passes `fetch_json_https`), so everything else is testable offline.

Order of checks for one token (`verify_token`):
1. Shape before parsing: at most 16 KiB and exactly two dots.
2. The header's `alg` is on the issuer's allow-list. `none` and every HS* are
   refused outright: HS256 "signed" with the public key as the HMAC secret is the
   classic key-confusion attack.
3. The unverified `iss` must be the configured issuer (callers use
   `peek_unverified_issuer` to choose the configuration in the first place).
4. The key comes from the issuer's JWKS by `kid`, and its type must fit `alg`.
5. PyJWT checks the signature, `iss`, `aud` and the presence of exp/iat/iss/sub/aud.
6. We check exp, nbf and iat against the caller's `now`, with the issuer's leeway.

Claims become an `Identity` in `identity_from_token`, following Fulcio's principal
for each issuer kind (`pkg/identity/*/principal.go`, `config/identity/config.yaml`).
"""

from __future__ import annotations

import base64
import binascii
import ipaddress
import json
import re
import threading
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Final, Literal
from urllib.parse import urlsplit

import jwt
import requests
from cryptography.hazmat.primitives.asymmetric import ec, ed448, ed25519, rsa

from ca.core import oids
from ca.core.x509 import Identity

MAX_TOKEN_BYTES: Final = 16 * 1024
DEFAULT_ALGORITHMS: Final = ("RS256", "ES256", "ES384", "RS384", "RS512", "PS256", "EdDSA")
SUPPORTED_ALGORITHMS: Final = frozenset(
    {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}
)
#: Clock skew we tolerate between us and the IdP. Kept short because a token is a
#: bearer credential; sigstore-python itself allows 5 s on the client side.
DEFAULT_LEEWAY_SECONDS: Final = 60
REQUIRED_CLAIMS: Final = ("exp", "iat", "iss", "sub", "aud")

IssuerKind = Literal["email", "uri", "username", "github-workflow", "gitlab-pipeline"]
_KINDS: Final = frozenset({"email", "uri", "username", "github-workflow", "gitlab-pipeline"})

TokenErrorCode = Literal[
    "malformed",
    "unknown_issuer",
    "issuer_unavailable",
    "bad_algorithm",
    "unknown_key",
    "bad_signature",
    "expired",
    "not_yet_valid",
    "future_iat",
    "wrong_audience",
    "missing_claim",
    "email_unverified",
    "invalid_identity",
]


class TokenError(Exception):
    """A token was refused. `code` is stable (API clients see it); `message` explains.

    Every code is the caller's fault except `issuer_unavailable` (the IdP's
    discovery or JWKS could not be fetched), which deserves a 5xx/503.
    """

    def __init__(self, code: TokenErrorCode, message: str) -> None:
        super().__init__(f"{code}: {message}")
        self.code: TokenErrorCode = code
        self.message = message


class FetchError(Exception):
    """An HTTPS JSON fetch failed (refused URL, HTTP error, too large, not JSON)."""


FetchJson = Callable[[str], Mapping[str, Any]]


@dataclass(frozen=True)
class IssuerConfig:
    """One trusted OIDC issuer.

    - `kind` picks how claims become a certificate identity (Fulcio's issuer types).
    - `subject_domain`: for "uri" the URL (scheme and host) every `sub` must sit
      under; for "username" the domain appended as "user!domain". Required there.
    - `issuer_claim`: dotted claim path whose value replaces `iss` in the
      certificate, as Fulcio does for federated issuers such as Dex
      ("federated_claims.connector_id").
    """

    issuer_url: str
    kind: IssuerKind
    audience: str = "sigstore"
    algorithms: tuple[str, ...] = DEFAULT_ALGORITHMS
    subject_domain: str | None = None
    leeway_seconds: int = DEFAULT_LEEWAY_SECONDS
    issuer_claim: str | None = None

    def __post_init__(self) -> None:
        if self.kind not in _KINDS:
            raise ValueError(f"unknown issuer kind {self.kind!r}")
        _require_issuer_url(self.issuer_url)
        _require_algorithms(self.algorithms)
        if not self.audience:
            raise ValueError("an issuer needs an audience")
        if not 0 <= self.leeway_seconds <= 300:
            raise ValueError("leeway_seconds must be between 0 and 300")
        if self.kind in ("uri", "username") and not self.subject_domain:
            raise ValueError(f"issuer kind {self.kind!r} needs subject_domain")
        if self.kind == "uri":
            _require_uri_domain(self.subject_domain or "")


@dataclass(frozen=True)
class VerifiedToken:
    """A token whose signature and claims have been checked against its issuer."""

    claims: Mapping[str, Any]
    issuer_config: IssuerConfig


def peek_unverified_issuer(token: str) -> str:
    """Read `iss` WITHOUT verifying anything, only to choose the issuer config.

    Shape checks come first so that a hostile token costs nothing to refuse.
    """
    payload = _unverified_segment(token, 1)
    unverified_iss = payload.get("iss")
    if not isinstance(unverified_iss, str) or not unverified_iss:
        raise TokenError("malformed", "the token has no issuer (iss) claim")
    return unverified_iss


@dataclass
class _IssuerKeys:
    keys: dict[str | None, tuple[jwt.PyJWK, str | None]]
    fetched_at: float


class JwksCache:
    """Issuer keys fetched through OIDC discovery, cached by `kid`.

    Keys are refreshed when older than `max_age` (so a key the IdP withdrew stops
    working) and when a token names an unknown `kid`; either way at most once per
    `refetch_interval` per issuer, so forged kids cannot make us hammer the IdP.
    If a refresh fails and older keys are on hand, the older keys keep serving.
    """

    def __init__(
        self,
        fetch_json: FetchJson,
        *,
        clock: Callable[[], float] = time.monotonic,
        refetch_interval: float = 60.0,
        max_age: float = 3600.0,
    ) -> None:
        self._fetch_json = fetch_json
        self._clock = clock
        self._refetch_interval = refetch_interval
        self._max_age = max_age
        self._issuers: dict[str, _IssuerKeys] = {}
        self._attempted_at: dict[str, float] = {}
        # One lock per issuer: a slow IdP holds up only its own tokens.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_lock = threading.Lock()

    def key_for(self, config: IssuerConfig, kid: str | None) -> tuple[jwt.PyJWK, str | None]:
        """The issuer's key for `kid` and the `alg` its JWK pins (if any)."""
        with self._lock_for(config.issuer_url):
            entry = self._issuers.get(config.issuer_url)
            if self._should_refresh(config.issuer_url, entry, kid):
                entry = self._refresh(config, entry)
        if entry is None:
            raise TokenError("issuer_unavailable", "the issuer's keys are not available")
        found = _lookup(entry.keys, kid)
        if found is None:
            raise TokenError("unknown_key", f"the issuer has no signing key with kid {kid!r}")
        return found

    def _lock_for(self, issuer: str) -> threading.Lock:
        with self._locks_lock:
            return self._locks.setdefault(issuer, threading.Lock())

    def _should_refresh(self, issuer: str, entry: _IssuerKeys | None, kid: str | None) -> bool:
        now = self._clock()
        last_attempt = self._attempted_at.get(issuer)
        if last_attempt is not None and now - last_attempt < self._refetch_interval:
            return False
        return (
            entry is None
            or now - entry.fetched_at >= self._max_age
            or _lookup(entry.keys, kid) is None
        )

    def _refresh(self, config: IssuerConfig, entry: _IssuerKeys | None) -> _IssuerKeys:
        self._attempted_at[config.issuer_url] = self._clock()
        try:
            keys = _fetch_issuer_keys(self._fetch_json, config.issuer_url)
        except TokenError:
            if entry is not None:
                return entry
            raise
        entry = _IssuerKeys(keys, self._clock())
        self._issuers[config.issuer_url] = entry
        return entry


def verify_token(
    token: str, config: IssuerConfig, jwks: JwksCache, *, now: datetime
) -> VerifiedToken:
    """Verify `token` as issued by `config`'s issuer, at time `now`.

    Raises TokenError with a stable code; see the module docstring for the order.
    """
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    header = _unverified_segment(token, 0)  # (1) shape checks happen in here
    alg = _require_allowed_alg(header.get("alg"), config)  # (2)
    unverified_iss = peek_unverified_issuer(token)  # (3)
    if unverified_iss != config.issuer_url:
        raise TokenError("unknown_issuer", f"token issuer {unverified_iss!r} is not configured")
    kid = header.get("kid")
    if kid is not None and not isinstance(kid, str):
        raise TokenError("malformed", "the token's kid is not a string")
    key, pinned_alg = jwks.key_for(config, kid)  # (4)
    _require_key_fits(key, pinned_alg, alg)
    claims = _decode_verified(token, key, alg, config)  # (5)
    _check_times(claims, now.timestamp(), config.leeway_seconds)  # (6)
    return VerifiedToken(claims=claims, issuer_config=config)


def identity_from_token(verified: VerifiedToken) -> Identity:
    """Map verified claims to the certificate identity, per Fulcio's issuer kinds.

    - email: `email` claim with `email_verified` exactly true (a JSON bool, as Fulcio
      decodes it), RFC822Name SAN.
    - uri: `sub` as a URI SAN; its scheme and host must equal `subject_domain`'s.
    - username: otherName SAN "sub!subject_domain" (`sub` may not contain "!").
    - github-workflow: URI SAN https://github.com/{job_workflow_ref}, the raw
      .1.2-.1.6 extensions and .1.9-.1.23 from the Actions claims.
    - gitlab-pipeline: URI SAN https://{ci_config_ref_uri} and .1.9-.1.23.
    """
    config = verified.issuer_config
    claims = verified.claims
    issuer = _certificate_issuer(claims, config)
    if config.kind == "email":
        return Identity("email", _verified_email(claims), issuer)
    if config.kind == "uri":
        return Identity("uri", _subject_uri(claims, config.subject_domain or ""), issuer)
    if config.kind == "username":
        return Identity("othername", _username(claims, config.subject_domain or ""), issuer)
    if config.kind == "github-workflow":
        return _github_identity(claims, issuer)
    return _gitlab_identity(claims, issuer, config.issuer_url)


def fetch_json_https(
    url: str,
    *,
    timeout: float = 5,
    max_bytes: int = 256 * 1024,
    allow_http_loopback: bool = False,
) -> dict[str, Any]:
    """GET a JSON object over HTTPS, bounded in size and time, without redirects.

    Plain http is allowed only to 127.0.0.1, ::1 or localhost, and only when
    `allow_http_loopback` is set (development IdPs). Raises FetchError.
    """
    _require_fetchable(url, allow_http_loopback)
    deadline = time.monotonic() + timeout
    try:
        with requests.get(
            url,
            timeout=timeout,
            stream=True,
            allow_redirects=False,
            headers={"Accept": "application/json"},
        ) as response:
            if response.status_code != 200:
                raise FetchError(f"{url} answered HTTP {response.status_code}")
            body = _read_bounded(response, max_bytes, deadline)
    except requests.RequestException as exc:
        raise FetchError(f"fetching {url} failed: {exc}") from exc
    try:
        document = json.loads(body)
    except (ValueError, RecursionError) as exc:
        raise FetchError(f"{url} did not return JSON") from exc
    if not isinstance(document, dict):
        raise FetchError(f"{url} did not return a JSON object")
    return document


# --- token parsing and checks -------------------------------------------------


def _unverified_segment(token: str, index: int) -> dict[str, Any]:
    if not isinstance(token, str) or len(token) > MAX_TOKEN_BYTES:
        raise TokenError("malformed", f"the token must be a string of at most {MAX_TOKEN_BYTES}")
    if token.count(".") != 2:
        raise TokenError("malformed", "the token is not a compact JWS (header.payload.signature)")
    segment = token.split(".")[index]
    try:
        decoded = json.loads(base64.urlsafe_b64decode(segment + "=" * (-len(segment) % 4)))
    except (ValueError, binascii.Error, RecursionError):
        raise TokenError("malformed", "a token segment is not base64url JSON") from None
    if not isinstance(decoded, dict):
        raise TokenError("malformed", "a token segment is not a JSON object")
    return decoded


def _require_allowed_alg(alg: object, config: IssuerConfig) -> str:
    if not isinstance(alg, str):
        raise TokenError("malformed", "the token header has no alg")
    if alg.lower() == "none" or alg.upper().startswith("HS"):
        raise TokenError("bad_algorithm", f"alg {alg!r} is never accepted")
    if alg not in config.algorithms:
        raise TokenError("bad_algorithm", f"alg {alg!r} is not allowed for this issuer")
    return alg


_CURVE_FOR_ALG: Final[Mapping[str, type[ec.EllipticCurve]]] = {
    "ES256": ec.SECP256R1,
    "ES384": ec.SECP384R1,
    "ES512": ec.SECP521R1,
}


def _require_key_fits(key: jwt.PyJWK, pinned_alg: str | None, alg: str) -> None:
    if pinned_alg is not None and pinned_alg != alg:
        raise TokenError("bad_algorithm", f"the key is for {pinned_alg}, the token says {alg}")
    public = key.key
    if alg[:2] in ("RS", "PS"):
        fits = isinstance(public, rsa.RSAPublicKey)
    elif alg in _CURVE_FOR_ALG:
        fits = isinstance(public, ec.EllipticCurvePublicKey) and isinstance(
            public.curve, _CURVE_FOR_ALG[alg]
        )
    else:
        fits = isinstance(public, ed25519.Ed25519PublicKey | ed448.Ed448PublicKey)
    if not fits:
        raise TokenError("bad_algorithm", f"alg {alg} does not fit the issuer's key type")


def _decode_verified(token: str, key: jwt.PyJWK, alg: str, config: IssuerConfig) -> dict[str, Any]:
    try:
        return jwt.decode(
            token,
            key=key.key,
            algorithms=[alg],
            audience=config.audience,
            issuer=config.issuer_url,
            leeway=config.leeway_seconds,
            options={
                "verify_signature": True,
                "verify_aud": True,
                "verify_iss": True,
                "verify_sub": True,
                "require": list(REQUIRED_CLAIMS),
                "enforce_minimum_key_length": True,
                # PyJWT reads the wall clock; the time checks are ours, against
                # the caller's `now` (_check_times).
                "verify_exp": False,
                "verify_nbf": False,
                "verify_iat": False,
            },
        )
    except jwt.MissingRequiredClaimError as exc:
        raise TokenError("missing_claim", f"the token lacks the {exc.claim} claim") from None
    except jwt.InvalidAudienceError:
        raise TokenError(
            "wrong_audience", f"the token's aud must include {config.audience!r}"
        ) from None
    except jwt.InvalidIssuerError:
        raise TokenError("unknown_issuer", "the token's iss does not match") from None
    except jwt.InvalidSignatureError:
        raise TokenError("bad_signature", "the token's signature does not verify") from None
    except (jwt.InvalidAlgorithmError, jwt.InvalidKeyError) as exc:
        raise TokenError("bad_algorithm", str(exc)) from None
    except jwt.PyJWTError as exc:
        raise TokenError("malformed", f"the token is malformed: {exc}") from None


def _check_times(claims: Mapping[str, Any], now: float, leeway: int) -> None:
    exp = _numeric_claim(claims, "exp")
    iat = _numeric_claim(claims, "iat")
    if exp is None or iat is None:
        raise TokenError("missing_claim", "the token needs exp and iat")
    if exp <= now - leeway:
        raise TokenError("expired", "the token has expired")
    if iat > now + leeway:
        raise TokenError("future_iat", "the token was issued in the future (iat)")
    nbf = _numeric_claim(claims, "nbf")
    if nbf is not None and nbf > now + leeway:
        raise TokenError("not_yet_valid", "the token is not valid yet (nbf)")


def _numeric_claim(claims: Mapping[str, Any], name: str) -> float | None:
    value = claims.get(name)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise TokenError("malformed", f"the {name} claim must be a number")
    return float(value)


# --- keys ---------------------------------------------------------------------


def _fetch_issuer_keys(
    fetch_json: FetchJson, issuer_url: str
) -> dict[str | None, tuple[jwt.PyJWK, str | None]]:
    discovery = _fetch(fetch_json, issuer_url.rstrip("/") + "/.well-known/openid-configuration")
    if discovery.get("issuer") != issuer_url:
        raise TokenError("issuer_unavailable", "discovery names a different issuer")
    jwks_uri = discovery.get("jwks_uri")
    if not isinstance(jwks_uri, str):
        raise TokenError("issuer_unavailable", "discovery has no jwks_uri")
    jwk_list = _fetch(fetch_json, jwks_uri).get("keys")
    if not isinstance(jwk_list, list):
        raise TokenError("issuer_unavailable", "the JWKS has no keys list")
    return _parse_jwks(jwk_list)


def _fetch(fetch_json: FetchJson, url: str) -> Mapping[str, Any]:
    try:
        return fetch_json(url)
    except FetchError as exc:
        raise TokenError("issuer_unavailable", str(exc)) from exc


def _parse_jwks(jwk_list: list[Any]) -> dict[str | None, tuple[jwt.PyJWK, str | None]]:
    keys: dict[str | None, tuple[jwt.PyJWK, str | None]] = {}
    for jwk in jwk_list:
        if not isinstance(jwk, dict) or jwk.get("use", "sig") != "sig":
            continue
        kid, alg = jwk.get("kid"), jwk.get("alg")
        if not isinstance(kid, str | None) or not isinstance(alg, str | None):
            continue
        try:
            keys[kid] = (jwt.PyJWK(jwk), alg)
        except (jwt.PyJWTError, ValueError, TypeError, KeyError):
            continue  # a key type we do not support; others may still serve
    return keys


def _lookup(
    keys: Mapping[str | None, tuple[jwt.PyJWK, str | None]], kid: str | None
) -> tuple[jwt.PyJWK, str | None] | None:
    if kid is None and len(keys) == 1:
        # A token without kid is fine only when there is no choice to make.
        return next(iter(keys.values()))
    return keys.get(kid) if kid is not None else None


# --- identities ---------------------------------------------------------------

_EMAIL: Final = re.compile(r"[^@\s]+@[^@\s]+\.[^@\s]+", re.ASCII)
_GITHUB_URL: Final = "https://github.com"
_GITHUB_REQUIRED: Final = (
    "job_workflow_ref",
    "sha",
    "event_name",
    "repository",
    "workflow",
    "ref",
    "job_workflow_sha",
    "runner_environment",
    "repository_id",
    "repository_owner",
    "repository_owner_id",
    "workflow_ref",
    "workflow_sha",
    "run_id",
    "run_attempt",
)
_GITLAB_REQUIRED: Final = (
    "project_path",
    "pipeline_source",
    "pipeline_id",
    "ci_config_ref_uri",
    "job_id",
    "ref",
    "ref_type",
    "namespace_path",
    "namespace_id",
    "project_id",
    "sha",
    "runner_environment",
)


def _certificate_issuer(claims: Mapping[str, Any], config: IssuerConfig) -> str:
    if config.issuer_claim is None:
        return str(claims["iss"])
    value: Any = claims
    for part in config.issuer_claim.split("."):
        value = value.get(part) if isinstance(value, Mapping) else None
    if not isinstance(value, str) or not value:
        raise TokenError("missing_claim", f"the token lacks the {config.issuer_claim} claim")
    return value


def _verified_email(claims: Mapping[str, Any]) -> str:
    email = claims.get("email")
    if not isinstance(email, str) or not email:
        raise TokenError("missing_claim", "the token has no email claim")
    # Fulcio decodes email_verified into a Go bool: only JSON true passes.
    if claims.get("email_verified") is not True:
        raise TokenError("email_unverified", "the issuer has not verified this email address")
    if not _EMAIL.fullmatch(email) or not email.isascii():
        raise TokenError("invalid_identity", "the email claim is not a usable email address")
    return email


def _subject_uri(claims: Mapping[str, Any], subject_domain: str) -> str:
    sub = _printable_ascii(claims, "sub")
    if _EMAIL.fullmatch(sub):
        raise TokenError("invalid_identity", "a URI subject must not be an email address")
    uri, domain = urlsplit(sub), urlsplit(subject_domain)
    if uri.scheme != domain.scheme or uri.hostname != domain.hostname:
        raise TokenError("invalid_identity", f"the subject must be under {subject_domain}")
    return sub


def _username(claims: Mapping[str, Any], subject_domain: str) -> str:
    sub = _printable_ascii(claims, "sub")
    if "!" in sub or _EMAIL.fullmatch(sub):
        raise TokenError("invalid_identity", "a username may not contain ! or be an email")
    return f"{sub}!{subject_domain}"


def _github_identity(claims: Mapping[str, Any], issuer: str) -> Identity:
    c = {name: _claim_text(claims, name) for name in _GITHUB_REQUIRED}
    url = _GITHUB_URL
    extensions = {
        oids.GITHUB_WORKFLOW_TRIGGER: c["event_name"],
        oids.GITHUB_WORKFLOW_SHA: c["sha"],
        oids.GITHUB_WORKFLOW_NAME: c["workflow"],
        oids.GITHUB_WORKFLOW_REPOSITORY: c["repository"],
        oids.GITHUB_WORKFLOW_REF: c["ref"],
        oids.BUILD_SIGNER_URI: f"{url}/{c['job_workflow_ref']}",
        oids.BUILD_SIGNER_DIGEST: c["job_workflow_sha"],
        oids.RUNNER_ENVIRONMENT: c["runner_environment"],
        oids.SOURCE_REPOSITORY_URI: f"{url}/{c['repository']}",
        oids.SOURCE_REPOSITORY_DIGEST: c["sha"],
        oids.SOURCE_REPOSITORY_REF: c["ref"],
        oids.SOURCE_REPOSITORY_IDENTIFIER: c["repository_id"],
        oids.SOURCE_REPOSITORY_OWNER_URI: f"{url}/{c['repository_owner']}",
        oids.SOURCE_REPOSITORY_OWNER_IDENTIFIER: c["repository_owner_id"],
        oids.BUILD_CONFIG_URI: f"{url}/{c['workflow_ref']}",
        oids.BUILD_CONFIG_DIGEST: c["workflow_sha"],
        oids.BUILD_TRIGGER: c["event_name"],
        oids.RUN_INVOCATION_URI: (
            f"{url}/{c['repository']}/actions/runs/{c['run_id']}/attempts/{c['run_attempt']}"
        ),
        oids.SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING: _optional_text(
            claims, "repository_visibility"
        ),
        oids.DEPLOYMENT_ENVIRONMENT: _optional_text(claims, "environment"),
    }
    san = _require_uri(f"{url}/{c['job_workflow_ref']}")
    return Identity("uri", san, issuer, _dotted(extensions))


def _gitlab_identity(claims: Mapping[str, Any], issuer: str, issuer_url: str) -> Identity:
    c = {name: _claim_text(claims, name) for name in _GITLAB_REQUIRED}
    # Fulcio hard-codes https://gitlab.com; the issuer URL is the same for
    # gitlab.com and right for a self-hosted GitLab.
    url = issuer_url.rstrip("/")
    config_uri = _require_uri(f"https://{c['ci_config_ref_uri']}")
    extensions = {
        oids.BUILD_SIGNER_URI: config_uri,
        oids.BUILD_SIGNER_DIGEST: _optional_text(claims, "ci_config_sha"),
        oids.RUNNER_ENVIRONMENT: c["runner_environment"],
        oids.SOURCE_REPOSITORY_URI: f"{url}/{c['project_path']}",
        oids.SOURCE_REPOSITORY_DIGEST: c["sha"],
        oids.SOURCE_REPOSITORY_REF: _gitlab_ref(c["ref_type"], c["ref"]),
        oids.SOURCE_REPOSITORY_IDENTIFIER: c["project_id"],
        oids.SOURCE_REPOSITORY_OWNER_URI: f"{url}/{c['namespace_path']}",
        oids.SOURCE_REPOSITORY_OWNER_IDENTIFIER: c["namespace_id"],
        oids.BUILD_CONFIG_URI: config_uri,
        oids.BUILD_CONFIG_DIGEST: _optional_text(claims, "ci_config_sha"),
        oids.BUILD_TRIGGER: c["pipeline_source"],
        oids.RUN_INVOCATION_URI: f"{url}/{c['project_path']}/-/jobs/{c['job_id']}",
        oids.SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING: _optional_text(claims, "project_visibility"),
        oids.DEPLOYMENT_ENVIRONMENT: _optional_text(claims, "environment"),
    }
    return Identity("uri", config_uri, issuer, _dotted(extensions))


def _gitlab_ref(ref_type: str, ref: str) -> str:
    if ref_type == "branch":
        return f"refs/heads/{ref}"
    if ref_type == "tag":
        return f"refs/tags/{ref}"
    raise TokenError("invalid_identity", f"unexpected GitLab ref_type {ref_type!r}")


def _claim_text(claims: Mapping[str, Any], name: str) -> str:
    value = _optional_text(claims, name)
    if not value:
        raise TokenError("missing_claim", f"the token lacks the {name} claim")
    return value


def _optional_text(claims: Mapping[str, Any], name: str) -> str:
    """A claim as text; CI providers send ids as strings, but accept integers too."""
    value = claims.get(name)
    if value is None:
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise TokenError("invalid_identity", f"the {name} claim must be a string")
    return str(value)


def _printable_ascii(claims: Mapping[str, Any], name: str) -> str:
    value = _claim_text(claims, name)
    if not value.isascii() or not value.isprintable() or " " in value:
        raise TokenError("invalid_identity", f"the {name} claim is not usable in a certificate")
    return value


def _require_uri(value: str) -> str:
    if not value.isascii() or not value.isprintable() or " " in value:
        raise TokenError("invalid_identity", "the identity is not a usable URI")
    return value


def _dotted(extensions: Mapping[Any, str]) -> dict[str, str]:
    return {oid.dotted_string: value for oid, value in extensions.items() if value}


# --- configuration checks -----------------------------------------------------


def _require_algorithms(algorithms: tuple[str, ...]) -> None:
    if not algorithms:
        raise ValueError("an issuer needs at least one algorithm")
    for alg in algorithms:
        if alg.lower() == "none" or alg.upper().startswith("HS"):
            raise ValueError(f"algorithm {alg!r} must never be accepted")
        if alg not in SUPPORTED_ALGORITHMS:
            raise ValueError(f"unsupported algorithm {alg!r}")


def _require_issuer_url(url: str) -> None:
    parts = urlsplit(url)
    loopback_http = parts.scheme == "http" and _is_loopback(parts.hostname)
    if not (parts.scheme == "https" or loopback_http) or not parts.hostname:
        raise ValueError("an issuer URL must be https:// (http:// only on loopback)")
    if parts.query or parts.fragment:
        raise ValueError("an issuer URL has no query or fragment")


def _require_uri_domain(domain: str) -> None:
    parts = urlsplit(domain)
    if not parts.scheme or not parts.hostname:
        raise ValueError("a uri issuer's subject_domain must be a URL such as https://example.com")


# --- HTTP ---------------------------------------------------------------------


def _require_fetchable(url: str, allow_http_loopback: bool) -> None:
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return
    if parts.scheme == "http" and allow_http_loopback and _is_loopback(parts.hostname):
        return
    raise FetchError(f"refusing to fetch {url!r}: only https:// is allowed")


def _is_loopback(hostname: str | None) -> bool:
    if hostname == "localhost":
        return True
    try:
        return hostname is not None and ipaddress.ip_address(hostname).is_loopback
    except ValueError:
        return False


def _read_bounded(response: requests.Response, max_bytes: int, deadline: float) -> bytes:
    declared = response.headers.get("Content-Length")
    if declared is not None and declared.isdigit() and int(declared) > max_bytes:
        raise FetchError(f"{response.url} is larger than {max_bytes} bytes")
    chunks: list[bytes] = []
    size = 0
    for chunk in response.iter_content(chunk_size=16 * 1024):
        size += len(chunk)
        if size > max_bytes:
            raise FetchError(f"{response.url} is larger than {max_bytes} bytes")
        if time.monotonic() > deadline:
            # requests' timeout bounds the connect and each socket read, not the
            # whole body; this check runs between chunks, so a server dripping
            # bytes can still hold us for a chunk's worth of reads.
            raise FetchError(f"{response.url} took too long")
        chunks.append(chunk)
    return b"".join(chunks)
