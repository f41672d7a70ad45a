"""Sign and verify git commits with a sigportal instance (gitsign's role).

``sigclient git`` is git's ``gpg.x509.program`` (with ``gpg.format=x509``): git calls it
as it calls gpgsm, ``--status-fd=2 -bsau <key>`` to sign the payload on stdin, and
``--status-fd=1 --verify <sigfile> -`` to verify, and reads ``[GNUPG:]`` status lines.

A signature is made of two parts, both by one ephemeral P-256 key that never touches disk:

- a CMS detached signature over the commit payload (``sigclient.cms``) embedding the
  short-lived certificate the instance's CA issued for the identity token, and its
  intermediates; this is what git stores in the commit's ``gpgsig`` header;
- a hashedrekord entry in the instance's log: SHA-256(payload), an ECDSA signature over that
  digest and the certificate. gitsign logs the commit SHA instead; the payload digest is
  what git hands us, so the entry can be searched for without knowing the commit id, and
  sigstore-python verifies it as an ordinary artifact signature.

Verification (``verify_payload``) checks the CMS signature against the payload, finds the
log entry by the payload digest and the certificate's key, and lets sigstore-python's
``Verifier`` check that entry as a bundle: chain to the instance's CA at the log's
integrated time, SCT, identity policy, inclusion proof, signed checkpoint and SET.
"""

from __future__ import annotations

import base64
import datetime
import hashlib
import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import IO

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec, utils
from sigstore._internal.rekor import EntryRequestBody
from sigstore._internal.rekor.client import RekorClient
from sigstore.errors import VerificationError
from sigstore.hashes import Hashed
from sigstore.models import Bundle, ClientTrustConfig
from sigstore.oidc import IdentityToken
from sigstore.verify import Verifier, policy
from sigstore_models.common.v1 import HashAlgorithm

from accounts.core.policy import certificate_identity, certificate_issuer
from sigclient import cms, rekor
from sigclient.blobs import parse_identity_token, signing_error
from sigclient.errors import ClientError, VerificationFailed

STATUS_PREFIX = "[GNUPG:] "
# OpenPGP algorithm ids git expects in SIG_CREATED (RFC 4880 9.1 and 9.4).
PK_ALGO_ECDSA = 19
HASH_ALGO_SHA256 = 8
OID_ISSUER_V2 = x509.ObjectIdentifier("1.3.6.1.4.1.57264.1.8")
# One payload digest and key give one entry in practice; a few more leave room for retries.
MAX_LOG_ENTRIES = 8


@dataclass(frozen=True)
class SignedPayload:
    """A signed commit payload: the armoured CMS signature for git, and its log entry."""

    signature: bytes
    certificate: x509.Certificate
    log_index: int


@dataclass(frozen=True)
class VerifiedPayload:
    """Who signed a payload, as the certificate says and the log confirms."""

    certificate: x509.Certificate
    identity: str
    issuer: str
    log_index: int
    integrated_time: datetime.datetime


@dataclass
class GpgArgs:
    """The gpg/gpgsm arguments git passes, and the few of our own allowed among them."""

    sign: bool = False
    verify: bool = False
    detach: bool = False
    armor: bool = False
    status_fd: int | None = None
    local_user: str | None = None
    instance: str | None = None
    identity_token: str | None = None
    files: list[str] = field(default_factory=list)


# ---- signing ---------------------------------------------------------------------------


def sign_payload(payload: bytes, *, trust: ClientTrustConfig, identity_token: str) -> SignedPayload:
    """Sign a commit payload: certificate, log entry, then the CMS signature git stores.

    The private key lives only in this call. Before returning, the log entry is verified
    with sigstore-python as a bundle (chain, SCT, inclusion), so a misconfigured instance
    fails here rather than in every later verification.
    """
    token = _fresh_token(identity_token)
    key = ec.generate_private_key(ec.SECP256R1())
    cert, chain = _certificate(trust, key, token)
    digest = hashlib.sha256(payload).digest()
    signature = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    bundle = _log_signature(trust, cert, digest, signature)
    _check_bundle(trust, bundle, digest, _own_policy(cert))
    intermediates = [c for c in chain if c.subject != c.issuer]  # the root is in the trust root
    der = cms.sign_detached(payload, key=key, cert=cert, chain=intermediates)
    return SignedPayload(cms.armor(der), cert, _bundle_log_index(bundle))


