"""Exact routes at the host root: sigstore-python drops any path prefix (INTEROP §2.1)."""

from django.urls import path

from ca import apis

urlpatterns = [
    path("api/v2/signingCert", apis.SigningCertApi.as_view(), name="fulcio-signing-cert"),
    path("api/v2/trustBundle", apis.TrustBundleApi.as_view(), name="fulcio-trust-bundle"),
    path("api/v2/configuration", apis.ConfigurationApi.as_view(), name="fulcio-configuration"),
    path("api/v1/trust/trusted_root.json", apis.TrustedRootApi.as_view(), name="trusted-root"),
    path(
        "api/v1/trust/signing_config.json", apis.SigningConfigApi.as_view(), name="signing-config"
    ),
    path(
        "api/v1/trust/client_trust_config.json",
        apis.ClientTrustConfigApi.as_view(),
        name="client-trust-config",
    ),
    path("api/v1/certificates", apis.CertificateSearchApi.as_view(), name="certificates"),
    path("ct/v1/get-sth", apis.CtGetSthApi.as_view(), name="ct-get-sth"),
    path("ct/v1/get-sth-consistency", apis.CtGetSthConsistencyApi.as_view()),
    path("ct/v1/get-proof-by-hash", apis.CtGetProofByHashApi.as_view()),
    path("ct/v1/get-entries", apis.CtGetEntriesApi.as_view()),
    path("ct/v1/get-roots", apis.CtGetRootsApi.as_view()),
]
