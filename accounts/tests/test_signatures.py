"""accounts.signatures: the project page's signatures, judged by the allow-list.

In-process: genuine leaves from this instance's CA (ca.services issues them with their
SCT), hashedrekord entries submitted to the log as the Rekor API would."""

from __future__ import annotations

import base64
import hashlib
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accounts.models import Project, Revocation, TrustedSigner
from accounts.signatures import project_signatures
from ca import services as ca_services
from ca.core import oids
from ca.core import x509 as cax509
from tlog import selectors
from tlog import services as tlog_services
from tlog.kinds import accept_proposed_entry
from tlog.models import Entry, Log

ISSUER = "https://idp.example.test"
GITHUB = "https://token.actions.githubusercontent.com"
REPO = "https://github.com/org/repo"
WORKFLOW = f"{REPO}/.github/workflows/release.yml@refs/tags/v1"


def make_instance() -> None:
    """A Rekor log, the CT log and an active CA, as sigportal_init makes them."""
    tlog_services.log_create(kind=Log.Kind.REKOR)
    ca_services.ct_log_ensure()
    ca_services.ca_create(name="test-ca", organization="sigportal test")


@dataclass
class Signed:
    entry: Entry
    cert: x509.Certificate
    signature: bytes
    artifact: bytes

    @property
    def leaf_hex(self) -> str:
        return bytes(self.entry.leaf_hash).hex()

    @property
    def uuid(self) -> str:
        return selectors.entry_uuid(self.entry)

    @property
    def serial(self) -> str:
        return format(self.cert.serial_number, "x")


def issue(
    identity: str, key: ec.EllipticCurvePrivateKey, *, issuer: str = ISSUER, **extensions: str
) -> x509.Certificate:
    """A genuine leaf of this instance's CA (what POST /api/v2/signingCert returns)."""
    kind = "uri" if "://" in identity else "email"
    ext = {oid.dotted_string: value for oid, value in _ext_oids(extensions).items()}
    named = cax509.Identity(san_kind=kind, san_value=identity, issuer=issuer, extensions=ext)
    return ca_services._issue(named, key.public_key()).leaf


def _ext_oids(extensions: dict[str, str]) -> dict[x509.ObjectIdentifier, str]:
    names = {"source_repository": oids.SOURCE_REPOSITORY_URI, "build_trigger": oids.BUILD_TRIGGER}
    return {names[k]: v for k, v in extensions.items()}


def log_signature(
    artifact: bytes, key: ec.EllipticCurvePrivateKey, cert: x509.Certificate
) -> Signed:
    """Sign the artifact's SHA-256 and log it as hashedrekord 0.0.1."""
    digest = hashlib.sha256(artifact).digest()
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    pem = cert.public_bytes(serialization.Encoding.PEM)
    proposed = {
        "apiVersion": "0.0.1",
        "kind": "hashedrekord",
        "spec": {
            "signature": {
                "content": base64.b64encode(signature).decode(),
                "publicKey": {"content": base64.b64encode(pem).decode()},
            },
            "data": {"hash": {"algorithm": "sha256", "value": digest.hex()}},
        },
    }
    entry = tlog_services.entry_submit(
        kind=Log.Kind.REKOR, accepted=accept_proposed_entry(proposed)
    )
    return Signed(entry, cert, signature, artifact)


def sign(identity: str, artifact: bytes, **kwargs: Any) -> Signed:
    key = ec.generate_private_key(ec.SECP256R1())
    return log_signature(artifact, key, issue(identity, key, **kwargs))


def forged_leaf(identity: str, key: ec.EllipticCurvePrivateKey) -> x509.Certificate:
    """A Fulcio-looking leaf for `identity` from a CA that is not this instance's."""
    ca_key = ec.generate_private_key(ec.SECP256R1())
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "not-our-ca")])
    now = datetime.now(UTC)
    return (
        x509.CertificateBuilder()
        .subject_name(x509.Name([]))
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=1))
        .not_valid_after(now + timedelta(minutes=10))
        .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(identity)]), critical=True)
        .add_extension(x509.KeyUsage(True, *[False] * 8), critical=True)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), critical=False)
        .add_extension(x509.UnrecognizedExtension(oids.ISSUER_V1, ISSUER.encode()), critical=False)
        .sign(ca_key, hashes.SHA256())
    )


@pytest.fixture
def instance(db: None) -> None:
    make_instance()


@pytest.fixture
def project(instance: None) -> Project:
    project = Project.objects.create(slug="demo", name="Demo")
    TrustedSigner.objects.create(project=project, issuer=ISSUER, identity="alice@example.test")
    TrustedSigner.objects.create(
        project=project,
        issuer=GITHUB,
        identity=f"{REPO}/.github/workflows/*@refs/tags/*",
        match=TrustedSigner.Match.PATTERN,
        source_repository=REPO,
    )
    return project


