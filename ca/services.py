"""Writes of the certificate authority: creating CAs, registering issuers, issuing.

Issuance, in order (each step's failure is the caller's 4xx, except where noted):
1. parse the request (CSR, or public key + proof of possession) and the unverified token;
2. choose the configured issuer by the token's unverified `iss`; no other is contacted;
3. verify the token (signature against the issuer's JWKS, algorithms, audience, times);
   an unreachable issuer is a 503;
4. check the proof of possession and map the claims to a certificate identity;
5. issue the leaf: its precertificate is logged in the CT log (integrated and covered by
   a signed checkpoint) before the SCT is signed, so every certificate we ever return is
   in the log; then the issued certificate is recorded.
A crash after step 5's CT logging leaves a logged precertificate whose certificate was
never returned: harmless (it is an unused, short-lived certificate), and the CT log is
what an auditor checks anyway.
"""

from __future__ import annotations

import secrets
import threading
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import partial

from cryptography import x509
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from django.db import connection, transaction

from ca.core import oidc, sct, signing_requests
from ca.core import x509 as cax509
from ca.models import CaEvent, CertificateAuthority, IssuedCertificate, OidcIssuer
from sigportal import keys
from sigportal.db import execute_prepared
from tlog import services as tlog_services
from tlog.kinds import AcceptedEntry
from tlog.models import Entry, Log

ROOT_VALIDITY = timedelta(days=3650)
INTERMEDIATE_VALIDITY = timedelta(days=1825)


class IssuanceError(Exception):
    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message


# --- CA and CT log setup --------------------------------------------------------------


def _cert_signer(key_ref: str) -> cax509.KeyCertSigner:
    signer = keys.signer_load(key_ref)
    assert isinstance(signer, keys.FileSigner)
    return cax509.KeyCertSigner(signer.private_key)  # type: ignore[arg-type]


def _new_intermediate(
    root: x509.Certificate, root_key_ref: str, name: str, organization: str
) -> tuple[x509.Certificate, str]:
    now = datetime.now(UTC).replace(microsecond=0)
    int_key = keys.key_create(name=f"ca-{name}-intermediate", algorithm="ecdsa-p256")
    intermediate = cax509.create_intermediate(
        root,
        _cert_signer(root_key_ref),
        f"{name} intermediate",
        organization,
        int_key.public_key(),  # type: ignore[arg-type]
        not_before=now - timedelta(minutes=5),
        not_after=min(now + INTERMEDIATE_VALIDITY, root.not_valid_after_utc),
    )
    return intermediate, int_key.key_ref


def _install_ca(*, actor: str, action: str, **fields: str) -> CertificateAuthority:
    """Store a CA and make it the one that issues; the previous one is retired (it stays
    in the trusted root). Audited in the same transaction."""
    with transaction.atomic():
        CertificateAuthority.objects.filter(active=True).update(
            active=False, retired_at=datetime.now(UTC)
        )
        authority = CertificateAuthority.objects.create(active=True, **fields)
        CaEvent.objects.create(action=action, actor=actor, detail=authority.name)
    return authority


def ca_create(*, name: str, organization: str, actor: str = "") -> CertificateAuthority:
    """A new root (P-384) and intermediate (P-256); becomes the active CA."""
    now = datetime.now(UTC).replace(microsecond=0)
    root_key = keys.key_create(name=f"ca-{name}-root", algorithm="ecdsa-p384")
    root = cax509.create_root(
        f"{name} root",
        organization,
        _cert_signer(root_key.key_ref),
        not_before=now - timedelta(minutes=5),
        not_after=now + ROOT_VALIDITY,
    )
    intermediate, int_key_ref = _new_intermediate(root, root_key.key_ref, name, organization)
    pem = serialization.Encoding.PEM
    return _install_ca(
        actor=actor,
        action="ca_created",
        name=name,
        root_pem=root.public_bytes(pem).decode(),
        intermediate_pem=intermediate.public_bytes(pem).decode(),
        root_key_ref=root_key.key_ref,
        intermediate_key_ref=int_key_ref,
    )


def intermediate_roll(*, actor: str) -> CertificateAuthority:
    """Issue from a new intermediate under the same root. The old intermediate stays in
    the trusted root, so certificates it issued keep verifying."""
    current = _active_ca()
    root = x509.load_pem_x509_certificate(current.root_pem.encode())
    organization = root.subject.get_attributes_for_oid(x509.NameOID.ORGANIZATION_NAME)[0].value
    name = f"{current.name.split('~')[0]}~{datetime.now(UTC):%Y%m%d%H%M%S}-{secrets.token_hex(2)}"
    intermediate, int_key_ref = _new_intermediate(
        root, current.root_key_ref, name, str(organization)
    )
    return _install_ca(
        actor=actor,
        action="intermediate_rolled",
        name=name,
        root_pem=current.root_pem,
        intermediate_pem=intermediate.public_bytes(serialization.Encoding.PEM).decode(),
        root_key_ref=current.root_key_ref,
        intermediate_key_ref=int_key_ref,
    )


