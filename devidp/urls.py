"""Routes of the development identity provider, mounted at the root by sigportal/urls.py.

DOT's views sit in their own "oauth2_provider" namespace (its discovery view reverses
those names) under ISSUER_PATH, so that {issuer}/.well-known/openid-configuration works.
Only the OIDC provider endpoints are mounted: no application management pages.
"""

from django.urls import include, path
from oauth2_provider import views as dot_views

from devidp import ISSUER_PATH, views

oauth2_provider_patterns = [
    path("authorize/", views.DevAuthorizationView.as_view(), name="authorize"),
    path("token/", dot_views.TokenView.as_view(), name="token"),
    path("revoke_token/", dot_views.RevokeTokenView.as_view(), name="revoke-token"),
    path(
        ".well-known/openid-configuration",
        dot_views.ConnectDiscoveryInfoView.as_view(),
        name="oidc-connect-discovery-info",
    ),
    path(".well-known/jwks.json", dot_views.JwksInfoView.as_view(), name="jwks-info"),
    path("userinfo/", dot_views.UserInfoView.as_view(), name="user-info"),
]

devidp_patterns = [
    path("login/", views.sign_in, name="login"),
]

urlpatterns = [
    path(f"{ISSUER_PATH}/", include((devidp_patterns, "devidp"))),
    path(f"{ISSUER_PATH}/", include((oauth2_provider_patterns, "oauth2_provider"))),
]