def by_uuid(project: Project) -> dict[str, Any]:
    return {row.uuid: row for row in project_signatures(project=project)}


def test_allowed_signers_and_everyone_else_over_their_artifacts(project: Project) -> None:
    alice = sign("alice@example.test", b"release 1.0")
    mallory = sign("mallory@example.test", b"release 1.0")
    bob = sign("bob@example.test", b"bob's own thing")
    rows = by_uuid(project)
    assert set(rows) == {alice.uuid, mallory.uuid}
    mine = rows[alice.uuid]
    assert (mine.status, mine.identity, mine.issuer) == ("trusted", "alice@example.test", ISSUER)
    assert mine.rule_id == TrustedSigner.objects.get(identity="alice@example.test").pk
    assert mine.digest == "sha256:" + hashlib.sha256(b"release 1.0").hexdigest()
    assert mine.log_index == selectors.global_index(alice.entry)
    assert mine.integrated_time == alice.entry.integrated_time
    theirs = rows[mallory.uuid]
    assert theirs.status == "untrusted" and theirs.rule_id is None
    assert any("mallory@example.test" in reason for reason in theirs.reasons)
    assert bob.uuid not in rows


def test_pattern_rules_use_the_prefix_then_the_whole_pattern(project: Project) -> None:
    tagged = sign(WORKFLOW, b"tagged", issuer=GITHUB, source_repository=REPO)
    branch = sign(
        f"{REPO}/.github/workflows/release.yml@refs/heads/main",
        b"branch build",
        issuer=GITHUB,
        source_repository=REPO,
    )
    other_repo = sign(
        f"{REPO}-fork/.github/workflows/release.yml@refs/tags/v1",
        b"fork",
        issuer=GITHUB,
        source_repository=f"{REPO}-fork",
    )
    rows = by_uuid(project)
    assert rows[tagged.uuid].status == "trusted"
    assert branch.uuid not in rows and other_repo.uuid not in rows


def test_constraints_and_issuer_are_part_of_the_judgement(project: Project) -> None:
    wrong_repo = sign(WORKFLOW, b"x", issuer=GITHUB, source_repository=f"{REPO}-fork")
    wrong_issuer = sign("alice@example.test", b"y", issuer="https://other.example.test")
    rows = by_uuid(project)
    assert rows[wrong_repo.uuid].status == "untrusted"
    assert "source_repository" in " ".join(rows[wrong_repo.uuid].reasons)
    assert rows[wrong_issuer.uuid].status == "untrusted"
    assert "issuer" in " ".join(rows[wrong_issuer.uuid].reasons)


def test_a_certificate_not_from_our_ca_is_untrusted_whoever_it_names(project: Project) -> None:
    key = ec.generate_private_key(ec.SECP256R1())
    forged = log_signature(b"release 1.0", key, forged_leaf("alice@example.test", key))
    row = by_uuid(project)[forged.uuid]
    assert row.status == "untrusted" and row.identity == "alice@example.test"
    assert "does not chain to this instance's CA" in row.reasons[0]


def test_revocations_for_the_project_and_instance_wide(project: Project) -> None:
    entry_revoked = sign("alice@example.test", b"one")
    cert_revoked = sign("alice@example.test", b"two")
    fine = sign("alice@example.test", b"three")
    Revocation.objects.create(
        project=project, target_kind="entry", target=entry_revoked.leaf_hex, reason="leaked"
    )
    Revocation.objects.create(
        project=None, target_kind="certificate", target=cert_revoked.serial, reason="stolen key"
    )
    other = Project.objects.create(slug="other", name="Other")
    Revocation.objects.create(
        project=other, target_kind="entry", target=fine.leaf_hex, reason="not ours"
    )
    rows = by_uuid(project)
    assert rows[entry_revoked.uuid].status == "revoked"
    assert "for this project: leaked" in rows[entry_revoked.uuid].reasons[0]
    assert rows[cert_revoked.uuid].status == "revoked"
    assert "instance-wide: stolen key" in rows[cert_revoked.uuid].reasons[0]
    assert rows[fine.uuid].status == "trusted"


def test_newest_first_bounded_and_a_fixed_number_of_queries(
    project: Project, django_assert_max_num_queries: Any
) -> None:
    signed = [sign("alice@example.test", f"artifact {i}".encode()) for i in range(5)]
    sign("mallory@example.test", b"artifact 4")
    with django_assert_max_num_queries(9):
        rows = project_signatures(project=project, limit=3)
    assert len(rows) == 3
    assert [r.log_index for r in rows] == sorted((r.log_index for r in rows), reverse=True)
    assert rows[0].identity == "mallory@example.test"
    assert {r.uuid for r in rows[1:]} == {signed[4].uuid, signed[3].uuid}


def test_an_empty_allow_list_shows_nothing(instance: None) -> None:
    sign("alice@example.test", b"z")
    assert project_signatures(project=Project.objects.create(slug="e", name="E")) == []
