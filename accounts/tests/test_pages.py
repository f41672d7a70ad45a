"""The portal's project and account pages: what each of the cast (anonymous, outsider,
maintainer, owner) sees and may do, CSRF on every form, and markup rendered inert."""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

import jwt
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.test import Client

from accounts.models import ApiToken, Identity, Membership, Project, Revocation, TrustedSigner
from accounts.signatures import SignatureRow
from accounts.tests.conftest import ISSUER

pytestmark = pytest.mark.django_db

PAGE = "/projects/demo/"
SCRIPT = "<script>alert(1)</script>"
LEAF = "ab" * 32


def browser(user: User | None = None) -> Client:
    """A browser with CSRF enforced as for real, signed in as `user` (if any)."""
    client = Client(enforce_csrf_checks=True)
    if user is not None:
        client.force_login(user, backend="accounts.backends.PortalOIDCBackend")
    return client


def csrf_of(client: Client, page: str = "/projects/") -> str:
    html = client.get(page).content
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert match, "no CSRF token on the page"
    return match.group(1).decode()


def post(client: Client, url: str, data: dict[str, Any] | None = None) -> Any:
    """Submit a form the way a browser does: with the token from a page."""
    return client.post(url, {**(data or {}), "csrfmiddlewaretoken": csrf_of(client)})


def signer_data(**overrides: str) -> dict[str, str]:
    return {"issuer": ISSUER, "identity": "release@x.test", "match": "exact", **overrides}


# --- each page, each member of the cast ---------------------------------------------


def test_projects_list_for_anonymous_and_signed_in(project: Project, outsider: User) -> None:
    anonymous = Client().get("/projects/")
    assert anonymous.status_code == 200
    assert b"Demo" in anonymous.content and b"/oidc/authenticate/?next=/projects/new" in (
        anonymous.content
    )
    signed_in = browser(outsider).get("/projects/")
    assert b'href="/projects/new"' in signed_in.content


