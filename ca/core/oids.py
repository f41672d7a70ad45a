"""Object identifiers the CA writes into certificates.

The Fulcio extensions live under Sigstore's private enterprise number 57264 and are
documented in Fulcio's `docs/oid-info.md`. Two encodings are in use, and verifiers
depend on the difference:

* `.1.1` to `.1.6` hold the **raw UTF-8 bytes** of the value (an early Fulcio
  mistake that every client now expects: sigstore-python reads `.1.1` with
  `bytes.decode()`, and a DER-wrapped `.1.1` fails verification).
* `.1.8` onwards hold a DER `UTF8String` (tag 0x0C), as RFC 5280 intends.

`.1.7` is not an extension at all: it is the type id of the otherName
subjectAltName that Fulcio uses for username identities.
"""

from __future__ import annotations

from cryptography.x509 import ObjectIdentifier

_FULCIO = "1.3.6.1.4.1.57264.1"

# --- Raw-bytes extensions (deprecated in Fulcio, still required by clients) ---

#: OIDC issuer, raw bytes. Required by `sigstore verify identity` (its OIDCIssuer check).
ISSUER_V1 = ObjectIdentifier(f"{_FULCIO}.1")
#: GitHub `event_name` claim, raw bytes. Superseded by BUILD_TRIGGER.
GITHUB_WORKFLOW_TRIGGER = ObjectIdentifier(f"{_FULCIO}.2")
#: GitHub `sha` claim, raw bytes. Superseded by SOURCE_REPOSITORY_DIGEST.
GITHUB_WORKFLOW_SHA = ObjectIdentifier(f"{_FULCIO}.3")
#: GitHub `workflow` claim (the workflow's mutable name), raw bytes.
GITHUB_WORKFLOW_NAME = ObjectIdentifier(f"{_FULCIO}.4")
#: GitHub `repository` claim ("owner/name"), raw bytes. Superseded by SOURCE_REPOSITORY_URI.
GITHUB_WORKFLOW_REPOSITORY = ObjectIdentifier(f"{_FULCIO}.5")
#: GitHub `ref` claim, raw bytes. Superseded by SOURCE_REPOSITORY_REF.
GITHUB_WORKFLOW_REF = ObjectIdentifier(f"{_FULCIO}.6")

# --- otherName SAN type id ---

#: Type id of the otherName SAN holding "username!domain" (value: DER UTF8String).
OTHERNAME_SAN = ObjectIdentifier(f"{_FULCIO}.7")

# --- DER UTF8String extensions ---

#: OIDC issuer, DER UTF8String. sigstore-js prefers it over ISSUER_V1.
ISSUER_V2 = ObjectIdentifier(f"{_FULCIO}.8")
#: Reference to the build instructions that signed (e.g. a reusable workflow URL).
BUILD_SIGNER_URI = ObjectIdentifier(f"{_FULCIO}.9")
#: Immutable digest of those build instructions (e.g. a commit SHA).
BUILD_SIGNER_DIGEST = ObjectIdentifier(f"{_FULCIO}.10")
#: "github-hosted", "self-hosted", "gitlab-hosted", ...
RUNNER_ENVIRONMENT = ObjectIdentifier(f"{_FULCIO}.11")
#: URL of the source repository the build was based on.
SOURCE_REPOSITORY_URI = ObjectIdentifier(f"{_FULCIO}.12")
#: Immutable digest of the source (commit SHA).
SOURCE_REPOSITORY_DIGEST = ObjectIdentifier(f"{_FULCIO}.13")
#: Git ref that was built, e.g. "refs/heads/main".
SOURCE_REPOSITORY_REF = ObjectIdentifier(f"{_FULCIO}.14")
#: Immutable identifier of the source repository (a numeric id).
SOURCE_REPOSITORY_IDENTIFIER = ObjectIdentifier(f"{_FULCIO}.15")
#: URL of the repository owner.
SOURCE_REPOSITORY_OWNER_URI = ObjectIdentifier(f"{_FULCIO}.16")
#: Immutable identifier of the repository owner.
SOURCE_REPOSITORY_OWNER_IDENTIFIER = ObjectIdentifier(f"{_FULCIO}.17")
#: URL of the top-level build instructions.
BUILD_CONFIG_URI = ObjectIdentifier(f"{_FULCIO}.18")
#: Immutable digest of the top-level build instructions.
BUILD_CONFIG_DIGEST = ObjectIdentifier(f"{_FULCIO}.19")
#: Event that started the build, e.g. "push".
BUILD_TRIGGER = ObjectIdentifier(f"{_FULCIO}.20")
#: URL of this particular run (unique per execution).
RUN_INVOCATION_URI = ObjectIdentifier(f"{_FULCIO}.21")
#: "public", "private" or "internal" at signing time.
SOURCE_REPOSITORY_VISIBILITY_AT_SIGNING = ObjectIdentifier(f"{_FULCIO}.22")
#: Deployment environment of the job, e.g. "production".
DEPLOYMENT_ENVIRONMENT = ObjectIdentifier(f"{_FULCIO}.23")
#: The raw `sub` claim of the token. Newer Fulcio sets it for some issuer types only.
TOKEN_SUBJECT = ObjectIdentifier(f"{_FULCIO}.24")

#: Extensions whose value is the raw UTF-8 string, not DER.
RAW_VALUE_EXTENSIONS = frozenset(
    {
        ISSUER_V1,
        GITHUB_WORKFLOW_TRIGGER,
        GITHUB_WORKFLOW_SHA,
        GITHUB_WORKFLOW_NAME,
        GITHUB_WORKFLOW_REPOSITORY,
        GITHUB_WORKFLOW_REF,
    }
)

#: Extensions whose value is a DER UTF8String.
DER_UTF8_EXTENSIONS = frozenset(ObjectIdentifier(f"{_FULCIO}.{arc}") for arc in range(8, 25))

# --- Not Fulcio's, but written by the CA ---

#: RFC 6962 embedded SCT list (X.509v3 extension in the final certificate).
SCT_LIST = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.2")
#: RFC 6962 precertificate poison extension (only in a precertificate, never issued).
CT_PRECERT_POISON = ObjectIdentifier("1.3.6.1.4.1.11129.2.4.3")


def fulcio_arc(oid: ObjectIdentifier) -> int | None:
    """The last arc of a Fulcio `1.3.6.1.4.1.57264.1.N` OID, or None for other OIDs."""
    prefix, _, last = oid.dotted_string.rpartition(".")
    if prefix != _FULCIO or not last.isdigit():
        return None
    return int(last)