def _fresh_token(raw: str) -> IdentityToken:
    token = parse_identity_token(raw)
    if not token.in_validity_period():
        raise ClientError(
            "the identity token has expired", "Get a fresh token and set SIGSTORE_ID_TOKEN again"
        )
    return token


def _certificate(
    trust: ClientTrustConfig, key: ec.EllipticCurvePrivateKey, token: IdentityToken
) -> tuple[x509.Certificate, list[x509.Certificate]]:
    # The CSR sigstore-python sends: an empty subject (the CA takes the identity from the
    # token) and CA:FALSE; its self-signature proves possession of the key.
    csr = (
        x509.CertificateSigningRequestBuilder()
        .subject_name(x509.Name([]))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    try:
        response = trust.signing_config.get_fulcio().signing_cert.post(csr, token)
    except Exception as exc:  # HTTP, JSON and sigstore errors
        raise signing_error("getting a signing certificate", exc) from exc
    return response.cert, list(response.chain)


def _log_signature(
    trust: ClientTrustConfig, cert: x509.Certificate, digest: bytes, signature: bytes
) -> Bundle:
    pem = cert.public_bytes(serialization.Encoding.PEM)
    request = EntryRequestBody(
        {
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
    )
    try:
        entry = _rekor(trust).create_entry(request)
        return Bundle.from_parts(cert, signature, entry)
    except Exception as exc:  # HTTP, JSON and sigstore errors
        raise signing_error("recording the signature in the transparency log", exc) from exc


def _bundle_log_index(bundle: Bundle) -> int:
    return int(json.loads(bundle.to_json())["verificationMaterial"]["tlogEntries"][0]["logIndex"])


# ---- verification ----------------------------------------------------------------------


def verify_payload(
    payload: bytes,
    armored: bytes,
    *,
    trust: ClientTrustConfig,
    identity: str | None,
    issuer: str | None,
) -> VerifiedPayload:
    """Verify a git signature over ``payload``; raise ``VerificationFailed`` if it fails.

    With ``identity`` and ``issuer`` the certificate must name exactly them; with neither,
    any identity the instance certified is accepted and returned for the caller to show
    (gitsign's behaviour under ``git verify-commit``). Needs the log to be reachable.
    """
    # (1) The CMS signature covers exactly this payload, by the key in its leaf.
    try:
        signed = cms.verify_detached(cms.dearmor(armored), payload)
    except cms.CmsError as exc:
        raise VerificationFailed(
            f"bad signature: {exc}",
            "The commit was changed after signing, or the signature is not one sigclient made",
        ) from exc
    leaf = signed.leaf
    # (2) The identity policy: explicit, or whatever the certificate names.
    expected: policy.VerificationPolicy
    if identity is not None and issuer is not None:
        expected = policy.Identity(identity=identity, issuer=issuer)
    elif identity is None and issuer is None:
        expected = _own_policy(leaf)
    else:
        raise ClientError("an identity policy needs both the identity and the issuer", "")
    # (3) The log holds a signature by the same certificate over the same digest, and
    # sigstore-python accepts it as a bundle (chain, SCT, policy, inclusion, SET, time).
    digest = hashlib.sha256(payload).digest()
    bundle = _verified_log_bundle(trust, leaf, digest, expected)
    return VerifiedPayload(
        certificate=leaf,
        identity=certificate_identity(leaf) or "",
        issuer=certificate_issuer(leaf) or "",
        log_index=_bundle_log_index(bundle),
        integrated_time=_integrated_time(bundle),
    )


def _verified_log_bundle(
    trust: ClientTrustConfig,
    leaf: x509.Certificate,
    digest: bytes,
    expected: policy.VerificationPolicy,
) -> Bundle:
    base = _rekor(trust).url.removesuffix("/api/v1")
    pem = leaf.public_bytes(serialization.Encoding.PEM)
    query = {
        "hash": f"sha256:{digest.hex()}",
        "publicKey": {"format": "x509", "content": base64.b64encode(pem).decode()},
        "operator": "and",
    }
    uuids = rekor.search(base, query)
    if not uuids:
        raise VerificationFailed(
            "the signature is not in the transparency log "
            f"(no entry for sha256:{digest.hex()} and this certificate)",
            "Do not trust this commit: every sigclient signature is logged when it is made",
        )
    failures = []
    for uuid in uuids[:MAX_LOG_ENTRIES]:
        entry = rekor.entry_by_uuid(base, uuid)
        try:
            bundle = rekor.bundle_from_entry(entry, certificate=leaf, digest=digest)
            _check_bundle(trust, bundle, digest, expected)
            return bundle
        except rekor.MalformedEntry as exc:
            failures.append(str(exc))
        except VerificationFailed as exc:
            failures.append(exc.message)
    raise VerificationFailed(
        "the log entry for this signature does not verify: " + "; ".join(failures),
        "Do not trust this commit (check --cert-identity and --cert-oidc-issuer)",
    )


def _check_bundle(
    trust: ClientTrustConfig, bundle: Bundle, digest: bytes, expected: policy.VerificationPolicy
) -> None:
    hashed = Hashed(algorithm=HashAlgorithm.SHA2_256, digest=digest)
    try:
        Verifier(trusted_root=trust.trusted_root).verify_artifact(hashed, bundle, expected)
    except VerificationError as exc:
        raise VerificationFailed(str(exc), "") from exc


def _integrated_time(bundle: Bundle) -> datetime.datetime:
    entry = json.loads(bundle.to_json())["verificationMaterial"]["tlogEntries"][0]
    return datetime.datetime.fromtimestamp(int(entry["integratedTime"]), tz=datetime.UTC)


def _rekor(trust: ClientTrustConfig) -> RekorClient:
    for tlog in trust.signing_config.get_tlogs():
        if isinstance(tlog, RekorClient):
            return tlog
    raise ClientError(
        "the trust configuration names no Rekor v1 log",
        "Git signatures are searched for with the Rekor v1 API; check the instance's signingConfig",
    )


# ---- certificates ----------------------------------------------------------------------


def fingerprint(cert: x509.Certificate) -> str:
    """The certificate's SHA-256 fingerprint, upper-case hex, as gpgsm prints fingerprints."""
    return cert.fingerprint(hashes.SHA256()).hex().upper()


def _own_policy(cert: x509.Certificate) -> policy.Identity:
    identity, issuer = certificate_identity(cert), certificate_issuer(cert)
    if identity is None or issuer is None:
        raise VerificationFailed(
            "the signing certificate names no identity or no issuer",
            "It was not issued by a Sigstore-style CA; do not trust this signature",
        )
    return policy.Identity(identity=identity, issuer=issuer)


# ---- commits ---------------------------------------------------------------------------


def split_signed_commit(raw: bytes, header: bytes = b"gpgsig") -> tuple[bytes, bytes | None]:
    """Split a raw commit object into (payload git signed, armoured signature or None).

    As git does (commit.c parse_buffer_signed_by_header): in the header block, the
    ``<header>`` line and its continuation lines (which start with one space) are the
    signature; everything else, byte for byte, is the payload. Other algorithms'
    signature headers (``gpgsig-sha256`` in a SHA-1 repository) stay in the payload.
    """
    end = raw.find(b"\n\n")
    head, rest = (raw, b"") if end < 0 else (raw[: end + 1], raw[end + 1 :])
    payload: list[bytes] = []
    signature: list[bytes] = []
    in_signature = False
    for line in head.splitlines(keepends=True):
        if in_signature and line.startswith(b" "):
            signature.append(line[1:])
            continue
        in_signature = line.startswith(header + b" ")
        if in_signature:
            signature.append(line[len(header) + 1 :])
        else:
            payload.append(line)
    return b"".join(payload) + rest, (b"".join(signature) if signature else None)


def verify_commit(
    rev: str,
    *,
    trust: ClientTrustConfig,
    identity: str,
    issuer: str,
    cwd: str | None = None,
) -> VerifiedPayload:
    """Verify the signature of commit ``rev`` (in the repository at ``cwd``) with a policy."""
    raw = git_output(["cat-file", "commit", rev], cwd=cwd)
    header = b"gpgsig-sha256" if _object_format(cwd) == "sha256" else b"gpgsig"
    payload, signature = split_signed_commit(raw, header)
    if signature is None:
        raise VerificationFailed(f"commit {rev} is not signed", "Sign it with git commit -S")
    return verify_payload(payload, signature, trust=trust, identity=identity, issuer=issuer)


def _object_format(cwd: str | None) -> str:
    try:
        return git_output(["rev-parse", "--show-object-format"], cwd=cwd).decode().strip()
    except ClientError:
        return "sha1"


def git_output(args: Sequence[str], *, cwd: str | None = None) -> bytes:
    """Run ``git ARGS`` and return its stdout; a failure is a ClientError with git's words."""
    try:
        done = subprocess.run(  # noqa: S603 (fixed program, arguments are not a shell line)
            ["git", *args],  # noqa: S607 (git from PATH, as git itself finds gpg programs)
            cwd=cwd,
            capture_output=True,
            check=False,
            timeout=60,
        )
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise ClientError(f"cannot run git: {exc}", "Check that git is installed") from exc
    if done.returncode != 0:
        words = done.stderr.decode("utf-8", "replace").strip().splitlines()
        raise ClientError(
            f"git {' '.join(args)} failed: {words[-1] if words else done.returncode}", ""
        )
    return done.stdout


def git_config(key: str, *, cwd: str | None = None) -> str | None:
    """A git config value (repository, then global), or None when it is not set."""
    try:
        value = git_output(["config", "--get", key], cwd=cwd).decode().strip()
    except ClientError:
        return None
    return value or None


# ---- the gpg-compatible program --------------------------------------------------------


def parse_gpg_args(argv: Sequence[str]) -> GpgArgs:
    """Parse the gpgsm-style arguments git passes (``-bsau KEY``, ``--status-fd=N``, ...)."""
    out = GpgArgs()
    tokens = list(argv)
    i = 0
    while i < len(tokens):
        word = tokens[i]
        i += 1
        if word == "--":
            out.files.extend(tokens[i:])
            break
        if word.startswith("--"):
            name, eq, value = word[2:].partition("=")
            if name in _VALUE_OPTIONS and not eq:
                if i >= len(tokens):
                    raise ClientError(f"--{name} needs a value", _GIT_HINT)
                value, i = tokens[i], i + 1
            _long_option(out, name, value)
        elif word.startswith("-") and len(word) > 1:
            i = _short_options(out, word[1:], tokens, i)
        else:
            out.files.append(word)
    return out


_VALUE_OPTIONS = {"status-fd", "local-user", "keyid-format", "instance", "identity-token"}
_FLAGS = {
    "sign": "sign",
    "verify": "verify",
    "detach-sign": "detach",
    "detached-sign": "detach",
    "armor": "armor",
}
_GIT_HINT = (
    "sigclient git is meant to be git's gpg.x509.program: "
    "git config gpg.format x509; git config gpg.x509.program <wrapper> (see docs/client.md)"
)


def _long_option(out: GpgArgs, name: str, value: str) -> None:
    if name in _FLAGS:
        setattr(out, _FLAGS[name], True)
        out.sign = out.sign or name.startswith("detach")
    elif name == "status-fd":
        out.status_fd = _fd(value)
    elif name == "local-user":
        out.local_user = value
    elif name == "instance":
        out.instance = value
    elif name == "identity-token":
        out.identity_token = value
    elif name != "keyid-format":  # gpg's, passed by git for OpenPGP; meaningless here
        raise ClientError(f"unknown option --{name}", _GIT_HINT)


def _short_options(out: GpgArgs, cluster: str, tokens: list[str], i: int) -> int:
    for pos, letter in enumerate(cluster):
        if letter == "u":  # -u KEY, or -uKEY
            rest = cluster[pos + 1 :]
            if not rest and i >= len(tokens):
                raise ClientError("-u needs a value", _GIT_HINT)
            out.local_user = rest or tokens[i]
            return i if rest else i + 1
        flag = {"b": "detach", "s": "sign", "a": "armor", "v": "verify"}.get(letter)
        if flag is None:
            raise ClientError(f"unknown option -{letter}", _GIT_HINT)
        setattr(out, flag, True)
        out.sign = out.sign or letter == "b"
    return i


def _fd(value: str) -> int:
    try:
        fd = int(value)
    except ValueError:
        raise ClientError(f"--status-fd needs a number, not {value!r}", _GIT_HINT) from None
    if fd < 0:
        raise ClientError("--status-fd needs a file descriptor", _GIT_HINT)
    return fd


class StatusWriter:
    """gpg's status protocol: ``[GNUPG:] KEYWORD args`` lines on the --status-fd."""

    def __init__(self, fd: int | None) -> None:
        self._stream: IO[str] | None
        if fd is None:
            self._stream = None
        elif fd == 1:
            self._stream = sys.stdout
        elif fd == 2:
            self._stream = sys.stderr
        else:
            self._stream = os.fdopen(fd, "w", closefd=False)

    def emit(self, keyword: str, *args: object) -> None:
        """Write one status line and flush it (git reads them as they come)."""
        if self._stream is None:
            return
        line = " ".join([STATUS_PREFIX + keyword, *map(str, args)])
        self._stream.write(line + "\n")
        self._stream.flush()


def run_program(
    argv: Sequence[str],
    *,
    load_trust: Callable[[str | None], ClientTrustConfig],
    environ_token: str | None,
    stdin: IO[bytes] | None = None,
    stdout: IO[bytes] | None = None,
    human: Callable[[str], None] | None = None,
) -> None:
    """Act as gpgsm for git: sign (``-bsau KEY``) or verify (``--verify SIG -``).

    ``load_trust`` gets the ``--instance`` given among the gpg arguments (or None) and
    returns the trust to use. Raises ``VerificationFailed`` on a bad signature (after the
    BADSIG status line) and ``ClientError`` on other failures.
    """
    args = parse_gpg_args(argv)
    stdin = stdin or sys.stdin.buffer
    stdout = stdout or sys.stdout.buffer
    say = human or _stderr
    status = StatusWriter(args.status_fd)
    if args.sign == args.verify:
        raise ClientError("give exactly one of --sign (-bs) and --verify", _GIT_HINT)
    if args.sign:
        _program_sign(args, status, load_trust, environ_token, stdin, stdout, say)
    else:
        _program_verify(args, status, load_trust, stdin, say)


def _program_sign(
    args: GpgArgs,
    status: StatusWriter,
    load_trust: Callable[[str | None], ClientTrustConfig],
    environ_token: str | None,
    stdin: IO[bytes],
    stdout: IO[bytes],
    say: Callable[[str], None],
) -> None:
    if not args.detach:
        raise ClientError("only detached signatures (-b) are supported", _GIT_HINT)
    # git looks for "\n[GNUPG:] SIG_CREATED ", so some status line must come first.
    status.emit("BEGIN_SIGNING")
    payload = _read_input(args.files[0] if args.files else "-", stdin)
    token = args.identity_token or environ_token
    if not token:
        raise ClientError(
            "no identity token to sign the commit with",
            "git runs sigclient itself, so export SIGSTORE_ID_TOKEN before git commit -S",
        )
    signed = sign_payload(payload, trust=load_trust(args.instance), identity_token=token)
    stdout.write(signed.signature)
    stdout.flush()
    created = int(datetime.datetime.now(tz=datetime.UTC).timestamp())
    fpr = fingerprint(signed.certificate)
    status.emit("SIG_CREATED", "D", PK_ALGO_ECDSA, HASH_ALGO_SHA256, "00", created, fpr)
    who = certificate_identity(signed.certificate)
    say(f"sigclient: signed as {who}; transparency log index {signed.log_index}")


def _program_verify(
    args: GpgArgs,
    status: StatusWriter,
    load_trust: Callable[[str | None], ClientTrustConfig],
    stdin: IO[bytes],
    say: Callable[[str], None],
) -> None:
    status.emit("NEWSIG")
    if len(args.files) != 2:
        status.emit("ERRSIG", "-", PK_ALGO_ECDSA, HASH_ALGO_SHA256, "00", 0, 4)
        raise ClientError("--verify needs SIGFILE and DATAFILE (or -)", _GIT_HINT)
    armored = _read_input(args.files[0], stdin)
    payload = _read_input(args.files[1], stdin)
    identity, issuer = git_config("sigclient.identity"), git_config("sigclient.issuer")
    if (identity is None) != (issuer is None):
        status.emit("ERRSIG", "-", PK_ALGO_ECDSA, HASH_ALGO_SHA256, "00", 0, 9)
        raise ClientError(
            "git config sets only one of sigclient.identity and sigclient.issuer",
            "Set both (an identity policy) or neither (accept any certified identity)",
        )
    try:
        result = verify_payload(
            payload, armored, trust=load_trust(args.instance), identity=identity, issuer=issuer
        )
    except VerificationFailed:
        _emit_bad(status, armored)  # the command line then prints "error: <why>"
        raise
    except ClientError:
        status.emit("ERRSIG", "-", PK_ALGO_ECDSA, HASH_ALGO_SHA256, "00", 0, 9)
        raise
    fpr = fingerprint(result.certificate)
    status.emit("GOODSIG", fpr, result.identity)
    status.emit("TRUST_FULLY", 0, "shell")
    for line in describe(result, policy_from_config=identity is not None):
        say(line)


def describe(result: VerifiedPayload, *, policy_from_config: bool) -> list[str]:
    """The human lines ``git log --show-signature`` prints for a good signature."""
    when = result.integrated_time.strftime("%Y-%m-%dT%H:%M:%SZ")
    lines = [
        f"sigclient: Good signature from {result.identity} (issuer {result.issuer})",
        f"sigclient: certificate SHA-256 {fingerprint(result.certificate)}",
        f"sigclient: transparency log index {result.log_index}, integrated {when}",
    ]
    if not policy_from_config:
        lines.append(
            "sigclient: WARNING: no identity policy (git config sigclient.identity and "
            "sigclient.issuer); any identity the instance certified is accepted"
        )
    return lines


def _emit_bad(status: StatusWriter, armored: bytes) -> None:
    try:
        leaf = cms.embedded_signer(cms.dearmor(armored))
    except cms.CmsError:
        leaf = None
    if leaf is None:
        status.emit("ERRSIG", "-", PK_ALGO_ECDSA, HASH_ALGO_SHA256, "00", 0, 4)
    else:
        status.emit("BADSIG", fingerprint(leaf), certificate_identity(leaf) or "-")


def _read_input(name: str, stdin: IO[bytes]) -> bytes:
    if name == "-":
        return stdin.read()
    try:
        with open(name, "rb") as f:
            return f.read()
    except OSError as exc:
        raise ClientError(f"cannot read {name}: {exc.strerror}", "") from exc


def _stderr(line: str) -> None:
    print(line, file=sys.stderr, flush=True)