def test_projects_list_pages(project: Project, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("accounts.views.PROJECTS_SHOWN", 2)
    for slug in ("e1", "e2", "e3"):
        Project.objects.create(slug=slug, name=f"Project {slug}")
    slugs = re.compile(rb'<a href="/projects/([a-z0-9-]+)/">')
    first = Client().get("/projects/")
    assert slugs.findall(first.content) == [b"demo", b"e1"]
    assert b'href="/projects/?after=e1" rel="next"' in first.content
    second = Client().get("/projects/?after=e1")
    assert slugs.findall(second.content) == [b"e2", b"e3"]
    assert b'rel="next"' not in second.content and b'href="/projects/">First page' in (
        second.content
    )
    for odd in ("?after=%3Cscript%3E", "?after=" + "z" * 500, "?after=zzz"):
        response = Client().get("/projects/" + odd)
        assert response.status_code == 200 and b"<script>" not in response.content


def test_older_revocations_are_a_page_away(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("accounts.views.REVOCATIONS_SHOWN", 1)
    for target in ("aa" * 32, "bb" * 32):
        Revocation.objects.create(project=project, target_kind="entry", target=target, reason="r")
    newest = Client().get(PAGE)
    assert ("bb" * 32).encode() in newest.content and ("aa" * 32).encode() not in newest.content
    older = re.search(
        rb'href="(/projects/demo/\?revocations_before=\d+)#revocations-heading"', newest.content
    )
    assert older is not None
    page = Client().get(older.group(1).decode())
    assert ("aa" * 32).encode() in page.content and ("bb" * 32).encode() not in page.content
    assert Client().get(PAGE + "?revocations_before=x").status_code == 200


@pytest.mark.parametrize(
    ("who", "forms"),
    [
        (None, set()),
        ("outsider", set()),
        ("maintainer", {"signers", "revocations"}),
        ("owner", {"signers", "revocations", "maintainers"}),
    ],
)
def test_project_page_shows_each_role_its_forms(
    project: Project, request: pytest.FixtureRequest, who: str | None, forms: set[str]
) -> None:
    user = request.getfixturevalue(who) if who else None
    response = browser(user).get(PAGE)
    assert response.status_code == 200
    html = response.content.decode()
    assert "Trusted signers" in html and "Audit history" in html
    shown = set(re.findall(r'action="/projects/demo/(signers|revocations|maintainers)"', html))
    assert shown == forms
    assert ("/maintainers/" in html) == (who == "owner")  # the re-role and remove buttons


def test_unknown_project_is_404() -> None:
    assert Client().get("/projects/nope/").status_code == 404


def test_the_page_lists_maintainers_signers_and_audit_history(
    project: Project, owner: User, maintainer: User
) -> None:
    post(browser(maintainer), "/projects/demo/signers", signer_data(note="the release bot"))
    html = Client().get(PAGE).content.decode()
    assert "owner@x.test" in html and "maintainer@x.test" in html
    assert "release@x.test" in html and "the release bot" in html
    assert "by maintainer@x.test" in html
    assert "project.created" in html and "signer.added" in html
    event = project.audit_events.order_by("sequence").first()
    assert event is not None and f'href="/entries/{event.log_leaf_hash}"' in html


def test_signer_form_offers_the_configured_issuers(project: Project, maintainer: User) -> None:
    html = browser(maintainer).get(PAGE).content.decode()
    assert re.search(
        rf'<select name="issuer"[^>]*id="signer-issuer"[^>]*>\s*<option value="{ISSUER}"', html
    )


def test_signatures_are_marked_and_linked(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    rows = [
        SignatureRow(
            "aa" * 40, 7, 1_700_000_000, "alice@x.test", ISSUER, "sha256:11", "trusted", 3, ()
        ),
        SignatureRow(
            "bb" * 40,
            8,
            1_700_000_100,
            SCRIPT,
            ISSUER,
            "sha256:11",
            "untrusted",
            None,
            ("not on the allow-list",),
        ),
        SignatureRow(
            "cc" * 40,
            9,
            1_700_000_200,
            "bob@x.test",
            ISSUER,
            "sha256:22",
            "revoked",
            None,
            ("revoked: key leaked",),
        ),
    ]
    seen: dict[str, Any] = {}

    def fake(*, project: Project, limit: int) -> list[SignatureRow]:
        seen.update(project=project, limit=limit)
        return rows

    monkeypatch.setattr("accounts.views.signatures.project_signatures", fake)
    html = Client().get(PAGE).content.decode()
    assert seen["project"] == project and seen["limit"] > 0
    for row in rows:
        assert f'href="/entries/{row.uuid}"' in html
    assert re.search(r'status-trusted">Trusted<', html) and "allow-list rule 3" in html
    assert re.search(r'status-untrusted">Untrusted<', html) and "not on the allow-list" in html
    assert re.search(r'status-revoked">Revoked<', html) and "revoked: key leaked" in html
    assert SCRIPT not in html and "&lt;script&gt;" in html


# --- creating a project --------------------------------------------------------------


def test_new_project_needs_sign_in() -> None:
    response = Client().get("/projects/new")
    assert response.status_code == 302
    assert response["Location"] == "/oidc/authenticate/?next=/projects/new"


def test_signed_in_user_creates_a_project(rekor_log: Any, outsider: User) -> None:
    client = browser(outsider)
    assert client.get("/projects/new").status_code == 200
    response = post(client, "/projects/new", {"slug": "tools", "name": "Tools", "description": "x"})
    assert response.status_code == 302 and response["Location"] == "/projects/tools/"
    project = Project.objects.get(slug="tools")
    assert Membership.objects.get(project=project).user == outsider
    assert "you are its owner" in client.get("/projects/tools/").content.decode()


def test_a_taken_slug_is_explained_on_the_form(project: Project, outsider: User) -> None:
    response = post(browser(outsider), "/projects/new", {"slug": "demo", "name": "Again"})
    assert response.status_code == 400
    assert "a project with the slug" in response.content.decode()
    assert Project.objects.count() == 1


# --- CSRF and outsiders ------------------------------------------------------------------


def _form_posts(project: Project) -> list[tuple[str, dict[str, str]]]:
    signer = TrustedSigner.objects.create(
        project=project, issuer=ISSUER, identity="keep@x.test", added_by=None
    )
    membership = Membership.objects.get(project=project, role="maintainer")
    return [
        ("/projects/demo/signers", signer_data()),
        (f"/projects/demo/signers/{signer.pk}/remove", {}),
        ("/projects/demo/revocations", {"target_kind": "entry", "target": LEAF, "reason": "r"}),
        (
            "/projects/demo/maintainers",
            {"issuer": ISSUER, "email": "outsider@x.test", "role": "owner"},
        ),
        (f"/projects/demo/maintainers/{membership.pk}/role", {"role": "owner"}),
        (f"/projects/demo/maintainers/{membership.pk}/remove", {}),
    ]


def test_every_form_refuses_a_post_without_csrf_token(
    project: Project, owner: User, nothing_written: Callable[[], Any]
) -> None:
    client = browser(owner)
    posts = _form_posts(project)
    posts += [("/projects/new", {"slug": "other", "name": "Other"})]
    with nothing_written():
        for url, data in posts:
            assert client.post(url, data).status_code == 403, url
    token = ApiToken.objects.create(user=owner, name="t", prefix="sp_x", token_sha256="0" * 64)
    for url, data in [
        ("/account/tokens", {"name": "ci"}),
        (f"/account/tokens/{token.pk}/delete", {}),
        ("/account/dev-token", {}),
        ("/oidc/logout/", {}),
    ]:
        assert client.post(url, data).status_code == 403, url
    assert ApiToken.objects.filter(user=owner).count() == 1
    assert client.get("/account/").wsgi_request.user == owner


@pytest.mark.parametrize("who", ["outsider", None])
def test_outsiders_get_403_and_nothing_changes(
    project: Project,
    request: pytest.FixtureRequest,
    who: str | None,
    nothing_written: Callable[[], Any],
) -> None:
    # Anonymous pages carry no form, hence no token: CSRF is not what is tested here.
    client = browser(request.getfixturevalue(who)) if who else Client()
    send = post if who else Client.post
    posts = _form_posts(project)
    with nothing_written():
        for url, data in posts:
            response = send(client, url, data)
            assert response.status_code == 403, url
            assert b"Only the project" in response.content


def test_maintainers_cannot_manage_maintainers(
    project: Project, maintainer: User, nothing_written: Callable[[], Any]
) -> None:
    client = browser(maintainer)
    posts = _form_posts(project)[3:]
    with nothing_written():
        for url, data in posts:
            assert post(client, url, data).status_code == 403, url


# --- maintainers' and owners' forms --------------------------------------------------


def test_a_maintainer_adds_and_removes_a_signer(project: Project, maintainer: User) -> None:
    client = browser(maintainer)
    response = post(client, "/projects/demo/signers", signer_data(source_ref="refs/tags/v1"))
    assert response.status_code == 302 and response["Location"] == PAGE
    signer = TrustedSigner.objects.get(project=project)
    assert (signer.identity, signer.source_ref, signer.added_by) == (
        "release@x.test",
        "refs/tags/v1",
        maintainer,
    )
    assert "may now sign for demo" in client.get(PAGE).content.decode()
    assert post(client, f"/projects/demo/signers/{signer.pk}/remove").status_code == 302
    assert not TrustedSigner.objects.exists()


@pytest.mark.parametrize(
    ("data", "message"),
    [
        (signer_data(identity="alice@*.test", match="pattern"), "domain"),
        (signer_data(identity="release@x.test", match="pattern"), "add it as exact"),
        (signer_data(issuer="https://not-configured.test"), "Select a valid choice"),
    ],
)
def test_a_refused_signer_is_explained_on_the_form(
    project: Project, maintainer: User, data: dict[str, str], message: str
) -> None:
    response = post(browser(maintainer), "/projects/demo/signers", data)
    assert response.status_code == 400
    assert message in response.content.decode()
    assert not TrustedSigner.objects.exists()


def test_a_duplicate_signer_is_a_form_error(project: Project, maintainer: User) -> None:
    client = browser(maintainer)
    assert post(client, "/projects/demo/signers", signer_data()).status_code == 302
    response = post(client, "/projects/demo/signers", signer_data())
    assert response.status_code == 400 and "already has that rule" in response.content.decode()


def test_a_maintainer_revokes_an_entry(project: Project, maintainer: User) -> None:
    data = {"target_kind": "entry", "target": LEAF, "reason": "key leaked"}
    response = post(browser(maintainer), "/projects/demo/revocations", data)
    assert response.status_code == 302
    revocation = Revocation.objects.get(project=project)
    assert (revocation.target, revocation.reason) == (LEAF, "key leaked")
    html = Client().get(PAGE).content.decode()
    assert f'href="/entries/{LEAF}"' in html and "key leaked" in html


def test_a_bad_revocation_target_is_a_form_error(project: Project, maintainer: User) -> None:
    data = {"target_kind": "entry", "target": "xyz", "reason": "r"}
    response = post(browser(maintainer), "/projects/demo/revocations", data)
    assert response.status_code == 400 and "64 or 80 hex digits" in response.content.decode()


def test_an_owner_adds_re_roles_and_removes_a_maintainer(
    project: Project, owner: User, outsider: User
) -> None:
    client = browser(owner)
    data = {"issuer": ISSUER, "email": "outsider@x.test", "role": "maintainer"}
    assert post(client, "/projects/demo/maintainers", data).status_code == 302
    membership = Membership.objects.get(project=project, user=outsider)
    role_url = f"/projects/demo/maintainers/{membership.pk}/role"
    assert post(client, role_url, {"role": "owner"}).status_code == 302
    membership.refresh_from_db()
    assert membership.role == "owner"
    remove_url = f"/projects/demo/maintainers/{membership.pk}/remove"
    assert post(client, remove_url).status_code == 302
    assert not Membership.objects.filter(user=outsider).exists()


def test_adding_someone_who_never_signed_in_is_explained(project: Project, owner: User) -> None:
    data = {"issuer": ISSUER, "email": "stranger@x.test", "role": "maintainer"}
    response = post(browser(owner), "/projects/demo/maintainers", data)
    assert response.status_code == 400
    assert "must sign in once first" in response.content.decode()


def test_the_last_owner_stays(project: Project, owner: User) -> None:
    client = browser(owner)
    mine = Membership.objects.get(project=project, user=owner)
    response = post(client, f"/projects/demo/maintainers/{mine.pk}/remove")
    assert response.status_code == 302
    assert "at least one owner" in client.get(PAGE).content.decode()
    assert Membership.objects.filter(pk=mine.pk).exists()


# --- escaping ------------------------------------------------------------------------


def test_markup_in_project_and_signer_fields_renders_inert(
    project: Project, owner: User, maintainer: User
) -> None:
    Project.objects.filter(pk=project.pk).update(name=SCRIPT, description=SCRIPT)
    data = signer_data(note=SCRIPT, source_repository=f'"><img src=x onerror=alert(1)>{SCRIPT}')
    assert post(browser(maintainer), "/projects/demo/signers", data).status_code == 302
    for page in (PAGE, "/projects/"):
        html = browser(owner).get(page).content.decode()
        assert SCRIPT not in html and "<img src=x" not in html
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html


# --- account -------------------------------------------------------------------------


def test_account_needs_sign_in() -> None:
    response = Client().get("/account/")
    assert response.status_code == 302 and response["Location"].startswith("/oidc/authenticate/")


def test_account_shows_the_identity(owner: User) -> None:
    html = browser(owner).get("/account/").content.decode()
    assert ISSUER in html and "sub-owner" in html and "owner@x.test" in html
    assert "Development token" not in html  # not an identity of the development provider


def test_api_token_shown_once_then_listed_by_prefix_and_deleted(owner: User) -> None:
    client = browser(owner)
    created = post(client, "/account/tokens", {"name": "release CI"})
    assert created.status_code == 200
    secret = re.search(r"(sp_[A-Za-z0-9_\-]+)", created.content.decode())
    assert secret is not None
    assert "no-store" in created["Cache-Control"]
    token = ApiToken.objects.get(user=owner)
    account = client.get("/account/").content.decode()
    assert token.prefix in account and "release CI" in account
    assert secret.group(1) not in account
    assert post(client, f"/account/tokens/{token.pk}/delete").status_code == 302
    assert not ApiToken.objects.exists()


def test_nobody_deletes_someone_elses_token(owner: User, outsider: User) -> None:
    token = ApiToken.objects.create(user=owner, name="t", prefix="sp_y", token_sha256="1" * 64)
    assert post(browser(outsider), f"/account/tokens/{token.pk}/delete").status_code == 404
    assert ApiToken.objects.filter(pk=token.pk).exists()


def test_a_development_identity_gets_a_cli_token(db: None) -> None:
    if not settings.DEV_IDP_ENABLED:
        pytest.skip("needs SIGPORTAL_DEV_IDP=true (make test sets it)")
    from devidp import issuer_url

    user = User.objects.create(username="alice")
    Identity.objects.create(
        user=user, issuer=issuer_url(), subject="alice@example.test", email="alice@example.test"
    )
    client = browser(user)
    assert "Development token for the CLI" in client.get("/account/").content.decode()
    response = post(client, "/account/dev-token")
    assert response.status_code == 200 and "no-store" in response["Cache-Control"]
    match = re.search(r"SIGSTORE_ID_TOKEN=([A-Za-z0-9_\-.]+)", response.content.decode())
    assert match is not None
    claims = jwt.decode(match.group(1), options={"verify_signature": False})
    assert (claims["iss"], claims["email"], claims["aud"]) == (
        issuer_url(),
        "alice@example.test",
        "sigstore",
    )
    assert "sigclient --instance" in response.content.decode()


def test_other_identities_get_no_cli_token(owner: User) -> None:
    response = post(browser(owner), "/account/dev-token")
    assert response.status_code == 403


def test_sign_out_is_post_only(owner: User) -> None:
    client = browser(owner)
    assert client.get("/oidc/logout/").status_code == 405
    response = post(client, "/oidc/logout/")
    assert response.status_code == 302 and response["Location"] == "/"
    assert not client.get("/projects/").wsgi_request.user.is_authenticated
