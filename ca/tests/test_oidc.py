"""Token verification and claim mapping, against an in-memory identity provider.

The provider is served through the injected `fetch_json` callable, which is the
module's real interface to the network (the service injects fetch_json_https).
`fetch_json_https` itself is tested against a small HTTP server on 127.0.0.1.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import threading
from collections.abc import Iterator
from datetime import UTC, datetime
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa

from ca.core import oids
from ca.core.oidc import (
    FetchError,
    IssuerConfig,
    JwksCache,
    TokenError,
    VerifiedToken,
    fetch_json_https,
    identity_from_token,
    peek_unverified_issuer,
    verify_token,
)

ISSUER = "https://idp.example.test"
NOW = datetime(2025, 6, 1, 12, 0, tzinfo=UTC)
T = int(NOW.timestamp())
EMAIL_CONFIG = IssuerConfig(issuer_url=ISSUER, kind="email")


class FakeIdp:
    """An OIDC provider in memory: discovery, a JWKS and a fetch counter."""

    def __init__(self, rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> None:
        self.keys: dict[str, Any] = {"rsa-1": rsa_key, "ec-1": ec_key}
        self.fetches: list[str] = []
        self.discovery_issuer = ISSUER

    def fetch_json(self, url: str) -> dict[str, Any]:
        self.fetches.append(url)
        if url == f"{ISSUER}/.well-known/openid-configuration":
            return {"issuer": self.discovery_issuer, "jwks_uri": f"{ISSUER}/jwks"}
        if url == f"{ISSUER}/jwks":
            return {"keys": [self._jwk(kid, key) for kid, key in self.keys.items()]}
        raise FetchError(f"404 {url}")

    @staticmethod
    def _jwk(kid: str, key: Any) -> dict[str, Any]:
        algorithm: Any = jwt.algorithms.ECAlgorithm
        if isinstance(key, rsa.RSAPrivateKey):
            algorithm = jwt.algorithms.RSAAlgorithm
        elif isinstance(key, ed25519.Ed25519PrivateKey):
            algorithm = jwt.algorithms.OKPAlgorithm
        jwk = algorithm.to_jwk(key.public_key(), as_dict=True)
        return {**jwk, "kid": kid, "use": "sig"}


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture(scope="module")
def rsa_key() -> rsa.RSAPrivateKey:
    return rsa.generate_private_key(65537, 2048)


@pytest.fixture(scope="module")
def ec_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


@pytest.fixture
def idp(rsa_key: rsa.RSAPrivateKey, ec_key: ec.EllipticCurvePrivateKey) -> FakeIdp:
    return FakeIdp(rsa_key, ec_key)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def jwks(idp: FakeIdp, clock: Clock) -> JwksCache:
    return JwksCache(idp.fetch_json, clock=clock)


def claims(**overrides: Any) -> dict[str, Any]:
    base = {
        "iss": ISSUER,
        "sub": "user-123",
        "aud": "sigstore",
        "iat": T - 10,
        "exp": T + 300,
        "email": "alice@example.test",
        "email_verified": True,
    }
    base.update(overrides)
    return {k: v for k, v in base.items() if v is not None}


def sign(idp: FakeIdp, payload: dict[str, Any], kid: str = "rsa-1", alg: str = "RS256") -> str:
    return jwt.encode(payload, idp.keys[kid], algorithm=alg, headers={"kid": kid})


def b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def unsigned_token(header: dict[str, Any], payload: dict[str, Any], signature: bytes = b"") -> str:
    head = b64url(json.dumps(header).encode())
    body = b64url(json.dumps(payload).encode())
    return f"{head}.{body}.{b64url(signature)}"


def refused(token: str, jwks: JwksCache, config: IssuerConfig = EMAIL_CONFIG) -> str:
    with pytest.raises(TokenError) as info:
        verify_token(token, config, jwks, now=NOW)
    return info.value.code


# --- good tokens ------------------------------------------------------------------


def test_rsa_token_verifies(idp: FakeIdp, jwks: JwksCache) -> None:
    verified = verify_token(sign(idp, claims()), EMAIL_CONFIG, jwks, now=NOW)

    assert verified.claims["sub"] == "user-123"
    assert verified.issuer_config is EMAIL_CONFIG


def test_ec_token_verifies(idp: FakeIdp, jwks: JwksCache) -> None:
    token = sign(idp, claims(), kid="ec-1", alg="ES256")

    assert verify_token(token, EMAIL_CONFIG, jwks, now=NOW).claims["email"] == "alice@example.test"


def test_eddsa_token_verifies(idp: FakeIdp, jwks: JwksCache) -> None:
    idp.keys["ed-1"] = ed25519.Ed25519PrivateKey.generate()

    verify_token(sign(idp, claims(), kid="ed-1", alg="EdDSA"), EMAIL_CONFIG, jwks, now=NOW)


def test_naive_now_is_a_programming_error(idp: FakeIdp, jwks: JwksCache) -> None:
    with pytest.raises(ValueError, match="timezone-aware"):
        verify_token(sign(idp, claims()), EMAIL_CONFIG, jwks, now=NOW.replace(tzinfo=None))


def test_audience_list_containing_sigstore_is_fine(idp: FakeIdp, jwks: JwksCache) -> None:
    token = sign(idp, claims(aud=["other", "sigstore"]))

    verify_token(token, EMAIL_CONFIG, jwks, now=NOW)


def test_expiry_within_leeway_is_fine(idp: FakeIdp, jwks: JwksCache) -> None:
    verify_token(sign(idp, claims(exp=T - 30)), EMAIL_CONFIG, jwks, now=NOW)


def test_peek_reads_the_issuer(idp: FakeIdp) -> None:
    assert peek_unverified_issuer(sign(idp, claims(iss="https://who.example"))) == (
        "https://who.example"
    )


# --- bad tokens, one code each ------------------------------------------------------


def test_expired(idp: FakeIdp, jwks: JwksCache) -> None:
    assert refused(sign(idp, claims(exp=T - 120)), jwks) == "expired"


def test_future_iat(idp: FakeIdp, jwks: JwksCache) -> None:
    assert refused(sign(idp, claims(iat=T + 3600, exp=T + 7200)), jwks) == "future_iat"


def test_nbf_in_the_future(idp: FakeIdp, jwks: JwksCache) -> None:
    assert refused(sign(idp, claims(nbf=T + 600)), jwks) == "not_yet_valid"


def test_wrong_audience(idp: FakeIdp, jwks: JwksCache) -> None:
    assert refused(sign(idp, claims(aud="someone-else")), jwks) == "wrong_audience"


def test_unknown_issuer(idp: FakeIdp, jwks: JwksCache) -> None:
    assert refused(sign(idp, claims(iss="https://evil.example")), jwks) == "unknown_issuer"
    assert idp.fetches == []  # refused before any key lookup


@pytest.mark.parametrize("claim", ["exp", "iat", "sub", "aud"])
def test_missing_claim(idp: FakeIdp, jwks: JwksCache, claim: str) -> None:
    assert refused(sign(idp, claims(**{claim: None})), jwks) == "missing_claim"


def test_non_numeric_exp_is_malformed(idp: FakeIdp, jwks: JwksCache) -> None:
    assert refused(sign(idp, claims(exp="tomorrow")), jwks) == "malformed"


def test_alg_none(idp: FakeIdp, jwks: JwksCache) -> None:
    token = unsigned_token({"alg": "none", "typ": "JWT", "kid": "rsa-1"}, claims())

    assert refused(token, jwks) == "bad_algorithm"


def test_hs256_signed_with_the_public_key(idp: FakeIdp, jwks: JwksCache) -> None:
    """The key-confusion attack: HMAC keyed with the issuer's public key PEM."""
    public_pem = (
        idp.keys["rsa-1"]
        .public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    header = {"alg": "HS256", "typ": "JWT", "kid": "rsa-1"}
    unsigned = unsigned_token(header, claims()).rsplit(".", 1)[0]
    mac = hmac.new(public_pem, unsigned.encode(), hashlib.sha256).digest()

    assert refused(f"{unsigned}.{b64url(mac)}", jwks) == "bad_algorithm"


def test_alg_outside_the_issuer_allow_list(idp: FakeIdp, jwks: JwksCache) -> None:
    config = IssuerConfig(issuer_url=ISSUER, kind="email", algorithms=("ES256",))

    assert refused(sign(idp, claims()), jwks, config) == "bad_algorithm"


def test_alg_that_does_not_fit_the_key(idp: FakeIdp, jwks: JwksCache) -> None:
    # Signed by the EC key but pointing at the RSA key's kid.
    token = jwt.encode(claims(), idp.keys["ec-1"], algorithm="ES256", headers={"kid": "rsa-1"})

    assert refused(token, jwks) == "bad_algorithm"


def test_bad_signature(idp: FakeIdp, jwks: JwksCache) -> None:
    impostor = rsa.generate_private_key(65537, 2048)
    token = jwt.encode(claims(), impostor, algorithm="RS256", headers={"kid": "rsa-1"})

    assert refused(token, jwks) == "bad_signature"


def test_tampered_payload(idp: FakeIdp, jwks: JwksCache) -> None:
    head, _, sig = sign(idp, claims()).split(".")
    forged = b64url(json.dumps(claims(email="mallory@example.test")).encode())

    assert refused(f"{head}.{forged}.{sig}", jwks) == "bad_signature"


def test_ten_thousand_dots(jwks: JwksCache) -> None:
    token = "." * 10_000

    assert refused(token, jwks) == "malformed"
    with pytest.raises(TokenError, match="malformed"):
        peek_unverified_issuer(token)


def test_one_mebibyte_token(idp: FakeIdp, jwks: JwksCache) -> None:
    token = sign(idp, claims(padding="x" * (1024 * 1024)))

    assert refused(token, jwks) == "malformed"
    assert idp.fetches == []


@pytest.mark.parametrize(
    "token", ["a.b", "a.b.c.d", "!!!.???.x", unsigned_token({"alg": "RS256"}, {"sub": "x"})]
)
def test_malformed_shapes(token: str, jwks: JwksCache) -> None:
    assert refused(token, jwks) == "malformed"


# --- keys: discovery, rotation and rate-limited refetch ------------------------------


def test_unknown_kid_refetches_at_most_once_a_minute(
    idp: FakeIdp, jwks: JwksCache, clock: Clock
) -> None:
    verify_token(sign(idp, claims()), EMAIL_CONFIG, jwks, now=NOW)
    assert len(idp.fetches) == 2  # discovery + JWKS

    idp.keys["rotated"] = ec.generate_private_key(ec.SECP256R1())
    rotated = sign(idp, claims(), kid="rotated", alg="ES256")
    idp.keys.pop("rotated")
    bogus = unsigned_token({"alg": "RS256", "kid": "nope"}, claims(), b"sig")

    for _ in range(5):
        assert refused(bogus, jwks) == "unknown_key"
    assert len(idp.fetches) == 2  # within the minute: no refetch

    clock.now += 61
    assert refused(bogus, jwks) == "unknown_key"
    assert len(idp.fetches) == 4  # exactly one refetch
    assert refused(rotated, jwks) == "unknown_key"
    assert len(idp.fetches) == 4


def test_new_key_is_found_after_the_interval(idp: FakeIdp, jwks: JwksCache, clock: Clock) -> None:
    verify_token(sign(idp, claims()), EMAIL_CONFIG, jwks, now=NOW)
    idp.keys["rotated"] = ec.generate_private_key(ec.SECP256R1())
    clock.now += 61

    verify_token(sign(idp, claims(), kid="rotated", alg="ES256"), EMAIL_CONFIG, jwks, now=NOW)

    assert len(idp.fetches) == 4


def test_keys_are_refreshed_after_max_age(idp: FakeIdp, jwks: JwksCache, clock: Clock) -> None:
    token = sign(idp, claims())
    verify_token(token, EMAIL_CONFIG, jwks, now=NOW)
    idp.keys.pop("rsa-1")  # the IdP withdraws the key
    clock.now += 3601

    assert refused(token, jwks) == "unknown_key"


def test_failed_refresh_keeps_serving_known_keys(
    idp: FakeIdp, jwks: JwksCache, clock: Clock
) -> None:
    token = sign(idp, claims())
    verify_token(token, EMAIL_CONFIG, jwks, now=NOW)
    clock.now += 3601
    idp.discovery_issuer = "https://broken.example"

    verify_token(token, EMAIL_CONFIG, jwks, now=NOW)


def test_discovery_must_name_the_same_issuer(idp: FakeIdp, jwks: JwksCache) -> None:
    idp.discovery_issuer = ISSUER + "/"

    assert refused(sign(idp, claims()), jwks) == "issuer_unavailable"


def test_unreachable_issuer(jwks: JwksCache) -> None:
    def down(url: str) -> dict[str, Any]:
        raise FetchError("connection refused")

    cache = JwksCache(down)
    token = unsigned_token({"alg": "RS256", "kid": "k"}, claims(), b"sig")

    assert refused(token, cache) == "issuer_unavailable"


# --- configuration ------------------------------------------------------------------


@pytest.mark.parametrize(
    "kwargs",
    [
        {"algorithms": ("RS256", "HS256")},
        {"algorithms": ("none",)},
        {"algorithms": ()},
        {"algorithms": ("XS999",)},
        {"kind": "uri"},  # needs subject_domain
        {"kind": "username"},
        {"kind": "nonsense"},
        {"issuer_url": "http://idp.example.test"},
        {"audience": ""},
        {"leeway_seconds": 3600},
    ],
)
def test_config_refuses_unsafe_settings(kwargs: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        IssuerConfig(**{"issuer_url": ISSUER, "kind": "email", **kwargs})


def test_config_allows_http_on_loopback_for_development() -> None:
    IssuerConfig(issuer_url="http://127.0.0.1:5556/dex", kind="email")


# --- identities ---------------------------------------------------------------------


def verified(config: IssuerConfig, **overrides: Any) -> VerifiedToken:
    return VerifiedToken(claims=claims(iss=config.issuer_url, **overrides), issuer_config=config)


def test_email_identity() -> None:
    identity = identity_from_token(verified(EMAIL_CONFIG))

    assert (identity.san_kind, identity.san_value, identity.issuer) == (
        "email",
        "alice@example.test",
        ISSUER,
    )
    assert dict(identity.extensions) == {}


@pytest.mark.parametrize("value", [False, "true", None])
def test_email_must_be_verified_as_a_json_true(value: object) -> None:
    with pytest.raises(TokenError) as info:
        identity_from_token(verified(EMAIL_CONFIG, email_verified=value))
    assert info.value.code == "email_unverified"


def test_email_claim_is_required() -> None:
    with pytest.raises(TokenError) as info:
        identity_from_token(verified(EMAIL_CONFIG, email=None))
    assert info.value.code == "missing_claim"


@pytest.mark.parametrize("email", ["not-an-email", "a b@example.test", "ü@example.test"])
def test_unusable_email(email: str) -> None:
    with pytest.raises(TokenError) as info:
        identity_from_token(verified(EMAIL_CONFIG, email=email))
    assert info.value.code == "invalid_identity"


def test_federated_issuer_claim() -> None:
    config = IssuerConfig(
        issuer_url=ISSUER, kind="email", issuer_claim="federated_claims.connector_id"
    )
    token = verified(config, federated_claims={"connector_id": "https://github.com/login/oauth"})

    assert identity_from_token(token).issuer == "https://github.com/login/oauth"


URI_CONFIG = IssuerConfig(issuer_url=ISSUER, kind="uri", subject_domain="https://svc.example.test")


def test_uri_identity() -> None:
    identity = identity_from_token(verified(URI_CONFIG, sub="https://svc.example.test/jobs/7"))

    assert (identity.san_kind, identity.san_value) == ("uri", "https://svc.example.test/jobs/7")


@pytest.mark.parametrize(
    "sub", ["https://evil.example.test/jobs/7", "http://svc.example.test/x", "a@b.example"]
)
def test_uri_identity_must_sit_under_the_subject_domain(sub: str) -> None:
    with pytest.raises(TokenError) as info:
        identity_from_token(verified(URI_CONFIG, sub=sub))
    assert info.value.code == "invalid_identity"


def test_username_identity() -> None:
    config = IssuerConfig(issuer_url=ISSUER, kind="username", subject_domain="example.test")

    identity = identity_from_token(verified(config, sub="alice"))

    assert (identity.san_kind, identity.san_value) == ("othername", "alice!example.test")
    with pytest.raises(TokenError):
        identity_from_token(verified(config, sub="al!ce"))


GITHUB_CLAIMS = {
    "sub": "repo:octo/repo:ref:refs/heads/main",
    "job_workflow_ref": "octo/repo/.github/workflows/release.yml@refs/heads/main",
    "job_workflow_sha": "aaaa",
    "sha": "bbbb",
    "event_name": "push",
    "repository": "octo/repo",
    "workflow": "Release",
    "ref": "refs/heads/main",
    "runner_environment": "github-hosted",
    "repository_id": "101",
    "repository_owner": "octo",
    "repository_owner_id": "202",
    "workflow_ref": "octo/repo/.github/workflows/release.yml@refs/heads/main",
    "workflow_sha": "cccc",
    "run_id": "303",
    "run_attempt": "1",
    "repository_visibility": "public",
    "email": None,
    "email_verified": None,
}


def test_github_workflow_identity() -> None:
    config = IssuerConfig(
        issuer_url="https://token.actions.githubusercontent.com", kind="github-workflow"
    )

    identity = identity_from_token(verified(config, **GITHUB_CLAIMS))

    workflow = "https://github.com/octo/repo/.github/workflows/release.yml@refs/heads/main"
    assert (identity.san_kind, identity.san_value) == ("uri", workflow)
    assert identity.issuer == "https://token.actions.githubusercontent.com"
    assert dict(identity.extensions) == {
        oids.GITHUB_WORKFLOW_TRIGGER.dotted_string: "push",
        oids.GITHUB_WORKFLOW_SHA.dotted_string: "bbbb",
        oids.GITHUB_WORKFLOW_NAME.dotted_string: "Release",
        oids.GITHUB_WORKFLOW_REPOSITORY.dotted_string: "octo/repo",
        oids.GITHUB_WORKFLOW_REF.dotted_string: "refs/heads/main",
        oids.BUILD_SIGNER_URI.dotted_string: workflow,
        oids.BUILD_SIGNER_DIGEST.dotted_string: "aaaa",
        oids.RUNNER_ENVIRONMENT.dotted_string: "github-hosted",
        oids.SOURCE_REPOSITORY_URI.dotted_string: "https://github.com/octo/repo",
        oids.SOURCE_REPOSITORY_DIGEST.dotted_string: "bbbb",
        oids.SOURCE_REPOSITORY_REF.dotted_string: "refs/heads/main",
        oids.SOURCE_REPOSITORY_IDENTIFIER.dotted_string: "101",
        oids.SOURCE_REPOSITORY_OWNER_URI.dotted_string: "https://github.com/octo",
        oids.SOURCE_REPOSITORY_OWNER_IDENTIFIER.dotted_string: "202",
        oids.BUILD_CONFIG_URI.dotted_string: workflow,
        oids.BUILD_CONFIG_DIGEST.dotted_string: "cccc",
        oids.BUILD_TRIGGER.dotted_string: "push",
        oids.RUN_INVOCATION_URI.dotted_string: (
            "https://github.com/octo/repo/actions/runs/303/attempts/1"
        ),
        oids.SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING.dotted_string: "public",
    }


def test_github_workflow_needs_its_claims() -> None:
    config = IssuerConfig(
        issuer_url="https://token.actions.githubusercontent.com", kind="github-workflow"
    )
    with pytest.raises(TokenError) as info:
        identity_from_token(verified(config, **{**GITHUB_CLAIMS, "job_workflow_ref": None}))
    assert info.value.code == "missing_claim"


GITLAB_CLAIMS = {
    "sub": "project_path:grp/proj:ref_type:branch:ref:main",
    "project_path": "grp/proj",
    "project_id": "11",
    "namespace_path": "grp",
    "namespace_id": "22",
    "pipeline_source": "push",
    "pipeline_id": "33",
    "ci_config_ref_uri": "gitlab.example.test/grp/proj//.gitlab-ci.yml@refs/heads/main",
    "ci_config_sha": "dddd",
    "job_id": "44",
    "ref": "main",
    "ref_type": "branch",
    "sha": "eeee",
    "runner_environment": "gitlab-hosted",
    "runner_id": 55,
    "project_visibility": "private",
    "environment": "production",
}


def test_gitlab_pipeline_identity() -> None:
    config = IssuerConfig(issuer_url="https://gitlab.example.test", kind="gitlab-pipeline")

    identity = identity_from_token(verified(config, **GITLAB_CLAIMS))

    pipeline = "https://gitlab.example.test/grp/proj//.gitlab-ci.yml@refs/heads/main"
    assert (identity.san_kind, identity.san_value) == ("uri", pipeline)
    ext = {k.rsplit(".", 1)[1]: v for k, v in identity.extensions.items()}
    assert ext == {
        "9": pipeline,
        "10": "dddd",
        "11": "gitlab-hosted",
        "12": "https://gitlab.example.test/grp/proj",
        "13": "eeee",
        "14": "refs/heads/main",
        "15": "11",
        "16": "https://gitlab.example.test/grp",
        "17": "22",
        "18": pipeline,
        "19": "dddd",
        "20": "push",
        "21": "https://gitlab.example.test/grp/proj/-/jobs/44",
        "22": "private",
        "23": "production",
    }


def test_gitlab_tag_and_unknown_ref_types() -> None:
    config = IssuerConfig(issuer_url="https://gitlab.example.test", kind="gitlab-pipeline")

    tagged = identity_from_token(verified(config, **{**GITLAB_CLAIMS, "ref_type": "tag"}))
    assert tagged.extensions[oids.SOURCE_REPOSITORY_REF.dotted_string] == "refs/tags/main"
    with pytest.raises(TokenError, match="ref_type"):
        identity_from_token(verified(config, **{**GITLAB_CLAIMS, "ref_type": "mr"}))


# --- fetch_json_https ---------------------------------------------------------------


class _Handler(BaseHTTPRequestHandler):
    routes: dict[str, tuple[int, bytes, bool]] = {
        "/ok": (200, b'{"issuer": "x"}', True),
        "/big": (200, b'{"pad": "' + b"x" * 300_000 + b'"}', True),
        "/big-undeclared": (200, b'{"pad": "' + b"x" * 300_000 + b'"}', False),
        "/redirect": (302, b"", True),
        "/list": (200, b"[1, 2]", True),
        "/text": (200, b"hello", True),
    }

    def do_GET(self) -> None:
        status, body, declare_length = self.routes.get(self.path, (404, b"", True))
        self.send_response(status)
        if status == 302:
            self.send_header("Location", "/ok")
        if declare_length:
            self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture(scope="module")
def server() -> Iterator[str]:
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    with pytest.MonkeyPatch.context() as mp:
        # A proxy from the environment would otherwise see our loopback requests.
        for var in ("HTTP_PROXY", "HTTPS_PROXY", "ALL_PROXY", "http_proxy", "https_proxy"):
            mp.delenv(var, raising=False)
        try:
            yield f"http://127.0.0.1:{httpd.server_address[1]}"
        finally:
            httpd.shutdown()
            httpd.server_close()
            thread.join()


def test_fetch_refuses_plain_http_off_loopback() -> None:
    with pytest.raises(FetchError, match="only https"):
        fetch_json_https("http://idp.example.test/jwks", allow_http_loopback=True)
    with pytest.raises(FetchError, match="only https"):
        fetch_json_https("file:///etc/passwd")


def test_fetch_refuses_loopback_http_unless_allowed(server: str) -> None:
    with pytest.raises(FetchError, match="only https"):
        fetch_json_https(f"{server}/ok")


def test_fetch_reads_a_json_object(server: str) -> None:
    assert fetch_json_https(f"{server}/ok", allow_http_loopback=True) == {"issuer": "x"}


@pytest.mark.parametrize("path", ["/big", "/big-undeclared"])
def test_fetch_enforces_the_size_limit(server: str, path: str) -> None:
    with pytest.raises(FetchError, match="larger than"):
        fetch_json_https(f"{server}{path}", allow_http_loopback=True)


@pytest.mark.parametrize("path", ["/redirect", "/list", "/text", "/missing"])
def test_fetch_refuses_redirects_and_non_objects(server: str, path: str) -> None:
    with pytest.raises(FetchError):
        fetch_json_https(f"{server}{path}", allow_http_loopback=True)
