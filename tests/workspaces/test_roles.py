"""Roles per workspace: the selector, groups, superusers, the creator, lists, the Members page, commands."""

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import PermissionDenied
from django.core.management import CommandError, call_command
from django.http import Http404
from django.test import Client
from django.urls import reverse

from iacplatform.errors import Conflict
from workspaces.access import HOST, readable_workspaces, role_of, workspace_for
from workspaces.models import Role, Workspace, WorkspaceMember
from workspaces.services import member_remove, member_set, workspace_create

pytestmark = pytest.mark.django_db


def _client(user):
    client = Client()
    client.force_login(user)
    return client


def test_selector_404_for_outsiders_403_for_a_low_role(workspace, member):
    outsider = member(workspace, None, username="outsider")
    reader = member(workspace, Role.READER, username="reader")
    with pytest.raises(Http404):
        workspace_for(outsider, "demo")
    with pytest.raises(Http404):
        workspace_for(reader, "no-such-workspace")
    assert workspace_for(reader, "demo").access.can_read
    with pytest.raises(PermissionDenied, match="planner"):
        workspace_for(reader, "demo", Role.PLANNER)
    ws = workspace_for(member(workspace, Role.APPLIER, username="applier"), "demo", Role.APPLIER)
    assert ws.access.can_apply and not ws.access.can_admin


def test_group_roles_the_highest_wins_and_superusers_administer_everything(workspace, member, admin_user,
                                                                         django_user_model):
    team = Group.objects.create(name="network-team")
    dev = member(workspace, Role.READER, username="dev")
    dev.groups.add(team)
    assert role_of(dev, workspace) == Role.READER
    WorkspaceMember.objects.create(workspace=workspace, group=team, role=Role.APPLIER)
    assert role_of(dev, workspace) == Role.APPLIER
    other = django_user_model.objects.create_user(username="other")
    other.groups.add(team)
    assert role_of(other, workspace) == Role.APPLIER
    assert role_of(admin_user, workspace) == Role.ADMIN
    assert role_of(HOST, workspace) == Role.ADMIN
    inactive = member(workspace, Role.ADMIN, username="inactive")
    inactive.is_active = False
    assert role_of(inactive, workspace) is None


def test_creator_becomes_admin_and_lists_show_only_readable(member, django_user_model):
    alice = django_user_model.objects.create_user(username="alice")
    bob = django_user_model.objects.create_user(username="bob")
    mine = workspace_create(name="alice-ws", user=alice)
    workspace_create(name="bob-ws", user=bob)
    Workspace.objects.create(name="nobodys")
    assert role_of(alice, mine) == Role.ADMIN
    assert list(readable_workspaces(alice).values_list("name", flat=True)) == ["alice-ws"]
    page = _client(alice).get("/")
    assert b"alice-ws" in page.content and b"bob-ws" not in page.content and b"nobodys" not in page.content
    api = _client(alice).get("/api/v1/workspaces")
    assert [w["name"] for w in api.json()] == ["alice-ws"]
    assert _client(alice).get("/workspaces/bob-ws/").status_code == 404
    assert _client(alice).get("/api/v1/workspaces/bob-ws/variables").status_code == 404


def test_create_page_makes_the_creator_admin(django_user_model):
    carol = django_user_model.objects.create_user(username="carol")
    response = _client(carol).post(reverse("workspace_create"), {"name": "carol-ws"})
    assert response.status_code == 302
    assert WorkspaceMember.objects.get(workspace__name="carol-ws", user=carol).role == Role.ADMIN


def test_reader_pages_hide_what_they_may_not_do(workspace, member):
    reader = _client(member(workspace, Role.READER, username="reader"))
    body = reader.get(reverse("workspace_overview", args=["demo"])).content.decode()
    assert "Lock workspace" not in body and reverse("workspace_settings", args=["demo"]) not in body
    assert reverse("run_new", args=["demo"]) not in body.split('id="tab-content"')[0]
    assert reverse("workspace_members", args=["demo"]) not in body
    admin = _client(member(workspace, Role.ADMIN, username="wsadmin"))
    body = admin.get(reverse("workspace_overview", args=["demo"])).content.decode()
    assert "Lock workspace" in body and reverse("workspace_members", args=["demo"]) in body


