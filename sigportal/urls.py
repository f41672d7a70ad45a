from django.conf import settings
from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("tlog.page_urls")),
    path("", include("tlog.urls")),
    path("", include("ca.urls")),
    path("", include("accounts.urls")),
    path("", include("accounts.page_urls")),
    path("oidc/", include("mozilla_django_oidc.urls")),
]

if settings.DEV_IDP_ENABLED:
    urlpatterns += [path("", include("devidp.urls"))]

handler400 = "sigportal.errors.handler400"
handler404 = "sigportal.errors.handler404"
handler500 = "sigportal.errors.handler500"
