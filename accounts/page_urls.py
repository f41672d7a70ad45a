"""Portal pages of the accounts app (projects and account). Sign-in and sign-out are
mozilla-django-oidc's, mounted at oidc/ by sigportal/urls.py."""

from django.urls import path

from accounts import views

urlpatterns = [
    path("projects/", views.projects_list, name="projects-list"),
    path("projects/new", views.project_new, name="project-new"),
    path("projects/<slug:slug>/", views.project_detail, name="project-detail"),
    path("projects/<slug:slug>/signers", views.signer_add, name="project-signer-add"),
    path(
        "projects/<slug:slug>/signers/<int:signer_id>/remove",
        views.signer_remove,
        name="project-signer-remove",
    ),
    path("projects/<slug:slug>/revocations", views.revocation_add, name="project-revocation-add"),
    path("projects/<slug:slug>/maintainers", views.maintainer_add, name="project-maintainer-add"),
    path(
        "projects/<slug:slug>/maintainers/<int:membership_id>/role",
        views.maintainer_role,
        name="project-maintainer-role",
    ),
    path(
        "projects/<slug:slug>/maintainers/<int:membership_id>/remove",
        views.maintainer_remove,
        name="project-maintainer-remove",
    ),
    path("account/", views.account, name="account"),
    path("account/tokens", views.api_token_create, name="account-token-create"),
    path(
        "account/tokens/<int:token_id>/delete",
        views.api_token_delete,
        name="account-token-delete",
    ),
    path("account/dev-token", views.dev_token, name="account-dev-token"),
]
