"""The CA certificate profiles, checked the way sigstore-python checks them.

The chain is built with cryptography's web-PKI client verifier configured exactly as
`sigstore/verify/verifier.py: _verify_chain_at_time` does, and the embedded SCT is
checked with sigstore-python's own `sigstore._internal.sct.verify_sct`.
"""

from __future__ import annotations

import base64
import hashlib
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest
from cryptography import x509
from cryptography.hazmat import asn1
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.asymmetric.types import PublicKeyTypes
from cryptography.x509.oid import ExtendedKeyUsageOID
from cryptography.x509.verification import (
    Criticality,
    ExtensionPolicy,
    PolicyBuilder,
    Store,
    VerificationError,
)
from sigstore._internal.sct import verify_sct as sigstore_verify_sct
from sigstore._internal.trust import CTKeyring, Keyring
from sigstore.errors import VerificationError as SigstoreVerificationError
from sigstore.verify import policy
from sigstore_models.common import v1 as common_v1

from ca.core import oids
from ca.core.sct import (
    SignedCertificateTimestamp,
    UnloggedPrecertSigner,
    public_key_sha256,
    verify_sct,
)
from ca.core.x509 import (
    Identity,
    KeyCertSigner,
    PrecertLogger,
    create_intermediate,
    create_root,
    issue_leaf,
)

NOW = datetime(2025, 6, 1, 12, 0, 0, 123456, tzinfo=UTC)
ISSUER = "https://issuer.example.test"
EMAIL_IDENTITY = Identity("email", "alice@example.test", ISSUER)


@dataclass(frozen=True)
class Pki:
    root: x509.Certificate
    intermediate: x509.Certificate
    intermediate_signer: KeyCertSigner
    ct_key: ec.EllipticCurvePrivateKey


def make_pki(curve: ec.EllipticCurve) -> Pki:
    root_signer = KeyCertSigner(ec.generate_private_key(curve))
    intermediate_key = ec.generate_private_key(curve)
    window = {"not_before": NOW - timedelta(days=1), "not_after": NOW + timedelta(days=365)}
    root = create_root("sigportal root", "sigportal.test", root_signer, **window)
    intermediate = create_intermediate(
        root, root_signer, "sigportal intermediate", "sigportal.test",
        intermediate_key.public_key(), **window,
    )  # fmt: skip
    return Pki(
        root, intermediate, KeyCertSigner(intermediate_key), ec.generate_private_key(ec.SECP256R1())
    )


@pytest.fixture(scope="module", params=["P-384", "P-256"])
def pki(request: pytest.FixtureRequest) -> Pki:
    curve = ec.SECP384R1() if request.param == "P-384" else ec.SECP256R1()
    return make_pki(curve)


def issue(
    pki: Pki,
    identity: Identity = EMAIL_IDENTITY,
    *,
    leaf_key: PublicKeyTypes | None = None,
    logger: PrecertLogger | None = None,
    validity: timedelta = timedelta(minutes=10),
    serial: int | None = None,
) -> x509.Certificate:
    return issue_leaf(
        identity,
        leaf_key or ec.generate_private_key(ec.SECP256R1()).public_key(),
        pki.intermediate,
        pki.intermediate_signer,
        logger or UnloggedPrecertSigner(pki.ct_key),
        now=NOW,
        validity=validity,
        serial=serial,
    )


def sigstore_chain(
    pki: Pki, leaf: x509.Certificate, at: datetime, *, root_only: bool = False
) -> list[x509.Certificate]:
    """sigstore-python's _verify_chain_at_time, verbatim in effect.

    With `root_only`, the intermediate is an untrusted intermediate instead of an
    anchor, so the web-PKI CA policy is applied to it in full.
    """
    ca_policy = ExtensionPolicy.webpki_defaults_ca().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    ee_policy = ExtensionPolicy.webpki_defaults_ee().may_be_present(
        x509.ExtendedKeyUsage, Criticality.NON_CRITICAL, None
    )
    verifier = (
        PolicyBuilder()
        .store(Store([pki.root] if root_only else [pki.root, pki.intermediate]))
        .time(at)
        .extension_policies(ca_policy=ca_policy, ee_policy=ee_policy)
        .build_client_verifier()
    )
    untrusted = [pki.intermediate] if root_only else []
    return verifier.verify(leaf, untrusted).chain[1:]


def ct_keyring(ct_key: ec.EllipticCurvePrivateKey) -> CTKeyring:
    """A sigstore-python CT keyring holding our CT log key, as a trusted root would."""
    spki = ct_key.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    # ProtoBytes fields take the base64 text, as in trusted_root.json.
    key = common_v1.PublicKey(
        raw_bytes=base64.b64encode(spki),
        key_details=common_v1.PublicKeyDetails.PKIX_ECDSA_P256_SHA_256,
    )
    return CTKeyring(Keyring([key]))


