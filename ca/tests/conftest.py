"""A real OIDC issuer for the CA's API tests: discovery and JWKS served over HTTP on
loopback by a thread, tokens signed with its keys (and, for the attacks, with others)."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

import jwt
import pytest
from cryptography.hazmat.primitives.asymmetric import ec, rsa

from ca import services as ca_services
from tlog import services as tlog_services
from tlog.models import Log


@dataclass
class Issuer:
    url: str
    rsa_key: rsa.RSAPrivateKey = field(
        default_factory=lambda: rsa.generate_private_key(public_exponent=65537, key_size=2048)
    )
    fetches: int = 0

    def jwks(self) -> dict[str, Any]:
        jwk = json.loads(jwt.algorithms.RSAAlgorithm.to_jwk(self.rsa_key.public_key()))
        return {"keys": [{**jwk, "kid": "k1", "use": "sig", "alg": "RS256"}]}

    def claims(self, **overrides: Any) -> dict[str, Any]:
        now = int(time.time())
        claims = {
            "iss": self.url,
            "sub": "user-123",
            "aud": "sigstore",
            "iat": now,
            "exp": now + 300,
            "email": "alice@example.test",
            "email_verified": True,
        }
        claims.update(overrides)
        return {k: v for k, v in claims.items() if v is not None}

    def token(self, *, headers: dict[str, Any] | None = None, **overrides: Any) -> str:
        return jwt.encode(
            self.claims(**overrides),
            self.rsa_key,
            algorithm="RS256",
            headers={"kid": "k1", **(headers or {})},
        )


def _serve(issuer: Issuer) -> ThreadingHTTPServer:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/.well-known/openid-configuration":
                doc = {"issuer": issuer.url, "jwks_uri": f"{issuer.url}/jwks"}
            elif self.path == "/jwks":
                issuer.fetches += 1
                doc = issuer.jwks()
            else:
                self.send_error(404)
                return
            body = json.dumps(doc).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


@pytest.fixture(scope="session")
def oidc_server() -> Iterator[Issuer]:
    issuer = Issuer(url="")
    server = _serve(issuer)
    issuer.url = f"http://127.0.0.1:{server.server_address[1]}"
    yield issuer
    server.shutdown()
    server.server_close()


@pytest.fixture
def ca_instance(db: None, oidc_server: Issuer) -> Issuer:
    """Rekor log, CT log, an active CA, and the test issuer trusted (kind email)."""
    tlog_services.log_create(kind=Log.Kind.REKOR)
    ca_services.ct_log_ensure()
    ca_services.ca_create(name="test-ca", organization="sigportal test")
    ca_services.issuer_seed(issuer_url=oidc_server.url, kind="email", allow_http_loopback=True)
    return oidc_server


@pytest.fixture
def leaf_key() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())