def ct_log_ensure() -> Log:
    """The active CT log, created with its own ECDSA P-256 key if missing.

    No genesis entry: every CT leaf must be an RFC 6962 MerkleTreeLeaf, and the
    logIndex-0 problem of INTEROP §4.8 concerns Rekor bundles only.
    """
    existing = Log.objects.filter(kind=Log.Kind.CT, state=Log.State.ACTIVE).first()
    return existing or tlog_services.log_create(kind=Log.Kind.CT, genesis=False)


def issuer_seed(
    *,
    issuer_url: str,
    kind: str,
    audience: str = "sigstore",
    subject_domain: str = "",
    allow_http_loopback: bool = False,
    note: str = "",
    actor: str = "sigportal_init",
) -> OidcIssuer:
    """Trust an issuer from configuration if it is not known yet.

    An existing row is left alone: an operator who disabled or edited an issuer in the
    admin is never overridden by the next start.
    """
    oidc.IssuerConfig(  # validates the URL, kind and domain before anything is stored
        issuer_url=issuer_url,
        kind=kind,  # type: ignore[arg-type]
        audience=audience,
        subject_domain=subject_domain or None,
    )
    with transaction.atomic():
        issuer, created = OidcIssuer.objects.get_or_create(
            issuer_url=issuer_url,
            defaults={
                "kind": kind,
                "audience": audience,
                "subject_domain": subject_domain,
                "allow_http_loopback": allow_http_loopback,
                "note": note,
            },
        )
        if created:
            CaEvent.objects.create(action="issuer_trusted", actor=actor, detail=issuer_url)
    return issuer


# --- issuance -------------------------------------------------------------------------

# One JWKS cache per issuer per process: keys are fetched at most once a minute for an
# unknown kid, never per request.
_jwks_caches: dict[tuple[str, bool], oidc.JwksCache] = {}
_jwks_lock = threading.Lock()


def _jwks_cache(issuer: OidcIssuer) -> oidc.JwksCache:
    key = (issuer.issuer_url, issuer.allow_http_loopback)
    with _jwks_lock:
        cache = _jwks_caches.get(key)
        if cache is None:
            cache = oidc.JwksCache(
                partial(oidc.fetch_json_https, allow_http_loopback=issuer.allow_http_loopback)
            )
            _jwks_caches[key] = cache
    return cache


def _issuer_config(issuer: OidcIssuer) -> oidc.IssuerConfig:
    return oidc.IssuerConfig(
        issuer_url=issuer.issuer_url,
        kind=issuer.kind,  # type: ignore[arg-type]
        audience=issuer.audience,
        subject_domain=issuer.subject_domain or None,
    )


@dataclass
class IssuedChain:
    leaf: x509.Certificate
    chain: list[x509.Certificate]  # leaf first, root last
    record: IssuedCertificate


def certificate_issue(*, body: object, authorization: str | None) -> IssuedChain:
    """Verify a signing request and issue a 10-minute leaf logged in the CT log."""
    try:
        request = signing_requests.parse_signing_request(body, authorization)
    except signing_requests.RequestError as exc:
        raise IssuanceError(400, exc.code, str(exc)) from None
    verified = _verify_token(request.unverified_token)
    try:
        signing_requests.check_proof_of_possession(request, verified.claims)
        identity = oidc.identity_from_token(verified)
    except signing_requests.RequestError as exc:
        raise IssuanceError(400, exc.code, str(exc)) from None
    except oidc.TokenError as exc:
        raise IssuanceError(400, exc.code, str(exc)) from None
    return _issue(identity, request.public_key)


def _verify_token(unverified_token: str) -> oidc.VerifiedToken:
    try:
        unverified_iss = oidc.peek_unverified_issuer(unverified_token)
    except oidc.TokenError as exc:
        raise IssuanceError(401, exc.code, str(exc)) from None
    issuer = _enabled_issuer(unverified_iss)
    if issuer is None:
        raise IssuanceError(401, "unknown_issuer", "the token's issuer is not trusted here")
    try:
        return oidc.verify_token(
            unverified_token, _issuer_config(issuer), _jwks_cache(issuer), now=datetime.now(UTC)
        )
    except oidc.TokenError as exc:
        if exc.code == "issuer_unavailable":
            raise IssuanceError(503, exc.code, str(exc)) from None
        raise IssuanceError(401, exc.code, str(exc)) from None


# Plain SQL on the issuance path: compiling these two ORM queries (the issuer lookup and
# the certificate record) was about a quarter of an issuance's CPU (py-spy, bench/issue).
_ISSUER_COLUMNS = ("id", "issuer_url", "kind", "audience", "subject_domain", "allow_http_loopback")


def _enabled_issuer(issuer_url: str) -> OidcIssuer | None:
    if not (0 < len(issuer_url) <= 512 and issuer_url.isprintable()):
        return None  # cannot name a configured issuer (and a NUL would be a DataError)
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            f"SELECT {', '.join(_ISSUER_COLUMNS)} FROM ca_oidcissuer"  # noqa: S608 - fixed names
            " WHERE issuer_url = %s AND enabled",
            [issuer_url],
        )
        row = cur.fetchone()
    return None if row is None else OidcIssuer(**dict(zip(_ISSUER_COLUMNS, row, strict=True)))