def ext(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> x509.Extension[x509.ExtensionType]:
    return cert.extensions.get_extension_for_oid(oid)


def raw_value(cert: x509.Certificate, oid: x509.ObjectIdentifier) -> bytes:
    value = ext(cert, oid).value
    assert isinstance(value, x509.UnrecognizedExtension)
    return value.value


# --- the interop test -----------------------------------------------------------


def test_sigstore_python_accepts_chain_sct_and_identity(pki: Pki) -> None:
    leaf = issue(pki)

    chain = sigstore_chain(pki, leaf, NOW + timedelta(minutes=5))
    # Every certificate in the store is a trust anchor, so the path stops at the
    # intermediate (INTEROP §2.5).
    assert chain == [pki.intermediate]
    sigstore_verify_sct(leaf, chain, ct_keyring(pki.ct_key))
    policy.Identity(identity="alice@example.test", issuer=ISSUER).verify(leaf)
    policy.OIDCIssuerV2(ISSUER).verify(leaf)


def test_intermediate_passes_the_web_pki_ca_policy_below_the_root(pki: Pki) -> None:
    leaf = issue(pki)

    chain = sigstore_chain(pki, leaf, NOW + timedelta(minutes=5), root_only=True)

    assert chain == [pki.intermediate, pki.root]


def test_sigstore_python_rejects_sct_from_another_log(pki: Pki) -> None:
    leaf = issue(pki)
    chain = sigstore_chain(pki, leaf, NOW + timedelta(minutes=5))
    other_log = ec.generate_private_key(ec.SECP256R1())

    with pytest.raises(SigstoreVerificationError, match="SCT verify failed"):
        sigstore_verify_sct(leaf, chain, ct_keyring(other_log))


def test_chain_is_refused_outside_the_leaf_validity(pki: Pki) -> None:
    leaf = issue(pki)

    with pytest.raises(VerificationError):
        sigstore_chain(pki, leaf, NOW + timedelta(minutes=11))
    with pytest.raises(VerificationError):
        sigstore_chain(pki, leaf, NOW - timedelta(seconds=5))


# --- leaf profile (INTEROP §2.5) --------------------------------------------------


def test_leaf_profile(pki: Pki) -> None:
    leaf_key = ec.generate_private_key(ec.SECP256R1()).public_key()
    leaf = issue(pki, leaf_key=leaf_key)

    assert leaf.version == x509.Version.v3
    assert 0 < leaf.serial_number < 2**159
    assert leaf.subject == x509.Name([])
    assert leaf.issuer == pki.intermediate.subject
    assert leaf.not_valid_before_utc == NOW.replace(microsecond=0)
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(minutes=10)

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    assert san.critical
    assert list(san.value) == [x509.RFC822Name("alice@example.test")]

    key_usage = leaf.extensions.get_extension_for_class(x509.KeyUsage)
    assert key_usage.critical
    assert key_usage.value.digital_signature
    assert not key_usage.value.key_cert_sign

    eku = leaf.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical
    assert list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING]

    aki = leaf.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    inter_ski = pki.intermediate.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)
    assert aki.key_identifier == inter_ski.value.digest
    ski = leaf.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert ski == x509.SubjectKeyIdentifier.from_public_key(leaf_key)

    with pytest.raises(x509.ExtensionNotFound):
        leaf.extensions.get_extension_for_class(x509.BasicConstraints)


def test_issuer_extensions_raw_and_der(pki: Pki) -> None:
    leaf = issue(pki)

    assert raw_value(leaf, oids.ISSUER_V1) == ISSUER.encode()  # raw, not DER
    assert raw_value(leaf, oids.ISSUER_V2) == b"\x0c" + bytes([len(ISSUER)]) + ISSUER.encode()
    assert not ext(leaf, oids.ISSUER_V1).critical
    assert not ext(leaf, oids.ISSUER_V2).critical


def test_sct_list_is_last_non_critical_and_single(pki: Pki) -> None:
    leaf = issue(pki)

    last = list(leaf.extensions)[-1]
    assert last.oid == oids.SCT_LIST
    assert not last.critical
    assert isinstance(last.value, x509.PrecertificateSignedCertificateTimestamps)
    assert len(last.value) == 1
    sct = last.value[0]
    assert sct.log_id == public_key_sha256(pki.ct_key.public_key())
    assert sct.timestamp == NOW.replace(microsecond=123000, tzinfo=None)


