"""The OCI client and image-signature formats, without a registry or a log."""

from __future__ import annotations

import base64
import io
import json
from typing import Any

import pytest
import requests
from requests.structures import CaseInsensitiveDict

from sigclient import images, oci
from sigclient.errors import ClientError

DIGEST = "sha256:" + "ab" * 32


@pytest.mark.parametrize(
    ("text", "registry", "repository", "tag", "digest"),
    [
        ("127.0.0.1:5000/app:v1", "127.0.0.1:5000", "app", "v1", None),
        ("localhost/team/app", "localhost", "team/app", "latest", None),
        ("ubuntu", "docker.io", "library/ubuntu", "latest", None),
        ("sigstore/cosign:v2.4.1", "docker.io", "sigstore/cosign", "v2.4.1", None),
        ("ghcr.io/o/r@" + DIGEST, "ghcr.io", "o/r", None, DIGEST),
        ("reg.example:443/a/b-c_d.e:t@" + DIGEST, "reg.example:443", "a/b-c_d.e", "t", DIGEST),
    ],
)
def test_parse_reference(text, registry, repository, tag, digest):
    ref = oci.parse_reference(text)
    assert (ref.registry, ref.repository, ref.tag, ref.digest) == (
        registry,
        repository,
        tag,
        digest,
    )


@pytest.mark.parametrize(
    "text",
    ["", "Upper/app", "reg.example/app:bad tag", "reg.example/app@sha256:123", "reg.example/"],
)
def test_parse_reference_refuses(text):
    with pytest.raises(ClientError, match=r"image reference|sha256 digest"):
        oci.parse_reference(text)


def test_reference_names_and_pinning():
    ref = oci.parse_reference("127.0.0.1:5000/demo/app:v1")
    assert ref.name == "127.0.0.1:5000/demo/app"
    assert str(ref.at(DIGEST)) == f"127.0.0.1:5000/demo/app@{DIGEST}"
    assert str(ref) == "127.0.0.1:5000/demo/app:v1"


@pytest.mark.parametrize(
    ("host", "url"),
    [
        ("127.0.0.1:5000", "http://127.0.0.1:5000"),
        ("localhost:5000", "http://localhost:5000"),
        ("[::1]:5000", "http://[::1]:5000"),
        ("10.0.0.1:5000", "https://10.0.0.1:5000"),
        ("registry.example", "https://registry.example"),
        ("docker.io", "https://registry-1.docker.io"),
    ],
)
def test_plain_http_only_to_loopback(host, url):
    assert oci.registry_base_url(host) == url


def test_fallback_tag_and_digest():
    assert oci.fallback_tag(DIGEST) == "sha256-" + "ab" * 32
    assert oci.digest_of(b"{}") == (
        "sha256:44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a"
    )


@pytest.mark.parametrize(
    "bad",
    [
        None,
        {"digest": DIGEST, "size": 1},
        {"mediaType": "x", "digest": "md5:00", "size": 1},
        {"mediaType": "x", "digest": DIGEST, "size": -1},
        {"mediaType": "x", "digest": DIGEST, "size": True},
        {"mediaType": "x", "digest": DIGEST, "size": 1, "annotations": {"a": 1}},
    ],
)
def test_descriptor_refuses_malformed(bad):
    with pytest.raises(ValueError):
        oci.Descriptor.from_json(bad)


def test_descriptor_round_trip():
    doc = {"mediaType": "m", "digest": DIGEST, "size": 3, "artifactType": "t"}
    doc["annotations"] = {"k": "v"}
    assert oci.Descriptor.from_json(doc).to_json() == doc


def test_docker_credentials(tmp_path):
    config = tmp_path / "config.json"
    auth = base64.b64encode(b"alice:s3cret:x").decode()
    config.write_text(json.dumps({"auths": {"reg.example": {"auth": auth}}}))
    assert oci.docker_credentials("reg.example", config) == ("alice", "s3cret:x")
    assert oci.docker_credentials("other.example", config) is None
    assert oci.docker_credentials("reg.example", tmp_path / "missing.json") is None


def test_simple_signing_payload_is_cosigns_serialization():
    payload = images.simple_signing_payload("127.0.0.1:5000/app", DIGEST)
    assert payload == (
        b'{"critical":{"identity":{"docker-reference":"127.0.0.1:5000/app"},'
        b'"image":{"docker-manifest-digest":"' + DIGEST.encode() + b'"},'
        b'"type":"cosign container image signature"},"optional":null}'
    )
    assert images.signed_digest(payload) == DIGEST


@pytest.mark.parametrize(
    "payload",
    [b"not json", b"{}", b'{"critical":{"type":"other","image":{"docker-manifest-digest":"x"}}}'],
)
def test_signed_digest_refuses_other_payloads(payload):
    with pytest.raises(ValueError, match=r"simple-signing|signed payload"):
        images.signed_digest(payload)


