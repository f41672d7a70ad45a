"""Routes of the portal's public pages (and the search API they share a module with)."""

from django.urls import path

from tlog import search_apis, views

urlpatterns = [
    path("", views.home, name="tlog-home"),
    path("search", views.search, name="tlog-search"),
    path("entries/index/<int:index>", views.entry_by_index, name="tlog-entry-index"),
    path("entries/<str:uuid>", views.entry, name="tlog-entry"),
    path("log", views.log_page, name="tlog-log"),
    path("log/<int:tree_id>", views.log_page, name="tlog-log-shard"),
    path("api/v1/search", search_apis.SearchApi.as_view(), name="api-search"),
]
