from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularAPIView

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/schema/", SpectacularAPIView.as_view(), name="schema"),
    path("", include("tlog.urls")),
]

handler400 = "sigportal.errors.handler400"
handler404 = "sigportal.errors.handler404"
handler500 = "sigportal.errors.handler500"
