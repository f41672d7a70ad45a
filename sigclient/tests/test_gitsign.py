"""sigclient.git and sigclient.cms without a server: payload extraction, the gpg-style
arguments git passes, and CMS signatures made and checked against a test CA."""

from __future__ import annotations

import datetime
import io
import shutil
import subprocess

import pytest
from asn1crypto import cms as asn1_cms
from cryptography import x509
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from accounts.core.policy import certificate_identity, certificate_issuer
from ca.core.oids import ISSUER_V1 as OID_ISSUER_V1
from sigclient import cms
from sigclient.errors import ClientError, VerificationFailed
from sigclient.git import (
    parse_gpg_args,
    run_program,
    split_signed_commit,
)

ISSUER = "https://issuer.example.test"
SIGNER = "alice@example.test"
SIGNATURE = (
    b"-----BEGIN SIGNED MESSAGE-----\n"
    b"MIIEaBgkqhkiG9w0BBwKgggQ5MIIENQIBATENMAsGCWCGSAFlAwQCATALBgkqhkiG\n"
    b"-----END SIGNED MESSAGE-----\n"
)
PAYLOAD = (
    b"tree 4b825dc642cb6eb9a060e54bf8d69288fbee4904\n"
    b"author Alice <alice@example.test> 1700000000 +0000\n"
    b"committer Alice <alice@example.test> 1700000000 +0000\n"
    b"\n"
    b"a message\n\ngpgsig in the body is only text\n"
)


def signed_commit(payload: bytes, signature: bytes, header: bytes = b"gpgsig") -> bytes:
    """Insert a signature header the way git does: after the committer line."""
    head, _, body = payload.partition(b"\n\n")
    lines = signature.rstrip(b"\n").split(b"\n")
    value = header + b" " + b"\n ".join(lines) + b"\n"
    return head + b"\n" + value + b"\n" + body


# ---- payload extraction -----------------------------------------------------------------


def test_split_recovers_payload_and_signature_byte_for_byte():
    payload, signature = split_signed_commit(signed_commit(PAYLOAD, SIGNATURE))
    assert payload == PAYLOAD
    assert signature == SIGNATURE


def test_split_unsigned_commit():
    assert split_signed_commit(PAYLOAD) == (PAYLOAD, None)


def test_split_keeps_other_algorithms_signature_in_the_payload():
    # A SHA-1 repository signs gpgsig; a gpgsig-sha256 header is part of what it signed.
    other = signed_commit(PAYLOAD, b"OTHER\nSIG\n", header=b"gpgsig-sha256")
    raw = signed_commit(other, SIGNATURE)
    payload, signature = split_signed_commit(raw)
    assert payload == other and signature == SIGNATURE
    payload, signature = split_signed_commit(raw, b"gpgsig-sha256")
    assert signature == b"OTHER\nSIG\n"
    assert payload == signed_commit(PAYLOAD, SIGNATURE)


# ---- gpg arguments ------------------------------------------------------------------------


def test_git_sign_arguments():
    args = parse_gpg_args(["--status-fd=2", "-bsau", "Alice <alice@example.test>"])
    assert (args.sign, args.detach, args.armor, args.verify) == (True, True, True, False)
    assert args.status_fd == 2 and args.local_user == "Alice <alice@example.test>"
    assert args.files == []


def test_git_verify_arguments():
    args = parse_gpg_args(["--keyid-format=long", "--status-fd=1", "--verify", "/tmp/sig", "-"])
    assert args.verify and not args.sign and args.status_fd == 1
    assert args.files == ["/tmp/sig", "-"]


def test_long_forms_and_our_own_options():
    args = parse_gpg_args(
        ["--detach-sign", "--armor", "--local-user", "K", "--status-fd", "5", "--instance=U"]
    )
    assert args.sign and args.detach and args.local_user == "K" and args.status_fd == 5
    assert args.instance == "U"
    assert parse_gpg_args(["-uKEY", "-bs"]).local_user == "KEY"


@pytest.mark.parametrize(
    "argv", [["-x"], ["--frobnicate"], ["--status-fd=x"], ["-bsau"], ["--status-fd"]]
)
def test_bad_arguments_are_client_errors(argv):
    with pytest.raises(ClientError):
        parse_gpg_args(argv)


def test_neither_sign_nor_verify_is_an_error():
    with pytest.raises(ClientError, match="exactly one"):
        run_program(["--status-fd=1"], load_trust=lambda _: None, environ_token=None)


# ---- CMS against a test CA ------------------------------------------------------------------


