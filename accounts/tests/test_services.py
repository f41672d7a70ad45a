"""accounts.services: the rules the pages and the API share, and what each change writes."""

from __future__ import annotations

from typing import Any

import pytest
from django.contrib.auth.models import AnonymousUser, User
from django.db import transaction

from accounts import selectors, services
from accounts.errors import Conflict, Forbidden, InvalidInput, NotFound
from accounts.models import ApiToken, AuditEvent, Membership, Project, Revocation
from accounts.tests.conftest import ISSUER, event_detail, last_event
from ca.models import OidcIssuer
from tlog.models import Log

LEAF = "ab" * 32
UUID = "0123456789abcdef" + LEAF

# --- projects ------------------------------------------------------------------------------


def test_creating_a_project_makes_the_creator_its_owner_and_logs_it(
    rekor_log: Log, outsider: User, committed: Any
) -> None:
    with committed():
        project = services.project_create(actor=outsider, slug="new-1", name=" New ")
    assert project.name == "New"
    assert selectors.project_role(user=outsider, project=project) == "owner"
    event = last_event(project)
    assert (event.action, event.sequence) == ("project.created", 1)
    assert event_detail(event)["slug"] == "new-1"
    assert event_detail(event)["owner"]["subject"] == "sub-outsider"


def test_an_account_without_an_oidc_identity_cannot_act(
    rekor_log: Log, nothing_written: Any
) -> None:
    # e.g. the development provider's own session user, signed in without the portal
    bare = User.objects.create(username="devidp-user@example.test")
    with pytest.raises(Forbidden) as refused, nothing_written():
        services.project_create(actor=bare, slug="bare-1", name="Bare")
    assert refused.value.code == "no_identity"
    with pytest.raises(Forbidden):
        services.api_token_create(user=bare, name="cli")


