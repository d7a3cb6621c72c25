"""The overview tab and locking."""

import json

import pytest
from django.urls import reverse

from executions.models import WorkspaceTask
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Workspace
from workspaces.state.services import state_version_create

pytestmark = pytest.mark.django_db


def _state(workspace, resources=2, outputs=None):
    doc = {
        "version": 4, "serial": 1, "lineage": "abc", "terraform_version": "1.15.5",
        "outputs": outputs or {},
        "resources": [{"mode": "managed", "type": "terraform_data", "name": f"r{i}", "module": "module.web" if i % 2 else None,
                       "provider": "x", "instances": [{"attributes": {}}]} for i in range(resources)],
    }
    return state_version_create(workspace=workspace, content=json.dumps(doc), source="upload")


def test_overview_shows_code_version_state_outputs_resources_and_lock(auth_client, workspace, user):
    code_version_save(workspace=workspace, code='{"resource": {}}', author=user)
    _state(workspace, outputs={"url": {"value": "https://x.example", "type": "string"},
                               "token": {"value": "s3cr3t-token", "type": "string", "sensitive": True}})
    response = auth_client.get(reverse("workspace_overview", args=["demo"]))
    html = response.content.decode()
    assert response.status_code == 200
    assert reverse("code_version_detail", args=["demo", 1]) in html
    assert reverse("state_version_detail", args=["demo", 1]) in html and "Serial 1" in html
    assert "terraform_data.r0" in html and "module.web.terraform_data.r1" in html
    assert "https://x.example" in html and "s3cr3t-token" not in html
    assert reverse("workspace_lock", args=["demo"]) in html
    assert reverse("run_new", args=["demo"]) in html


def test_overview_without_code_invites_to_write_it(auth_client, workspace):
    html = auth_client.get(reverse("workspace_overview", args=["demo"])).content.decode()
    assert "No runs yet" in html and reverse("code_edit", args=["demo"]) in html


def test_overview_flags_a_plan_waiting_for_confirmation(auth_client, workspace):
    task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan_and_apply", status="planned")
    html = auth_client.get(reverse("workspace_overview", args=["demo"])).content.decode()
    assert f"Run #{task.pk} needs confirmation" in html
    assert reverse("run_detail", args=["demo", task.pk]) in html


def test_overview_fragments_whole_tab_and_polled_latest_run_card(auth_client, workspace):
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="running", message="busy")
    url = reverse("workspace_overview", args=["demo"])
    whole = auth_client.get(url, HTTP_HX_REQUEST="true")
    assert whole.status_code == 200 and b"<html" not in whole.content and b'id="overview"' in whole.content
    card = auth_client.get(url, HTTP_HX_REQUEST="true", HTTP_HX_TARGET="latest-run").content.decode()
    assert card.lstrip().startswith('<section class="card" id="latest-run"')
    assert 'hx-trigger="every 2s"' in card and "busy" in card and 'id="overview"' not in card


def test_overview_of_unknown_workspace_is_404(auth_client):
    assert auth_client.get(reverse("workspace_overview", args=["nope"])).status_code == 404


def test_overview_queries_are_bounded_with_100_runs_and_resources(auth_client, workspace, django_assert_max_num_queries):
    WorkspaceTask.objects.bulk_create([WorkspaceTask(workspace=workspace, task_type="plan", status="applied")
                                       for _ in range(100)])
    _state(workspace, resources=100)
    with django_assert_max_num_queries(13):
        assert auth_client.get(reverse("workspace_overview", args=["demo"])).status_code == 200


def test_lock_with_reason_then_unlock(auth_client, workspace, user):
    response = auth_client.post(reverse("workspace_lock", args=["demo"]), {"reason": "maintenance"}, follow=True)
    workspace.refresh_from_db()
    assert workspace.locked and workspace.lock_reason == "maintenance" and workspace.locked_by == user
    html = response.content.decode()
    assert "Workspace locked" in html and "This workspace is locked" in html and "maintenance" in html
    assert reverse("workspace_unlock", args=["demo"]) in html

    response = auth_client.post(reverse("workspace_unlock", args=["demo"]), follow=True)
    workspace.refresh_from_db()
    assert not workspace.locked and "Workspace unlocked" in response.content.decode()


def test_lock_without_reason_names_the_operator_and_twice_warns(auth_client, workspace):
    auth_client.post(reverse("workspace_lock", args=["demo"]), {"reason": ""})
    workspace.refresh_from_db()
    assert workspace.lock_reason == "Locked by operator"
    response = auth_client.post(reverse("workspace_lock", args=["demo"]), {"reason": "other"}, follow=True)
    assert "already locked" in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.lock_reason == "Locked by operator"


def test_lock_reason_too_long_is_refused_visibly(auth_client, workspace):
    response = auth_client.post(reverse("workspace_lock", args=["demo"]), {"reason": "x" * 501}, follow=True)
    workspace.refresh_from_db()
    assert not workspace.locked and "too long" in response.content.decode()


def test_unlock_when_not_locked_says_so(auth_client, workspace):
    response = auth_client.post(reverse("workspace_unlock", args=["demo"]), follow=True)
    assert "was not locked" in response.content.decode()


def test_lock_and_unlock_are_post_only(auth_client, workspace):
    assert auth_client.get(reverse("workspace_lock", args=["demo"])).status_code == 405
    assert auth_client.get(reverse("workspace_unlock", args=["demo"])).status_code == 405


def test_locked_workspace_header_disables_new_run(auth_client, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(locked=True, lock_reason="frozen", locked_at="2026-01-01T00:00Z")
    html = auth_client.get(reverse("workspace_overview", args=["demo"])).content.decode()
    assert 'aria-disabled="true"' in html and "Locked" in html
    assert StateVersion.objects.count() == 0