class FakeCA:
    """A root, an intermediate, and leaves shaped like the instance's (SAN + issuer ext)."""

    def __init__(self) -> None:
        self.now = datetime.datetime.now(datetime.UTC)
        self.root_key = ec.generate_private_key(ec.SECP256R1())
        self.root = self._ca("Test Root", self.root_key, None, self.root_key)
        self.int_key = ec.generate_private_key(ec.SECP256R1())
        self.intermediate = self._ca("Test Intermediate", self.int_key, self.root, self.root_key)

    def _ca(self, name, key, issuer, issuer_key):
        subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
        return (
            self._builder(subject, issuer.subject if issuer else subject, key)
            .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
            .sign(issuer_key, hashes.SHA256())
        )

    def _builder(self, subject, issuer, key):
        return (
            x509.CertificateBuilder()
            .subject_name(subject)
            .issuer_name(issuer)
            .public_key(key.public_key())
            .serial_number(x509.random_serial_number())
            .not_valid_before(self.now - datetime.timedelta(minutes=1))
            .not_valid_after(self.now + datetime.timedelta(minutes=10))
        )

    def leaf(self, email: str = SIGNER) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
        key = ec.generate_private_key(ec.SECP256R1())
        cert = (
            self._builder(x509.Name([]), self.intermediate.subject, key)
            .add_extension(x509.SubjectAlternativeName([x509.RFC822Name(email)]), critical=True)
            .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.CODE_SIGNING]), False)
            .add_extension(x509.UnrecognizedExtension(OID_ISSUER_V1, ISSUER.encode()), False)
            .sign(self.int_key, hashes.SHA256())
        )
        return key, cert


@pytest.fixture(scope="module")
def ca() -> FakeCA:
    return FakeCA()


@pytest.fixture(scope="module")
def signed(ca):
    key, cert = ca.leaf()
    return cert, cms.sign_detached(PAYLOAD, key=key, cert=cert, chain=[ca.intermediate])


def test_round_trip_through_the_armour(signed):
    cert, der = signed
    armored = cms.armor(der)
    assert armored.startswith(b"-----BEGIN SIGNED MESSAGE-----\n")
    assert max(len(line) for line in armored.splitlines()) <= 64
    assert cms.dearmor(armored) == der
    assert cms.dearmor(armored.replace(b"\n", b"\r\n")) == der  # git on Windows
    result = cms.verify_detached(der, PAYLOAD)
    assert result.leaf == cert
    assert certificate_identity(result.leaf) == SIGNER
    assert certificate_issuer(result.leaf) == ISSUER
    assert len(result.certificates) == 2  # the leaf and the intermediate, not the root
    assert result.signing_time is not None
    assert abs((result.signing_time - datetime.datetime.now(datetime.UTC)).total_seconds()) < 120


def test_payload_is_signed_byte_for_byte(signed):
    _, der = signed
    # cryptography's default "canonical MIME" would have signed CRLF line ends.
    with pytest.raises(cms.CmsError, match="digest does not match"):
        cms.verify_detached(der, PAYLOAD.replace(b"\n", b"\r\n"))


def test_changed_payload_fails(signed):
    _, der = signed
    with pytest.raises(cms.CmsError, match="digest does not match"):
        cms.verify_detached(der, PAYLOAD.replace(b"a message", b"b message"))


def test_signature_by_another_key_fails(ca, signed):
    # The signed attributes re-signed by a key other than the embedded certificate's.
    _, der = signed
    info = asn1_cms.ContentInfo.load(der)
    signer = info["content"]["signer_infos"][0]
    attrs = b"\x31" + signer["signed_attrs"].dump()[1:]
    signer["signature"] = ca.leaf()[0].sign(attrs, ec.ECDSA(hashes.SHA256()))
    with pytest.raises(cms.CmsError, match="does not verify"):
        cms.verify_detached(info.dump(force=True), PAYLOAD)


@pytest.mark.parametrize(
    "armored",
    [b"", b"-----BEGIN PGP SIGNATURE-----\nAAAA\n-----END PGP SIGNATURE-----\n", b"junk"],
)
def test_not_a_cms_signature(armored):
    with pytest.raises(cms.CmsError):
        cms.dearmor(armored)


def test_garbage_der_is_a_cms_error():
    with pytest.raises(cms.CmsError, match="not valid CMS"):
        cms.verify_detached(b"\x30\x03\x02\x01\x01", PAYLOAD)


@pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")
def test_openssl_accepts_the_signature(signed, tmp_path):
    _, der = signed
    (tmp_path / "sig.der").write_bytes(der)
    (tmp_path / "payload").write_bytes(PAYLOAD)
    done = subprocess.run(
        [
            *("openssl", "cms", "-verify", "-binary", "-noverify", "-inform", "DER"),
            *("-in", str(tmp_path / "sig.der"), "-content", str(tmp_path / "payload")),
        ],
        capture_output=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr.decode()


# ---- the gpg program's status lines for a bad signature (no network reached) ---------------


def test_verify_tampered_payload_reports_badsig(signed, tmp_path, monkeypatch, capsys):
    _, der = signed
    sig = tmp_path / "sig"
    sig.write_bytes(cms.armor(der))
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GIT_CONFIG_GLOBAL", str(tmp_path / "none"))
    monkeypatch.setenv("GIT_CONFIG_NOSYSTEM", "1")
    with pytest.raises(VerificationFailed, match="bad signature"):
        run_program(
            ["--status-fd=1", "--verify", str(sig), "-"],
            load_trust=lambda _: None,  # the CMS check fails before trust is used
            environ_token=None,
            stdin=io.BytesIO(PAYLOAD + b"tampered"),
        )
    out = capsys.readouterr()
    assert out.out.splitlines()[0] == "[GNUPG:] NEWSIG"
    assert out.out.splitlines()[1].startswith("[GNUPG:] BADSIG ")
    assert out.out.splitlines()[1].endswith(" " + SIGNER)
    assert "GOODSIG" not in out.out
