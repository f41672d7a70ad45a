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

from sigclient.attest import attest_file, verify_attestation
from sigclient.blobs import sign_files, verify_files
from sigclient.errors import ClientError, VerificationFailed
from sigclient.trust import default_pin_dir, load_trust

EXIT_OK = 0
EXIT_VERIFICATION_FAILED = 1
EXIT_ERROR = 2
TOKEN_ENV = "SIGSTORE_ID_TOKEN"  # noqa: S105 (a variable name, not a secret)
INSTANCE_ENV = "SIGCLIENT_INSTANCE"


def main(argv: Sequence[str] | None = None) -> int:
    """Run one ``sigclient`` command and return its exit code."""
    try:
        args = build_parser().parse_args(argv)
    except SystemExit as exc:  # argparse exits on --help and usage errors
        return exc.code if isinstance(exc.code, int) else EXIT_ERROR
    try:
        args.run(args)
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
    return EXIT_OK


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


def _token_option(p: argparse.ArgumentParser) -> None:
    p.add_argument("--identity-token", metavar="JWT", help=f"OIDC token (default: ${TOKEN_ENV})")


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
        progress=_progress if len(args.files) > 1 else None,
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


def _trust(args: argparse.Namespace) -> ClientTrustConfig:
    instance = args.instance
    if instance is None and args.trust_config is None:
        instance = os.environ.get(INSTANCE_ENV) or None
    if instance is None and args.trust_config is None:
        raise ClientError(
            "no instance to trust",
            "Pass --instance URL (or set SIGCLIENT_INSTANCE) or --trust-config FILE",
        )
    return load_trust(
        instance,
        args.trust_config,
        pin_dir=args.pin_dir or default_pin_dir(),
        refresh=args.refresh_trust,
    )


def _identity_token(args: argparse.Namespace) -> str:
    token: str | None = args.identity_token or os.environ.get(TOKEN_ENV)
    if not token:
        raise ClientError(
            "no identity token to sign with",
            f"Pass --identity-token JWT or set {TOKEN_ENV}; get a token from your "
            "instance's identity provider",
        )
    return token


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


def _report(exc: ClientError, verbose: bool, code: int) -> int:
    if verbose:
        traceback.print_exception(exc, file=sys.stderr)
    print(f"error: {exc}", file=sys.stderr)
    return code
