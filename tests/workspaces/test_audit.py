"""The audit trail: every change recorded by its service (who, what, where from), never a secret,
append-only; the per-workspace page, the global page, the API."""

import json

import pytest
from django.db import DatabaseError, connection, transaction
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from executions.models import WorkspaceTask
from resources.services.resources import resource_create, resource_delete
from resources.services.snapshots import snapshot_create, snapshot_delete
from tests.workspaces import version_helpers as vh
from workspaces.models import AuditEvent, Role, Workspace
from workspaces.services import variables_checksum
from workspaces.state import services as state_services
from workspaces.tokens import api_token_create

pytestmark = pytest.mark.django_db
PEM = "-----BEGIN KEY-----\nsuper\"secret\\value\n-----END KEY-----"


def _actions(**filters):
    return list(AuditEvent.objects.filter(**filters).order_by("id").values_list("action", flat=True))


def _json(client, method, url, body=None, **extra):
    return client.generic(method, url, json.dumps(body or {}), content_type="application/json", **extra)


def test_changes_through_pages_and_api_are_recorded_without_secrets(django_user_model):
    alice = django_user_model.objects.create_user(username="alice")
    page = Client(REMOTE_ADDR="10.1.2.3")
    page.force_login(alice)
    assert page.post(reverse("workspace_create"), {"name": "net"}).status_code == 302
    event = AuditEvent.objects.get(action="workspace.create")
    assert (event.actor, event.actor_id, event.workspace_name, event.remote_addr, event.via) == \
        ("alice", alice.pk, "net", "10.1.2.3", "page")
    _, raw = api_token_create(user=alice, name="ci")
    api = Client(HTTP_AUTHORIZATION=f"Bearer {raw}", REMOTE_ADDR="10.9.9.9")
    assert _json(api, "POST", "/api/v1/workspaces/net/variables",
                 {"key": "KEY", "value": PEM, "sensitive": True, "category": "env"}).status_code == 201
    variable_event = AuditEvent.objects.get(action="variable.create")
    assert (variable_event.via, variable_event.remote_addr, variable_event.target) == ("token", "10.9.9.9",
                                                                                      "env variable KEY")
    assert variable_event.details["sensitive"] is True
    _json(api, "PATCH", "/api/v1/workspaces/net/settings", {"description": "changed", "aws_role_arn": "arn:aws:iam::123456789012:role/tf",
                                                        "aws_external_id": "ext-123"})
    assert AuditEvent.objects.get(action="workspace.update").details["changed"] == [
        "aws_external_id", "aws_role_arn", "description"]
    _json(api, "POST", "/api/v1/workspaces/net/lock", {"reason": "maintenance"})
    _json(api, "POST", "/api/v1/workspaces/net/unlock")
    _json(api, "POST", "/api/v1/workspaces/net/code-versions", {"code": '{"resource": {"terraform_data": {}}}'})
    variable_id = api.get("/api/v1/workspaces/net/variables").json()[0]["id"]
    _json(api, "DELETE", f"/api/v1/workspaces/net/variables/{variable_id}")
    assert set(_actions(workspace_name="net")) >= {"workspace.create", "variable.create", "workspace.update",
                                                   "workspace.lock", "workspace.unlock", "code.save",
                                                   "variable.delete"}
    assert "token.create" in _actions(actor="alice")
    dump = json.dumps(list(AuditEvent.objects.values()), default=str)
    assert "super" not in dump and "ext-123" not in dump and raw not in dump
    # The workspace goes; its events stay (no foreign keys).
    _json(api, "DELETE", "/api/v1/workspaces/net")
    assert "workspace.delete" in _actions(workspace_name="net") and not Workspace.objects.filter(name="net").exists()