@pytest.mark.parametrize(
    "slug", ["ab", "x" * 65, "Upper", "with_underscore", "-lead", "trail-", "sp ace", "é-é-é", ""]
)
def test_a_bad_slug_is_refused(rekor_log: Log, outsider: User, slug: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        services.project_create(actor=outsider, slug=slug, name="X")
    assert caught.value.code == "invalid_slug"
    assert not Project.objects.exists()


@pytest.mark.parametrize("name", ["", "   ", "x" * 201, "bell\x07", "line\nbreak"])
def test_a_bad_name_is_refused(rekor_log: Log, outsider: User, name: str) -> None:
    with pytest.raises(InvalidInput):
        services.project_create(actor=outsider, slug="fine", name=name)


def test_a_duplicate_slug_conflicts_and_writes_nothing(
    project: Project, outsider: User, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(Conflict):
        services.project_create(actor=outsider, slug="demo", name="Again")


def test_anonymous_cannot_create(rekor_log: Log) -> None:
    with pytest.raises(Forbidden):
        services.project_create(actor=AnonymousUser(), slug="anon", name="X")


def test_owner_and_maintainer_edit_the_project(
    project: Project, owner: User, maintainer: User, committed: Any
) -> None:
    with committed():
        services.project_update(actor=owner, project=project, name="Renamed")
        services.project_update(actor=maintainer, project=project, description="multi\nline")
    project.refresh_from_db()
    assert (project.name, project.description) == ("Renamed", "multi\nline")
    detail = event_detail(last_event(project))
    assert detail["previous"] == {"description": ""}


def test_an_unchanged_update_records_nothing(project: Project, owner: User) -> None:
    events = AuditEvent.objects.count()
    services.project_update(actor=owner, project=project, name="Demo")
    assert AuditEvent.objects.count() == events


@pytest.mark.parametrize("who", ["outsider", "staff"])
def test_others_cannot_edit_the_project(
    project: Project, who: str, request: Any, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(Forbidden):
        services.project_update(actor=request.getfixturevalue(who), project=project, name="X")


# --- maintainers ---------------------------------------------------------------------------


def test_owner_adds_a_maintainer_by_issuer_and_email(
    project: Project, owner: User, outsider: User, committed: Any
) -> None:
    with committed():
        membership = services.maintainer_add(
            actor=owner, project=project, issuer=ISSUER, role="maintainer", email="OUTSIDER@x.test"
        )
    assert membership.user == outsider
    event = last_event(project)
    assert event.action == "maintainer.added"
    assert event_detail(event)["user"]["subject"] == "sub-outsider"
    assert event_detail(event)["role"] == "maintainer"


def test_an_email_from_another_issuer_does_not_name_anyone(
    project: Project, owner: User, outsider: User, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(NotFound, match="sign in once"):
        services.maintainer_add(
            actor=owner,
            project=project,
            issuer="https://other.test",
            role="maintainer",
            email="outsider@x.test",
        )


def test_someone_who_never_signed_in_cannot_be_added(project: Project, owner: User) -> None:
    with pytest.raises(NotFound, match="must sign in once first"):
        services.maintainer_add(
            actor=owner, project=project, issuer=ISSUER, role="owner", subject="nobody"
        )


@pytest.mark.parametrize("person", [{}, {"email": "outsider@x.test", "subject": "sub-outsider"}])
def test_exactly_one_of_email_and_subject(
    project: Project, owner: User, outsider: User, person: dict[str, str]
) -> None:
    with pytest.raises(InvalidInput):
        services.maintainer_add(
            actor=owner, project=project, issuer=ISSUER, role="maintainer", **person
        )


def test_a_bad_role_is_refused(project: Project, owner: User, outsider: User) -> None:
    with pytest.raises(InvalidInput):
        services.maintainer_add(
            actor=owner, project=project, issuer=ISSUER, role="admin", subject="sub-outsider"
        )


def test_adding_a_member_twice_conflicts(
    project: Project, owner: User, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(Conflict):
        services.maintainer_add(
            actor=owner, project=project, issuer=ISSUER, role="owner", subject="sub-maintainer"
        )


@pytest.mark.parametrize("who", ["maintainer", "outsider", "staff"])
def test_only_owners_add_maintainers(
    project: Project, who: str, request: Any, nothing_written: Any, outsider: User
) -> None:
    with nothing_written(), pytest.raises(Forbidden):
        services.maintainer_add(
            actor=request.getfixturevalue(who),
            project=project,
            issuer=ISSUER,
            role="maintainer",
            subject="sub-outsider",
        )


def _membership(project: Project, user: User) -> Membership:
    return Membership.objects.get(project=project, user=user)


def test_owner_changes_a_role_and_removes_a_member(
    project: Project, owner: User, maintainer: User, committed: Any
) -> None:
    membership = _membership(project, maintainer)
    with committed():
        services.maintainer_set_role(actor=owner, membership=membership, role="owner")
    assert event_detail(last_event(project))["previous_role"] == "maintainer"
    with committed():
        services.maintainer_remove(actor=owner, membership=membership)
    event = last_event(project)
    assert event.action == "maintainer.removed"
    assert event_detail(event)["role"] == "owner"
    assert selectors.project_role(user=maintainer, project=project) is None


def test_the_last_owner_can_neither_leave_nor_step_down(
    project: Project, owner: User, nothing_written: Any
) -> None:
    membership = _membership(project, owner)
    with nothing_written():
        with pytest.raises(Conflict):
            services.maintainer_remove(actor=owner, membership=membership)
        with pytest.raises(Conflict):
            services.maintainer_set_role(actor=owner, membership=membership, role="maintainer")


def test_an_owner_steps_down_when_another_owner_exists(
    project: Project, owner: User, maintainer: User
) -> None:
    services.maintainer_set_role(
        actor=owner, membership=_membership(project, maintainer), role="owner"
    )
    services.maintainer_remove(actor=owner, membership=_membership(project, owner))
    assert selectors.project_role(user=owner, project=project) is None


@pytest.mark.parametrize("who", ["maintainer", "outsider", "staff"])
def test_only_owners_change_roles_or_remove(
    project: Project, owner: User, who: str, request: Any, nothing_written: Any
) -> None:
    actor = request.getfixturevalue(who)
    membership = _membership(project, owner)
    with nothing_written():
        with pytest.raises(Forbidden):
            services.maintainer_set_role(actor=actor, membership=membership, role="maintainer")
        with pytest.raises(Forbidden):
            services.maintainer_remove(actor=actor, membership=membership)


# --- the allow-list ------------------------------------------------------------------------


@pytest.mark.parametrize("who", ["owner", "maintainer"])
def test_owners_and_maintainers_manage_the_allow_list(
    project: Project, who: str, request: Any, committed: Any
) -> None:
    actor = request.getfixturevalue(who)
    with committed():
        signer = services.signer_add(
            actor=actor,
            project=project,
            issuer=ISSUER,
            identity="https://github.com/org/repo/.github/workflows/*@refs/tags/*",
            match="pattern",
            source_repository="https://github.com/org/repo",
            note="releases",
        )
    detail = event_detail(last_event(project))
    assert detail["match"] == "pattern" and detail["note"] == "releases"
    assert detail["constraints"]["source_repository"] == "https://github.com/org/repo"
    with committed():
        services.signer_remove(actor=actor, signer=signer)
    event = last_event(project)
    assert event.action == "signer.removed"
    assert event_detail(event)["identity"] == signer.identity
    assert not selectors.signers(project).exists()


@pytest.mark.parametrize("who", ["outsider", "staff"])
def test_others_cannot_touch_the_allow_list(
    project: Project, owner: User, who: str, request: Any, nothing_written: Any
) -> None:
    signer = services.signer_add(actor=owner, project=project, issuer=ISSUER, identity="a@x.test")
    with nothing_written():
        with pytest.raises(Forbidden):
            services.signer_add(
                actor=request.getfixturevalue(who),
                project=project,
                issuer=ISSUER,
                identity="b@x.test",
            )
        with pytest.raises(Forbidden):
            services.signer_remove(actor=request.getfixturevalue(who), signer=signer)


def test_only_configured_issuers_are_accepted(project: Project, owner: User) -> None:
    with pytest.raises(InvalidInput, match="this instance's CA") as caught:
        services.signer_add(
            actor=owner, project=project, issuer="https://elsewhere.test", identity="a@x.test"
        )
    assert caught.value.code == "unknown_issuer"
    OidcIssuer.objects.create(issuer_url="https://elsewhere.test", kind="email")
    services.signer_add(
        actor=owner, project=project, issuer="https://elsewhere.test", identity="a@x.test"
    )


@pytest.mark.parametrize(
    ("fields", "code"),
    [
        ({"identity": "ab*", "match": "pattern"}, "invalid_identity"),
        ({"identity": "https://*.example/x", "match": "pattern"}, "invalid_identity"),
        ({"identity": "no-wildcard@x.test", "match": "pattern"}, "invalid_identity"),
        ({"identity": "a b@x.test"}, "invalid_identity"),
        ({"identity": ""}, "invalid_identity"),
        ({"identity": "x" * 1025}, "invalid_identity"),
        ({"identity": "a@x.test", "match": "regex"}, "invalid_match"),
        ({"identity": "a@x.test", "note": "n" * 501}, "invalid_note"),
        ({"identity": "a@x.test", "source_ref": "\x00"}, "invalid_source_ref"),
        ({"identity": "a@x.test", "build_trigger": "t" * 65}, "invalid_build_trigger"),
    ],
)
def test_bad_rules_are_refused(
    project: Project, owner: User, fields: dict[str, str], code: str, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(InvalidInput) as caught:
        services.signer_add(actor=owner, project=project, issuer=ISSUER, **fields)
    assert caught.value.code == code


def test_a_duplicate_rule_conflicts(project: Project, owner: User) -> None:
    services.signer_add(actor=owner, project=project, issuer=ISSUER, identity="a@x.test")
    with pytest.raises(Conflict):
        services.signer_add(actor=owner, project=project, issuer=ISSUER, identity="a@x.test")


# --- revocations ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kind", "target", "stored"),
    [
        ("entry", UUID.upper(), LEAF),
        ("entry", LEAF, LEAF),
        ("certificate", "0x00AB12", "ab12"),
        ("certificate", "00:ab:12", "ab12"),
        ("certificate", "000", "0"),
    ],
)
def test_revocation_targets_are_normalised(
    project: Project, maintainer: User, kind: str, target: str, stored: str, committed: Any
) -> None:
    with committed():
        revocation = services.revocation_add(
            actor=maintainer, project=project, target_kind=kind, target=target, reason="leaked"
        )
    assert revocation.target == stored
    detail = event_detail(last_event(project))
    assert (detail["target"], detail["scope"], detail["reason"]) == (stored, "demo", "leaked")


def test_serials_are_stored_as_the_ca_writes_them(project: Project, owner: User) -> None:
    serial = 0x00F3A9B2C4D5E6F708192A3B4C5D6E7F80910203
    revocation = services.revocation_add(
        actor=owner,
        project=project,
        target_kind="certificate",
        target=f"{serial:040X}",
        reason="r",
    )
    assert revocation.target == format(serial, "x")  # ca.services: serial_hex
    assert selectors.is_revoked(
        project=project, entry_leaf_hex=None, serial_hex=format(serial, "x")
    )


@pytest.mark.parametrize(
    ("kind", "target"),
    [
        ("entry", "ab" * 31),
        ("entry", "zz" * 32),
        ("certificate", "xyz"),
        ("certificate", ""),
        ("certificate", "a" * 65),
        ("key", "ab"),
    ],
)
def test_bad_revocation_targets_are_refused(
    project: Project, owner: User, kind: str, target: str
) -> None:
    with pytest.raises(InvalidInput):
        services.revocation_add(
            actor=owner, project=project, target_kind=kind, target=target, reason="r"
        )


def test_a_revocation_needs_a_reason(project: Project, owner: User) -> None:
    with pytest.raises(InvalidInput):
        services.revocation_add(
            actor=owner, project=project, target_kind="entry", target=LEAF, reason=" "
        )


def test_a_duplicate_revocation_conflicts(project: Project, owner: User) -> None:
    services.revocation_add(
        actor=owner, project=project, target_kind="entry", target=LEAF, reason="r"
    )
    with pytest.raises(Conflict):
        services.revocation_add(
            actor=owner, project=project, target_kind="entry", target=UUID, reason="r"
        )


@pytest.mark.parametrize("who", ["outsider", "staff"])
def test_others_cannot_revoke_for_a_project(
    project: Project, who: str, request: Any, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(Forbidden):
        services.revocation_add(
            actor=request.getfixturevalue(who),
            project=project,
            target_kind="entry",
            target=LEAF,
            reason="r",
        )


def test_staff_revoke_instance_wide(rekor_log: Log, staff: User, committed: Any) -> None:
    with committed():
        services.revocation_add(
            actor=staff, project=None, target_kind="entry", target=LEAF, reason="key leak"
        )
    event = last_event(None)
    assert event.action == "revocation.added" and event_detail(event)["scope"] == "instance"


@pytest.mark.parametrize("who", ["owner", "maintainer", "outsider"])
def test_only_staff_revoke_instance_wide(
    project: Project, who: str, request: Any, nothing_written: Any
) -> None:
    with nothing_written(), pytest.raises(Forbidden):
        services.revocation_add(
            actor=request.getfixturevalue(who),
            project=None,
            target_kind="entry",
            target=LEAF,
            reason="r",
        )


def test_is_revoked_sees_the_projects_own_and_instance_wide_revocations(
    project: Project, owner: User, staff: User
) -> None:
    other = services.project_create(actor=owner, slug="other", name="Other")
    services.revocation_add(
        actor=owner, project=project, target_kind="certificate", target="0a", reason="p"
    )
    services.revocation_add(actor=staff, project=None, target_kind="entry", target=LEAF, reason="i")
    assert selectors.is_revoked(project=project, entry_leaf_hex=None, serial_hex="a")
    assert selectors.is_revoked(project=other, entry_leaf_hex=None, serial_hex="a") is None
    found = selectors.is_revoked(project=other, entry_leaf_hex=LEAF.upper(), serial_hex=None)
    assert found is not None and found.project is None
    assert selectors.is_revoked(project=None, entry_leaf_hex=LEAF, serial_hex="a") is not None
    assert selectors.is_revoked(project=None, entry_leaf_hex=None, serial_hex=None) is None


# --- API tokens ----------------------------------------------------------------------------


def test_a_token_is_stored_only_as_its_digest(outsider: User) -> None:
    row, token = services.api_token_create(user=outsider, name="ci")
    assert token.startswith("sp_") and len(token) == 46
    assert row.prefix == token[:12]
    assert row.token_sha256 == services.token_hash(token)
    assert token not in str(list(ApiToken.objects.values()))


def test_at_most_twenty_tokens(outsider: User) -> None:
    for n in range(20):
        services.api_token_create(user=outsider, name=f"t{n}")
    with pytest.raises(Conflict):
        services.api_token_create(user=outsider, name="one too many")


def test_a_user_deletes_only_their_own_tokens(owner: User, outsider: User) -> None:
    row, _ = services.api_token_create(user=owner, name="mine")
    with pytest.raises(NotFound):
        services.api_token_delete(user=outsider, token_id=row.pk)
    services.api_token_delete(user=owner, token_id=row.pk)
    assert not ApiToken.objects.exists()


def test_a_failed_change_leaves_nothing_behind(project: Project, owner: User) -> None:
    events = AuditEvent.objects.count()
    with pytest.raises(RuntimeError), transaction.atomic():
        services.revocation_add(
            actor=owner, project=project, target_kind="entry", target=LEAF, reason="r"
        )
        raise RuntimeError("the caller's transaction fails afterwards")
    assert AuditEvent.objects.count() == events
    assert not Revocation.objects.exists()