def _record_insert(record: IssuedCertificate) -> IssuedCertificate:
    record.created_at = datetime.now(UTC)
    fields = [f for f in IssuedCertificate._meta.concrete_fields if not f.primary_key]
    with connection.cursor() as cur:
        execute_prepared(
            cur,
            f"INSERT INTO ca_issuedcertificate ({', '.join(f.column for f in fields)})"  # noqa: S608 - model's columns
            f" VALUES ({', '.join(['%s'] * len(fields))}) RETURNING id",
            [f.get_db_prep_save(getattr(record, f.attname), connection) for f in fields],
        )
        row = cur.fetchone()
    assert row is not None
    record.id = row[0]
    record._state.adding = False
    return record


def _active_ca() -> CertificateAuthority:
    authority = CertificateAuthority.objects.filter(active=True).first()
    if authority is None:
        raise IssuanceError(503, "ca_unavailable", "this instance has no active CA")
    return authority


@dataclass(frozen=True)
class _Issuer:
    authority: CertificateAuthority
    intermediate: x509.Certificate
    root: x509.Certificate
    signer: cax509.KeyCertSigner


# CA rows never change once written (a roll creates a new row), so their parsed chain
# and signer are cached per process; only the active CA's id is read per request.
_issuers: dict[int, _Issuer] = {}


def _active_issuer() -> _Issuer:
    with connection.cursor() as cur:
        execute_prepared(cur, "SELECT id FROM ca_certificateauthority WHERE active")
        row = cur.fetchone()
    if row is None:
        raise IssuanceError(503, "ca_unavailable", "this instance has no active CA")
    cached = _issuers.get(row[0])
    if cached is None:
        authority = CertificateAuthority.objects.get(pk=row[0])
        cached = _Issuer(
            authority=authority,
            intermediate=x509.load_pem_x509_certificate(authority.intermediate_pem.encode()),
            root=x509.load_pem_x509_certificate(authority.root_pem.encode()),
            signer=_cert_signer(authority.intermediate_key_ref),
        )
        _issuers[row[0]] = cached
    return cached


@dataclass
class _CtLogger:
    """Logs precertificates in the CT log and signs their SCTs with its key."""

    logged: Entry | None = None
    precert: x509.Certificate | None = None

    def log_precert(
        self,
        tbs_precert: bytes,
        issuer_key_hash: bytes,
        timestamp_ms: int,
        precertificate: x509.Certificate | None = None,
    ) -> sct.SignedCertificateTimestamp:
        leaf = sct.precert_merkle_leaf(timestamp_ms, issuer_key_hash, tbs_precert)
        self.logged = tlog_services.entry_submit(
            kind=Log.Kind.CT,
            accepted=AcceptedEntry(
                kind="precert",
                api_version="rfc6962",
                canonical_body=leaf,
                search_keys=(),
                certificates=(),
            ),
        )
        self.precert = precertificate
        # The log the entry went to (a CT shard rotation may have happened meanwhile).
        log = self.logged.log
        # RFC 6962: the SCT signs exactly the bytes of the precert MerkleTreeLeaf.
        signature = keys.signer_load(log.key_ref).sign(
            sct.precert_signed_data(timestamp_ms, issuer_key_hash, tbs_precert)
        )
        return sct.SignedCertificateTimestamp(
            log_id=log.log_id, timestamp_ms=timestamp_ms, signature=signature
        )


def _issue(identity: cax509.Identity, public_key: object) -> IssuedChain:
    # sigstore-python treats the leaf key as EC (INTEROP 1.5): P-256 or P-384 only.
    if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
        public_key.curve, ec.SECP256R1 | ec.SECP384R1
    ):
        raise IssuanceError(400, "unsupported_key", "the key must be ECDSA P-256 or P-384")
    issuer = _active_issuer()
    logger = _CtLogger()  # the CT log's shard is looked up as the entry is queued
    # Anything raised from here on is the server's fault: a fixed 500 for the caller,
    # the detail in the server log (errors.api_exception_handler).
    leaf = cax509.issue_leaf(
        identity,
        public_key,
        issuer.intermediate,
        issuer.signer,
        logger,
        now=datetime.now(UTC),
    )
    assert logger.logged is not None and logger.precert is not None
    der = serialization.Encoding.DER
    record = _record_insert(
        IssuedCertificate(
            serial_hex=format(leaf.serial_number, "x"),
            san_kind=identity.san_kind,
            san_value=identity.san_value,
            issuer_url=identity.issuer,
            key_fingerprint=keys.key_fingerprint(leaf.public_key()).hex(),
            not_before=leaf.not_valid_before_utc,
            not_after=leaf.not_valid_after_utc,
            certificate_der=leaf.public_bytes(der),
            precertificate_der=logger.precert.public_bytes(der),
            authority=issuer.authority,
            ct_entry=logger.logged,
        )
    )
    return IssuedChain(leaf=leaf, chain=[leaf, issuer.intermediate, issuer.root], record=record)