def test_state_resources_runs_members_and_failed_logins_are_recorded(workspace, user, member, client):
    first, second = vh.two_states()
    state_services.state_upload(workspace=workspace, content=first, user=user)
    state_services.state_upload(workspace=workspace, content=second, user=user)
    state_services.state_rollback(workspace=workspace, serial=1, user=user)
    state_services.state_download(workspace=workspace, serial=1, user=user)
    reader = member(workspace, Role.READER, username="reader")
    with pytest.raises(Exception):
        state_services.state_download(workspace=workspace, serial=1, user=reader)
    resource = resource_create(workspace=workspace, code={"resource": {"terraform_data": {"a": {}}}}, user=user)
    snapshot = snapshot_create(workspace=workspace, name="s1", user=user)
    resource_delete(resource=resource, user=user)
    snapshot_delete(snapshot=snapshot, user=user)
    admin_page = Client()
    admin_page.force_login(user)
    admin_page.post(reverse("workspace_members", args=["demo"]), {"username": "reader", "role": Role.PLANNER})
    membership = workspace.members.get(user=reader)
    admin_page.post(reverse("workspace_member_remove", args=["demo", membership.pk]))
    # Runs: queued, confirmed, discarded, cancelled.
    admin_page.post(reverse("run_new", args=["demo"]), {"kind": "plan", "targets": "", "message": ""})
    queued = WorkspaceTask.objects.latest("id")
    admin_page.post(reverse("run_cancel", args=["demo", queued.pk]))
    workspace.refresh_from_db()
    planned = [WorkspaceTask.objects.create(
        workspace=workspace, task_type="plan_and_apply", status="planned", started_at=timezone.now(),
        code_version=workspace.current_code_version, plan_file=b"plan", has_changes=True,
        context={"code_version": workspace.current_code_version.number if workspace.current_code_version else None,
                 "variables_checksum": variables_checksum(workspace),
                 "state_serial": 3, "resource_versions": {}}) for _ in range(2)]
    admin_page.post(reverse("run_discard", args=["demo", planned[0].pk]))
    admin_page.post(reverse("run_confirm", args=["demo", planned[1].pk]), {"comment": "go"})
    actions = set(_actions(workspace_id=workspace.pk))
    assert {"state.upload", "state.rollback", "state.download", "state.download_refused", "resource.create",
            "resource.delete", "snapshot.create", "snapshot.delete", "member.set", "member.remove", "run.queued",
            "run.cancelled", "run.discarded", "run.confirmed"} <= actions, actions
    refused = AuditEvent.objects.get(action="state.download_refused")
    assert refused.actor == "reader"
    assert AuditEvent.objects.get(action="member.set").details == {"role": "planner", "previous": "reader"}
    assert client.post(reverse("login"), {"username": "root", "password": "wrong"}).status_code == 200
    failed = AuditEvent.objects.get(action="login.failed")
    assert failed.target == "root" and failed.remote_addr == "127.0.0.1" and "wrong" not in json.dumps(failed.details)


def test_events_are_append_only(workspace, user):
    state_services.state_upload(workspace=workspace, content=vh.two_states()[0], user=user)
    event = AuditEvent.objects.get(action="state.upload")
    event.action = "nothing"
    with pytest.raises(AuditEvent.AppendOnly):
        event.save()
    with pytest.raises(AuditEvent.AppendOnly):
        event.delete()
    with pytest.raises(AuditEvent.AppendOnly):
        AuditEvent.objects.filter(pk=event.pk).update(action="x")
    with pytest.raises(AuditEvent.AppendOnly):
        AuditEvent.objects.all().delete()
    if connection.vendor == "postgresql":  # the database refuses it too
        for sql in ("UPDATE workspaces_auditevent SET action = 'x'", "DELETE FROM workspaces_auditevent"):
            with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
                with connection.cursor() as cursor:
                    cursor.execute(sql)
    assert AuditEvent.objects.get(pk=event.pk).action == "state.upload"


def test_audit_pages_and_api(workspace, user, member, django_user_model):
    other = Workspace.objects.create(name="other")
    state_services.state_upload(workspace=workspace, content=vh.two_states()[0], user=user)
    state_services.state_upload(workspace=other, content=vh.two_states()[0], user=user)
    Client().post(reverse("login"), {"username": "ghost", "password": "x"})
    reader = member(workspace, Role.READER, username="reader")
    client = Client()
    client.force_login(reader)
    page = client.get(reverse("workspace_audit", args=["demo"]))
    assert page.status_code == 200 and "state.upload" in page.content.decode()
    assert "state.upload" not in client.get(reverse("workspace_audit", args=["demo"]) + "?action=variable"
                                            ).content.decode()
    fragment = client.get(reverse("workspace_audit", args=["demo"]) + "?actor=operator", HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and "<html" not in fragment.content.decode() and "state.upload" in \
        fragment.content.decode()
    assert client.get(reverse("workspace_audit", args=["demo"]) + "?since=yesterday").status_code == 400
    assert client.get(reverse("workspace_audit", args=["other"])).status_code == 404
    assert client.get(reverse("audit")).status_code == 403
    # The API: the reader sees only the events of the workspaces they may read.
    events = client.get("/api/v1/audit").json()
    assert {e["workspace"] for e in events} == {"demo"}
    assert client.get("/api/v1/workspaces/demo/audit?action=state").json()[0]["action"] == "state.upload"
    assert client.get("/api/v1/audit?since=not-a-date").status_code == 400
    assert client.get("/api/v1/audit?limit=0").status_code == 400
    # A superuser sees everything, failed logins included, and can filter.
    root = Client()
    root.force_login(user)
    body = root.get(reverse("audit") + "?action=login").content.decode()
    assert "login.failed" in body and "ghost" in body and "state.upload" not in body
    today = timezone.localdate().isoformat()
    body = root.get(reverse("audit") + f"?workspace=other&since={today}&until={today}").content.decode()
    assert "state.upload" in body and "login.failed" not in body
    actions = {e["action"] for e in root.get("/api/v1/audit?limit=500").json()}
    assert {"login.failed", "state.upload"} <= actions