def test_cosign_layer_without_keyless_annotations_is_refused():
    with pytest.raises(ValueError, match="lacks the annotation"):
        images.bundle_from_cosign(b"{}", {}, log_entry=lambda log_id, index: {})


# --- the registry client against a scripted transport ----------------------------------


class Script:
    """A stand-in for requests.Session answering from a list of canned responses."""

    def __init__(self, *responses: tuple[int, dict[str, str], bytes]) -> None:
        self.responses = list(responses)
        self.sent: list[dict[str, Any]] = []

    def request(self, method: str, url: str, **kwargs: Any) -> requests.Response:
        self.sent.append({"method": method, "url": url, **kwargs})
        return self._next(url)

    def get(self, url: str, **kwargs: Any) -> requests.Response:
        return self.request("GET", url, **kwargs)

    def _next(self, url: str) -> requests.Response:
        status, headers, body = self.responses.pop(0)
        response = requests.Response()
        response.status_code, response.url = status, url
        response.headers = CaseInsensitiveDict(headers)
        response.raw = io.BytesIO(body)
        return response


def registry(script: Script, credentials: tuple[str, str] | None = None) -> oci.Registry:
    return oci.Registry("reg.example", credentials=credentials, session=script)  # type: ignore[arg-type]


MANIFEST = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_MANIFEST}).encode()


def test_basic_auth_after_a_challenge():
    script = Script((401, {"WWW-Authenticate": 'Basic realm="r"'}, b""), (200, {}, MANIFEST))
    manifest = registry(script, ("alice", "pw")).get_manifest("app", "v1")
    assert manifest is not None and manifest.descriptor.digest == oci.digest_of(MANIFEST)
    assert script.sent[1]["headers"]["Authorization"] == "Basic YWxpY2U6cHc="
    assert oci.MANIFEST_TYPES[0] in script.sent[0]["headers"]["Accept"]


def test_bearer_token_after_a_challenge():
    challenge = (
        'Bearer realm="https://auth.example/token",service="reg",scope="repository:app:pull"'
    )
    script = Script(
        (401, {"WWW-Authenticate": challenge}, b""),
        (200, {}, b'{"token": "t0k"}'),
        (200, {}, MANIFEST),
    )
    assert registry(script).get_manifest("app", "v1") is not None
    token_request = script.sent[1]
    assert token_request["url"] == "https://auth.example/token"
    assert token_request["params"] == {"service": "reg", "scope": "repository:app:pull"}
    assert script.sent[2]["headers"]["Authorization"] == "Bearer t0k"


def test_no_credentials_for_a_basic_challenge_says_docker_login():
    script = Script((401, {"WWW-Authenticate": 'Basic realm="r"'}, b""))
    with pytest.raises(ClientError, match=r"docker login reg\.example"):
        registry(script).get_manifest("app", "v1")


def test_a_token_service_over_plain_http_is_refused():
    challenge = 'Bearer realm="http://auth.example/token",service="reg"'
    script = Script((401, {"WWW-Authenticate": challenge}, b""))
    with pytest.raises(ClientError, match="non-https token service"):
        registry(script, ("alice", "pw")).get_manifest("app", "v1")


def test_manifest_by_digest_must_hash_to_it():
    script = Script((200, {}, MANIFEST))
    with pytest.raises(ClientError, match="whose digest is"):
        registry(script).get_manifest("app", DIGEST)


def test_oversized_manifest_is_refused():
    script = Script((200, {"Content-Length": str(oci.MAX_MANIFEST_BYTES + 1)}, b"{}"))
    with pytest.raises(ClientError, match="larger than"):
        registry(script).get_manifest("app", "v1")
    script = Script((200, {}, b" " * (oci.MAX_MANIFEST_BYTES + 1)))
    with pytest.raises(ClientError, match="larger than"):
        registry(script).get_manifest("app", "v1")


def test_referrers_fall_back_to_the_tag_schema():
    entry = {"mediaType": oci.OCI_MANIFEST, "digest": DIGEST, "size": 9, "artifactType": "t"}
    index = json.dumps({"schemaVersion": 2, "mediaType": oci.OCI_INDEX, "manifests": [entry]})
    script = Script((404, {}, b"404 page not found"), (200, {}, index.encode()))
    found, from_api = registry(script).referrers("app", DIGEST)
    assert [d.digest for d in found] == [DIGEST] and not from_api
    assert script.sent[1]["url"].endswith("/v2/app/manifests/sha256-" + "ab" * 32)


def test_referrers_api_is_used_when_present():
    index = json.dumps({"manifests": []}).encode()
    script = Script((200, {"Content-Type": oci.OCI_INDEX}, index))
    assert registry(script).referrers("app", DIGEST) == ([], True)
    assert len(script.sent) == 1