def test_sct_verifies_with_our_verifier_over_the_precert_tbs(pki: Pki) -> None:
    leaf = issue(pki)
    parsed = leaf.extensions.get_extension_for_class(
        x509.PrecertificateSignedCertificateTimestamps
    ).value[0]
    sct = SignedCertificateTimestamp(
        parsed.log_id,
        int(parsed.timestamp.replace(tzinfo=UTC).timestamp() * 1000),
        parsed.signature,
    )
    issuer_hash = public_key_sha256(pki.intermediate_signer.public_key())

    verify_sct(sct, pki.ct_key.public_key(), leaf.tbs_precertificate_bytes, issuer_hash)


def test_logger_receives_the_precert_tbs_and_issuer_hash(pki: Pki) -> None:
    calls: list[tuple[bytes, bytes, int]] = []
    signer = UnloggedPrecertSigner(pki.ct_key)

    class RecordingLogger:
        def log_precert(
            self, tbs_precert: bytes, issuer_key_hash: bytes, timestamp_ms: int, precertificate=None
        ) -> SignedCertificateTimestamp:
            calls.append((tbs_precert, issuer_key_hash, timestamp_ms))
            return signer.log_precert(tbs_precert, issuer_key_hash, timestamp_ms + 1500)

    leaf = issue(pki, logger=RecordingLogger())

    [(tbs, issuer_hash, suggested)] = calls
    assert tbs == leaf.tbs_precertificate_bytes
    intermediate_spki = pki.intermediate.public_key().public_bytes(
        serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    assert issuer_hash == hashlib.sha256(intermediate_spki).digest()
    assert suggested == int(NOW.timestamp() * 1000)
    # The logger picked its own time; the certificate carries that one.
    sct = leaf.extensions.get_extension_for_class(x509.PrecertificateSignedCertificateTimestamps)
    assert sct.value[0].timestamp.replace(tzinfo=UTC).timestamp() * 1000 == suggested + 1500


def test_sct_outside_the_validity_is_refused(pki: Pki) -> None:
    signer = UnloggedPrecertSigner(pki.ct_key)

    class LateLogger:
        def log_precert(
            self, tbs_precert: bytes, issuer_key_hash: bytes, timestamp_ms: int, precertificate=None
        ) -> SignedCertificateTimestamp:
            return signer.log_precert(tbs_precert, issuer_key_hash, timestamp_ms + 3_600_000)

    with pytest.raises(ValueError, match="SCT timestamp"):
        issue(pki, logger=LateLogger())


def test_custom_validity_and_serial(pki: Pki) -> None:
    leaf = issue(pki, validity=timedelta(minutes=3), serial=4242)

    assert leaf.serial_number == 4242
    assert leaf.not_valid_after_utc - leaf.not_valid_before_utc == timedelta(minutes=3)


# --- identities and Fulcio extensions --------------------------------------------


def test_uri_identity_with_github_extensions(pki: Pki) -> None:
    workflow = "https://github.com/octo/repo/.github/workflows/release.yml@refs/tags/v1"
    identity = Identity(
        "uri",
        workflow,
        "https://token.actions.githubusercontent.com",
        {
            oids.GITHUB_WORKFLOW_TRIGGER.dotted_string: "push",
            oids.GITHUB_WORKFLOW_REPOSITORY.dotted_string: "octo/repo",
            oids.BUILD_SIGNER_URI.dotted_string: workflow,
            oids.SOURCE_REPOSITORY_REF.dotted_string: "refs/tags/v1",
            oids.DEPLOYMENT_ENVIRONMENT.dotted_string: "",  # empty: left out, as Fulcio does
        },
    )
    leaf = issue(pki, identity)

    sigstore_chain(pki, leaf, NOW + timedelta(minutes=1))
    policy.AllOf(
        [
            policy.Identity(identity=workflow, issuer=identity.issuer),
            policy.GitHubWorkflowTrigger("push"),  # raw bytes
            policy.GitHubWorkflowRepository("octo/repo"),  # raw bytes
            policy.OIDCBuildSignerURI(workflow),  # DER UTF8String
            policy.OIDCSourceRepositoryRef("refs/tags/v1"),  # DER UTF8String
        ]
    ).verify(leaf)
    fulcio = [e.oid for e in leaf.extensions if oids.fulcio_arc(e.oid) is not None]
    assert fulcio == [
        oids.ISSUER_V1,
        oids.GITHUB_WORKFLOW_TRIGGER,
        oids.GITHUB_WORKFLOW_REPOSITORY,
        oids.ISSUER_V2,
        oids.BUILD_SIGNER_URI,
        oids.SOURCE_REPOSITORY_REF,
    ]


def test_othername_identity_is_fulcio_shaped(pki: Pki) -> None:
    leaf = issue(pki, Identity("othername", "alice!example.test", ISSUER))

    san = leaf.extensions.get_extension_for_class(x509.SubjectAlternativeName)
    [name] = list(san.value)
    assert isinstance(name, x509.OtherName)
    assert name.type_id == oids.OTHERNAME_SAN
    assert asn1.decode_der(str, name.value) == "alice!example.test"
    sigstore_chain(pki, leaf, NOW + timedelta(minutes=1))
    # sigstore-python 4.5.1 compares the otherName's DER bytes (tag and length
    # included) with the expected identity, so a username never matches there
    # (INTEROP §2.5). Fulcio has the same shape; this pins the known quirk.
    with pytest.raises(SigstoreVerificationError, match="do not match"):
        policy.Identity(identity="alice!example.test", issuer=ISSUER).verify(leaf)


@pytest.mark.parametrize(
    "extensions",
    [
        {oids.ISSUER_V1.dotted_string: "https://other"},
        {oids.ISSUER_V2.dotted_string: "https://other"},
        {oids.OTHERNAME_SAN.dotted_string: "x"},
        {"1.2.3.4": "x"},
    ],
)
def test_identity_refuses_foreign_or_issuer_extensions(extensions: dict[str, str]) -> None:
    with pytest.raises(ValueError):
        Identity("email", "alice@example.test", ISSUER, extensions)


# --- refusals ---------------------------------------------------------------------


@pytest.mark.parametrize(
    "make_key",
    [
        lambda: rsa.generate_private_key(65537, 2048).public_key(),
        lambda: ed25519.Ed25519PrivateKey.generate().public_key(),
        lambda: ec.generate_private_key(ec.SECP521R1()).public_key(),
    ],
    ids=["rsa", "ed25519", "p521"],
)
def test_leaf_key_must_be_p256_or_p384(make_key: Callable[[], PublicKeyTypes]) -> None:
    pki = make_pki(ec.SECP256R1())
    with pytest.raises(ValueError, match="P-256 or P-384"):
        issue(pki, leaf_key=make_key())


def test_signer_must_match_the_issuing_certificate() -> None:
    pki = make_pki(ec.SECP256R1())
    stranger = KeyCertSigner(ec.generate_private_key(ec.SECP256R1()))

    with pytest.raises(ValueError, match="not the issuing certificate's key"):
        issue_leaf(
            EMAIL_IDENTITY,
            ec.generate_private_key(ec.SECP256R1()).public_key(),
            pki.intermediate,
            stranger,
            UnloggedPrecertSigner(pki.ct_key),
            now=NOW,
        )


def test_naive_now_is_refused() -> None:
    pki = make_pki(ec.SECP256R1())
    with pytest.raises(ValueError, match="timezone-aware"):
        issue_leaf(
            EMAIL_IDENTITY,
            ec.generate_private_key(ec.SECP256R1()).public_key(),
            pki.intermediate,
            pki.intermediate_signer,
            UnloggedPrecertSigner(pki.ct_key),
            now=NOW.replace(tzinfo=None),
        )


def test_ca_keys_must_be_p256_or_p384() -> None:
    with pytest.raises(ValueError):
        KeyCertSigner(ec.generate_private_key(ec.SECP521R1()))


# --- root and intermediate profiles ----------------------------------------------


def test_root_profile(pki: Pki) -> None:
    root = pki.root

    assert root.issuer == root.subject
    root.verify_directly_issued_by(root)
    bc = root.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca
    ku = root.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier)