def test_members_page_grants_and_removes_roles(workspace, member, django_user_model):
    admin = _client(member(workspace, Role.ADMIN, username="wsadmin"))
    django_user_model.objects.create_user(username="newbie")
    Group.objects.create(name="ops")
    url = reverse("workspace_members", args=["demo"])
    assert admin.get(url).status_code == 200
    assert admin.post(url, {"username": "newbie", "role": Role.PLANNER}).status_code == 302
    assert admin.post(url, {"group": "ops", "role": Role.READER}).status_code == 302
    rows = {m.principal: m.role for m in WorkspaceMember.objects.filter(workspace=workspace)}
    assert rows == {"wsadmin": Role.ADMIN, "newbie": Role.PLANNER, "@ops": Role.READER}
    # A new role replaces the old one.
    admin.post(url, {"username": "newbie", "role": Role.APPLIER})
    assert WorkspaceMember.objects.get(user__username="newbie").role == Role.APPLIER
    # Bad input is a form error, not a 500.
    for data in ({"username": "ghost", "role": Role.READER}, {"role": Role.READER},
                 {"username": "newbie", "group": "ops", "role": Role.READER}, {"username": "newbie", "role": 99}):
        assert admin.post(url, data).status_code == 400
    ops = WorkspaceMember.objects.get(group__name="ops")
    assert admin.post(reverse("workspace_member_remove", args=["demo", ops.pk])).status_code == 302
    assert not WorkspaceMember.objects.filter(pk=ops.pk).exists()
    # A planner may not manage members.
    planner = _client(django_user_model.objects.get(username="newbie"))
    WorkspaceMember.objects.filter(user__username="newbie").update(role=Role.PLANNER)
    assert planner.get(url).status_code == 403
    assert planner.post(url, {"username": "newbie", "role": Role.ADMIN}).status_code == 403


def test_the_last_admin_member_stays(workspace, member):
    only = member(workspace, Role.ADMIN, username="only")
    membership = WorkspaceMember.objects.get(user=only)
    with pytest.raises(Conflict):
        member_remove(member=membership)
    with pytest.raises(Conflict):
        member_set(workspace=workspace, member_user=only, role=Role.READER)
    second = member(workspace, Role.ADMIN, username="second")
    member_remove(member=membership)
    assert role_of(only, workspace) is None and role_of(second, workspace) == Role.ADMIN


def test_commands_check_the_named_users_role(workspace, member, capsys):
    reader = member(workspace, Role.READER, username="reader")
    with pytest.raises(CommandError, match="applier"):
        call_command("lock", "demo", user="reader")
    member(workspace, None, username="outsider")
    with pytest.raises(CommandError, match="No workspace named"):
        call_command("lock", "demo", user="outsider")
    with pytest.raises(CommandError, match="No active user"):
        call_command("lock", "demo", user="ghost")
    WorkspaceMember.objects.filter(user=reader).update(role=Role.APPLIER)
    call_command("lock", "demo", user="reader")
    workspace.refresh_from_db()
    assert workspace.locked and workspace.locked_by == reader
    call_command("unlock", "demo")  # the host operator
    workspace.refresh_from_db()
    assert not workspace.locked


def test_pages_hide_planner_actions_from_readers(workspace, member):
    from resources.services.resources import resource_create

    resource = resource_create(workspace=workspace, code={"resource": {"terraform_data": {"a": {}}}})
    reader = _client(member(workspace, Role.READER, username="reader"))
    planner = _client(member(workspace, Role.PLANNER, username="planner"))
    for url, marker in ((reverse("code_edit", args=["demo"]), ">Save</button>"),
                        (reverse("resource_list", args=["demo"]), reverse("resource_create", args=["demo"])),
                        (reverse("resource_detail", args=["demo", resource.pk]), "Edit code")):
        assert marker not in reader.get(url).content.decode(), url
        assert marker in planner.get(url).content.decode(), url
