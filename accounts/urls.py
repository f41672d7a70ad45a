"""REST API routes of the accounts app (projects, maintainers, allow-lists, tokens).

Exact paths without trailing slashes, like the rest of /api/v1/. `projects/<slug>/verify`
and `projects/<slug>/policy` are verify_apis' (not routed here, not shadowed: every
route below is exact)."""

from django.urls import URLPattern, path

from accounts import apis, verify_apis

_P = "api/v1/projects/<slug:slug>"

urlpatterns: list[URLPattern] = [
    path("api/v1/projects", apis.ProjectsApi.as_view(), name="api-projects"),
    path(_P, apis.ProjectApi.as_view(), name="api-project"),
    path(f"{_P}/maintainers", apis.MaintainersApi.as_view(), name="api-maintainers"),
    path(f"{_P}/maintainers/<int:pk>", apis.MaintainerApi.as_view(), name="api-maintainer"),
    path(f"{_P}/signers", apis.SignersApi.as_view(), name="api-signers"),
    path(f"{_P}/signers/<int:pk>", apis.SignerApi.as_view(), name="api-signer"),
    path(f"{_P}/revocations", apis.ProjectRevocationsApi.as_view(), name="api-project-revocations"),
    path(f"{_P}/audit", apis.AuditApi.as_view(), name="api-audit"),
    path("api/v1/revocations", apis.RevocationsApi.as_view(), name="api-revocations"),
    path("api/v1/account/tokens", apis.TokensApi.as_view(), name="api-tokens"),
    path("api/v1/account/tokens/<int:pk>", apis.TokenApi.as_view(), name="api-token"),
    path(f"{_P}/verify", verify_apis.ProjectVerifyApi.as_view(), name="api-project-verify"),
    path(f"{_P}/policy", verify_apis.ProjectPolicyApi.as_view(), name="api-project-policy"),
    path("api/v1/trust/policy_keys.json", verify_apis.PolicyKeysApi.as_view(), name="policy-keys"),
]