def test_intermediate_profile(pki: Pki) -> None:
    inter = pki.intermediate

    inter.verify_directly_issued_by(pki.root)
    bc = inter.extensions.get_extension_for_class(x509.BasicConstraints)
    assert bc.critical and bc.value.ca and bc.value.path_length == 0
    ku = inter.extensions.get_extension_for_class(x509.KeyUsage)
    assert ku.critical and ku.value.key_cert_sign and ku.value.crl_sign
    eku = inter.extensions.get_extension_for_class(x509.ExtendedKeyUsage)
    assert not eku.critical and list(eku.value) == [ExtendedKeyUsageOID.CODE_SIGNING]
    aki = inter.extensions.get_extension_for_class(x509.AuthorityKeyIdentifier).value
    root_ski = pki.root.extensions.get_extension_for_class(x509.SubjectKeyIdentifier).value
    assert aki.key_identifier == root_ski.digest


def test_signer_from_pem_round_trip() -> None:
    key = ec.generate_private_key(ec.SECP384R1())
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )

    signer = KeyCertSigner.from_pem(pem)

    assert public_key_sha256(signer.public_key()) == public_key_sha256(key.public_key())
    rsa_pem = rsa.generate_private_key(65537, 2048).private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    with pytest.raises(ValueError):
        KeyCertSigner.from_pem(rsa_pem)
