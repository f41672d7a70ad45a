"""Exact routes (no slash redirects): INTEROP §9 item 1."""

from django.urls import path, re_path

from tlog import apis

urlpatterns = [
    path("api/v1/log/entries", apis.LogEntriesApi.as_view(), name="rekor-entries"),
    path("api/v1/log/entries/retrieve/", apis.LogEntriesRetrieveApi.as_view()),
    path(
        "api/v1/log/entries/retrieve",
        apis.LogEntriesRetrieveNoSlashApi.as_view(),
        name="rekor-retrieve",
    ),
    path("api/v1/log/entries/<str:uuid>", apis.LogEntryByUuidApi.as_view(), name="rekor-entry"),
    path("api/v1/log", apis.LogInfoApi.as_view(), name="rekor-log"),
    path("api/v1/log/publicKey", apis.LogPublicKeyApi.as_view(), name="rekor-public-key"),
    path("api/v1/log/proof", apis.LogProofApi.as_view(), name="rekor-proof"),
    path("api/v1/index/retrieve", apis.IndexRetrieveApi.as_view(), name="rekor-index"),
    re_path(
        r"^tlog/(?P<tree_id>[0-9]{1,19})/checkpoint$",
        apis.TileCheckpointApi.as_view(),
        name="tiles-checkpoint",
    ),
    re_path(
        r"^tlog/(?P<tree_id>[0-9]{1,19})/tile/(?P<path>[0-9a-z./x]{1,64})$",
        apis.TileApi.as_view(),
        name="tiles-tile",
    ),
]
