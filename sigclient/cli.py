"""The ``sigclient`` command line: a thin layer over ``sigclient.trust``, ``.blobs`` and
``.attest``. Exit codes: 0 success, 1 verification failed, 2 usage or other errors."""

from __future__ import annotations

import argparse
import json
import os
import sys
import traceback
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from sigstore.models import ClientTrustConfig

from sigclient import check
from sigclient.attest import attest_file, verify_attestation
from sigclient.blobs import file_digest, sign_files, verify_files
from sigclient.errors import ClientError, VerificationFailed
from sigclient.git import describe, git_config, run_program, verify_commit
from sigclient.identity import TOKEN_ENV, obtain_token
from sigclient.images import sign_image, verify_image
from sigclient.trust import default_pin_dir, load_trust, public_trust

EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 1
EXIT_ERROR = 2
INSTANCE_ENV = "SIGCLIENT_INSTANCE"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``sigclient`` command and return its exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        code = args.run(args)  # None, or an exit code the command chose (check: 1 = denied)
    except VerificationFailed as exc:
        return _report(exc, args.verbose, EXIT_VERIFICATION_FAILED)
    except ClientError as exc:
        return _report(exc, args.verbose, EXIT_ERROR)
    except KeyboardInterrupt:
        print("error: interrupted", file=sys.stderr)
        return EXIT_ERROR
    except Exception as exc:  # the last resort: still one line, never a bare traceback
        wrapped = ClientError(
            f"unexpected {type(exc).__name__}: {exc}",
            "Rerun with --verbose and report the output",
        )
        wrapped.__cause__ = exc
        return _report(wrapped, args.verbose, EXIT_ERROR)
    return code if isinstance(code, int) else EXIT_OK


def build_parser() -> argparse.ArgumentParser:
    """The argument parser; global options work before or after the command."""
    common = _global_options(argparse.SUPPRESS)
    parser = argparse.ArgumentParser(
        prog="sigclient",
        description="Sign and verify files and attestations with a sigportal instance.",
        parents=[_global_options(None)],
    )
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    _add_sign(commands, common)
    _add_verify(commands, common)
    _add_attest(commands, common)
    _add_verify_attestation(commands, common)
    _add_git(commands)
    _add_verify_commit(commands, common)
    _add_sign_image(commands, common)
    _add_verify_image(commands, common)
    _add_check(commands, common)
    return parser


def _global_options(default: Any) -> argparse.ArgumentParser:
    # Parsed twice (before and after the command); SUPPRESS keeps the second pass from
    # overwriting a value given before the command with its default.
    def dflt(value: Any) -> Any:
        return argparse.SUPPRESS if default is argparse.SUPPRESS else value

    p = argparse.ArgumentParser(add_help=False)
    source = p.add_mutually_exclusive_group()
    source.add_argument(
        "--instance",
        metavar="URL",
        default=dflt(None),
        help="sigportal base URL; its trust config is pinned on first use "
        "(default: $SIGCLIENT_INSTANCE)",
    )
    source.add_argument(
        "--trust-config",
        metavar="FILE",
        type=Path,
        default=dflt(None),
        help="a Sigstore ClientTrustConfig JSON file to trust as is",
    )
    source.add_argument(
        "--sigstore-public",
        action="store_true",
        default=dflt(False),
        help="verify against the public Sigstore instance's trusted root (via its TUF "
        "repository; with --offline, the copy cached or shipped with sigstore-python)",
    )
    p.add_argument(
        "--offline",
        action="store_true",
        default=dflt(False),
        help="with --sigstore-public: do not refresh the TUF metadata",
    )
    p.add_argument(
        "--refresh-trust",
        action="store_true",
        default=dflt(False),
        help="accept a changed trusted root from --instance and re-pin it",
    )
    p.add_argument(
        "--pin-dir",
        type=Path,
        default=dflt(None),
        help="where pinned trust configs live (default: ~/.config/sigclient)",
    )
    p.add_argument(
        "--verbose", action="store_true", default=dflt(False), help="show full error chains"
    )
    return p


def _add_sign(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("sign", parents=[common], help="sign files (one certificate)")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _token_option(p)
    _bundle_option(p, many=True)
    p.set_defaults(run=_run_sign)


def _add_verify(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("verify", parents=[common], help="verify signed files")
    p.add_argument("files", nargs="+", type=Path, metavar="FILE")
    _policy_options(p)
    _bundle_option(p, many=True)
    p.set_defaults(run=_run_verify)


def _add_attest(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("attest", parents=[common], help="sign an in-toto attestation")
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--predicate", type=Path, required=True, metavar="P.json")
    p.add_argument("--type", dest="predicate_type", required=True, metavar="URI")
    _token_option(p)
    _bundle_option(p, many=False)
    p.set_defaults(run=_run_attest)


def _add_verify_attestation(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "verify-attestation", parents=[common], help="verify an in-toto attestation"
    )
    p.add_argument("file", type=Path, metavar="FILE")
    _policy_options(p)
    p.add_argument("--type", dest="predicate_type", metavar="URI", help="required predicate type")
    _bundle_option(p, many=False)
    p.set_defaults(run=_run_verify_attestation)


def _add_check(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "check",
        parents=[common],
        help="CI check: was FILE signed by someone on a project's allow-list?",
        description="Exit 0 allowed, 1 denied, 2 error. Without --bundle the artifact's "
        "entries are found in the instance's log by digest.",
    )
    p.add_argument("file", type=Path, metavar="FILE")
    p.add_argument("--project", required=True, metavar="SLUG", help="the project's slug")
    p.add_argument("--bundle", type=Path, help="verify this bundle instead of searching the log")
    p.add_argument(
        "--policy",
        type=Path,
        metavar="FILE",
        help="a policy document saved from GET /api/v1/projects/SLUG/policy (offline check)",
    )
    p.add_argument(
        "--policy-key",
        type=Path,
        metavar="PEM",
        help="the instance's policy public key (default: pinned from --instance on first use)",
    )
    p.add_argument("--format", choices=["text", "json"], default="text")
    p.set_defaults(run=_run_check)


def _run_check(args: argparse.Namespace) -> int:
    trust = _trust(args)
    instance = args.instance or os.environ.get(INSTANCE_ENV) or None
    if instance is None and (args.policy is None or args.bundle is None):
        raise ClientError(
            "an offline check needs both --policy FILE and --bundle FILE",
            "Pass them, or pass --instance URL to fetch the policy and search the log",
        )
    if args.policy_key is not None:
        policy_keys = [check.policy_key_file(args.policy_key)]
    elif instance is not None:
        pin_dir = args.pin_dir or default_pin_dir()
        policy_keys = check.policy_keys_pinned(instance, pin_dir=pin_dir, notify=_progress)
    else:
        raise ClientError("no policy key to check the policy with", "Pass --policy-key PEM")
    if args.policy is not None:
        raw_policy = _read_bytes(args.policy, "the policy document")
    else:
        assert instance is not None  # checked above
        raw_policy = check.policy_fetch(instance, args.project)
    project_policy = check.policy_parse(raw_policy, project=args.project, trusted_keys=policy_keys)
    if args.bundle is not None:
        candidates = check.candidates_from_bundle(args.bundle, args.file)
    else:
        assert instance is not None  # checked above
        candidates = check.candidates_from_log(instance, file_digest(args.file))
    result = check.check(
        artifact=args.file, candidates=candidates, project_policy=project_policy, trust=trust
    )
    print(json.dumps(result.as_json(), indent=2) if args.format == "json" else result.line())
    return EXIT_OK if result.allowed else EXIT_VERIFICATION_FAILED


def _read_bytes(path: Path, what: str) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise ClientError(f"cannot read {what} {path}: {exc.strerror}", "Check the path") from exc


def _add_git(commands: Any) -> None:
    # git passes gpg-style arguments (-bsau KEY, --status-fd=2, --verify F -): with "+" as
    # the only prefix, argparse takes them all, in order, as words for sigclient.git.
    p = commands.add_parser(
        "git",
        prefix_chars="+",
        add_help=False,
        help="act as git's gpg.x509.program (gpg-style arguments; see docs/client.md)",
    )
    p.add_argument("gpg_args", nargs="*")
    p.set_defaults(run=_run_git)


def _add_verify_commit(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "verify-commit", parents=[common], help="verify a signed git commit with a policy"
    )
    p.add_argument("rev", metavar="REV", help="the commit (any git revision)")
    _policy_options(p)
    p.set_defaults(run=_run_verify_commit)


def _token_option(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--identity-token",
        metavar="JWT",
        help=f"OIDC token (default: ${TOKEN_ENV}, then an ambient CI credential)",
    )
    p.add_argument(
        "--browser",
        action="store_true",
        help="sign in through the browser with the instance's identity provider "
        "(the default when a person is at the terminal and no token is given)",
    )


def _policy_options(p: argparse.ArgumentParser) -> None:
    p.add_argument("--cert-identity", required=True, help="expected signer (e.g. an email)")
    p.add_argument("--cert-oidc-issuer", required=True, help="expected OIDC issuer URL")


def _bundle_option(p: argparse.ArgumentParser, *, many: bool) -> None:
    if many:
        p.add_argument(
            "--bundle",
            type=Path,
            action="append",
            help="bundle path; repeat once per file (default: FILE.sigstore.json)",
        )
    else:
        p.add_argument("--bundle", type=Path, help="bundle path (default: FILE.sigstore.json)")


def _run_sign(args: argparse.Namespace) -> None:
    trust = _trust(args)
    bundles = sign_files(
        args.files,
        trust=trust,
        identity_token=_identity_token(args),
        bundle_paths=args.bundle,
        progress=_ProgressBar(sys.stderr) if len(args.files) > 1 else None,
    )
    for bundle in bundles:
        print(bundle)


def _run_verify(args: argparse.Namespace) -> None:
    verify_files(
        args.files,
        trust=_trust(args),
        identity=args.cert_identity,
        issuer=args.cert_oidc_issuer,
        bundle_paths=args.bundle,
    )
    for path in args.files:
        print(f"OK: {path}")


def _run_attest(args: argparse.Namespace) -> None:
    trust = _trust(args)
    bundle = attest_file(
        args.file,
        predicate=_predicate(args.predicate),
        predicate_type=args.predicate_type,
        trust=trust,
        identity_token=_identity_token(args),
        bundle=args.bundle,
    )
    print(bundle)


def _run_verify_attestation(args: argparse.Namespace) -> None:
    statement = verify_attestation(
        args.file,
        trust=_trust(args),
        identity=args.cert_identity,
        issuer=args.cert_oidc_issuer,
        predicate_type=args.predicate_type,
        bundle=args.bundle,
    )
    print(f"OK: {args.file} ({statement.get('predicateType')})")


def _add_sign_image(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser(
        "sign-image", parents=[common], help="sign a container image (by digest) in its registry"
    )
    p.add_argument("reference", metavar="REF", help="e.g. registry.example/app:v1")
    _token_option(p)
    p.set_defaults(run=_run_sign_image)


def _add_verify_image(commands: Any, common: argparse.ArgumentParser) -> None:
    p = commands.add_parser("verify-image", parents=[common], help="verify a container image")
    p.add_argument("reference", metavar="REF", help="e.g. registry.example/app:v1")
    _policy_options(p)
    p.set_defaults(run=_run_verify_image)


def _run_sign_image(args: argparse.Namespace) -> None:
    trust = _trust(args)
    signed = sign_image(args.reference, trust=trust, identity_token=_identity_token(args))
    print(f"signed {signed.image} (log index {signed.log_index})")
    print(f"cosign signature: {signed.image.name}:{signed.cosign_tag}")
    where = f" (listed in the tag {signed.fallback_tag})" if signed.fallback_tag else ""
    print(f"OCI referrer: {signed.image.name}@{signed.referrer}{where}")


def _run_verify_image(args: argparse.Namespace) -> None:
    result = verify_image(
        args.reference,
        trust=_trust(args),
        identity=args.cert_identity,
        issuer=args.cert_oidc_issuer,
    )
    print(result.image)
    for candidate in result.verified:
        print(f"OK: {candidate.where}")
    for candidate in result.rejected:
        print(f"ignored: {candidate.where}: {candidate.error}", file=sys.stderr)


def _run_git(args: argparse.Namespace) -> None:
    run_program(
        args.gpg_args,
        load_trust=lambda instance: _git_trust(args, instance),
        environ_token=os.environ.get(TOKEN_ENV),
    )


def _run_verify_commit(args: argparse.Namespace) -> None:
    result = verify_commit(
        args.rev,
        trust=_git_trust(args, None),
        identity=args.cert_identity,
        issuer=args.cert_oidc_issuer,
    )
    print(f"OK: {args.rev} signed by {result.identity} (issuer {result.issuer})")
    for line in describe(result, policy_from_config=True)[1:]:
        print(line, file=sys.stderr)


def _git_trust(args: argparse.Namespace, instance: str | None) -> ClientTrustConfig:
    # For git, the instance may also come from the repository: git config sigclient.instance.
    if instance is not None:
        args.instance = instance
    elif args.instance is None and args.trust_config is None and not os.environ.get(INSTANCE_ENV):
        args.instance = git_config("sigclient.instance")
    return _trust(args)


def _trust(args: argparse.Namespace) -> ClientTrustConfig:
    # Memoised: a command may need the trust config twice (signing, then the browser flow).
    cached: ClientTrustConfig | None = getattr(args, "_trust_config", None)
    if cached is None:
        cached = args._trust_config = _load_trust(args)
    return cached


def _load_trust(args: argparse.Namespace) -> ClientTrustConfig:
    if getattr(args, "sigstore_public", False):
        return public_trust(offline=args.offline)
    instance = args.instance
    if instance is None and args.trust_config is None:
        instance = os.environ.get(INSTANCE_ENV) or None
    if instance is None and args.trust_config is None:
        raise ClientError(
            "no instance to trust",
            "Pass --instance URL (or set SIGCLIENT_INSTANCE), --trust-config FILE "
            "or --sigstore-public",
        )
    return load_trust(
        instance,
        args.trust_config,
        pin_dir=args.pin_dir or default_pin_dir(),
        refresh=args.refresh_trust,
    )


def _identity_token(args: argparse.Namespace) -> str:
    return obtain_token(
        explicit=args.identity_token,
        trust=lambda: _trust(args),
        browser=getattr(args, "browser", False),
    )


def _predicate(path: Path) -> dict[str, Any]:
    try:
        predicate = json.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ClientError(f"cannot read the predicate {path}: {exc.strerror}", "") from exc
    except ValueError as exc:
        raise ClientError(f"the predicate {path} is not valid JSON: {exc}", "Fix the file") from exc
    if not isinstance(predicate, dict):
        raise ClientError(f"the predicate {path} is not a JSON object", "Wrap it in {...}")
    return predicate


def _progress(line: str) -> None:
    print(line, file=sys.stderr)


class _ProgressBar:
    """A bar redrawn in place on a terminal; one line a file when stderr is a log."""

    WIDTH = 30

    def __init__(self, stream: Any) -> None:
        self.stream = stream
        self.tty = stream.isatty()

    def __call__(self, done: int, total: int, message: str) -> None:
        if not self.tty:
            print(f"{message} ({done}/{total})", file=self.stream)
            return
        filled = self.WIDTH * done // total
        bar = "#" * filled + "." * (self.WIDTH - filled)
        end = "\n" if done == total else ""
        print(f"\r[{bar}] {done}/{total} {message[:60]:<60}", end=end, file=self.stream)
        self.stream.flush()


def _report(exc: ClientError, verbose: bool, code: int) -> int:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {exc}", file=sys.stderr)
    return code
