"""The settings tab: general, provider config, cloud credentials, delete with confirmation."""

import json

import pytest
from django.urls import reverse

from executions.models import TaskLog, WorkspaceTask
from workspaces.models import Variable, Workspace

pytestmark = pytest.mark.django_db

VALID = {
    "description": "web tier", "auto_apply": "on", "terraform_version": "1.15.5",
    "provider_config": json.dumps({"provider": {"aws": {"region": "eu-west-1"}}}),
    "aws_role_arn": "arn:aws:iam::123456789012:role/terraform", "aws_session_name": "iac-demo",
    "aws_external_id": "ext-1", "aws_region": "eu-west-1",
}


def _url(view="workspace_settings"):
    return reverse(view, args=["demo"])


def test_settings_page_and_fragment(auth_client, workspace):
    page = auth_client.get(_url())
    assert page.status_code == 200 and b"Provider configuration" in page.content and b"Delete workspace" in page.content
    fragment = auth_client.get(_url(), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b"<html" not in fragment.content and b'id="settings"' in fragment.content


def test_saving_settings_updates_every_field(auth_client, workspace):
    response = auth_client.post(_url(), VALID, follow=True)
    workspace.refresh_from_db()
    assert workspace.auto_apply and workspace.terraform_version == "1.15.5"
    assert workspace.provider_config == {"provider": {"aws": {"region": "eu-west-1"}}}
    assert (workspace.aws_role_arn, workspace.aws_session_name, workspace.aws_external_id, workspace.aws_region) == (
        "arn:aws:iam::123456789012:role/terraform", "iac-demo", "ext-1", "eu-west-1")
    html = response.content.decode()
    assert "Settings saved." in html and "arn:aws:iam::123456789012:role/terraform" in html


@pytest.mark.parametrize("field, value, text", [
    ("provider_config", "{not json", "Not valid JSON"),
    ("provider_config", "[1, 2]", "Must be a JSON object"),
    ("aws_role_arn", "arn:aws:iam::12:role/x", "Not an IAM role ARN"),
    ("aws_region", "Europe", "Not an AWS region name"),
    ("terraform_version", "v1", "Use a version like 1.15"),
])
def test_bad_settings_show_the_field_error_and_change_nothing(auth_client, workspace, field, value, text):
    response = auth_client.post(_url(), {**VALID, field: value})
    assert response.status_code == 400
    html = response.content.decode()
    field_html = html.split(f'id="field-{field}"', 1)[1].split('<div class="field', 1)[0]
    assert text in field_html
    workspace.refresh_from_db()
    assert workspace.description == "demo workspace" and not workspace.auto_apply and not workspace.aws_role_arn


def test_session_name_without_role_is_refused(auth_client, workspace):
    response = auth_client.post(_url(), {**VALID, "aws_role_arn": ""})
    assert response.status_code == 400 and "needs a role to assume" in response.content.decode()


def test_clearing_provider_config_stores_an_empty_object(auth_client, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(provider_config={"provider": {}})
    auth_client.post(_url(), {**VALID, "provider_config": ""})
    workspace.refresh_from_db()
    assert workspace.provider_config == {}


def test_delete_needs_the_exact_name(auth_client, workspace):
    response = auth_client.post(_url("workspace_delete"), {"confirm_name": "dem"})
    assert response.status_code == 400 and "Type “demo” exactly" in response.content.decode()
    assert Workspace.objects.filter(name="demo").exists()


def test_delete_removes_the_workspace_with_its_runs_and_variables(auth_client, workspace):
    plan = WorkspaceTask.objects.create(workspace=workspace, task_type="plan_and_apply", status="confirmed")
    apply = WorkspaceTask.objects.create(workspace=workspace, task_type="apply", status="applied", plan_task=plan)
    TaskLog.objects.create(task=apply, seq=1, text="x")
    Variable.objects.create(workspace=workspace, key="a", value="b")
    response = auth_client.post(_url("workspace_delete"), {"confirm_name": "demo"}, follow=True)
    assert response.redirect_chain[-1][0] == reverse("workspace_list")
    assert "Workspace “demo”" in response.content.decode() and "deleted" in response.content.decode()
    assert not Workspace.objects.exists() and not WorkspaceTask.objects.exists() and not Variable.objects.exists()


def test_delete_is_refused_while_a_run_is_active(auth_client, workspace):
    task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="running")
    response = auth_client.post(_url("workspace_delete"), {"confirm_name": "demo"})
    assert response.status_code == 400 and f"Run #{task.pk} is still active" in response.content.decode()
    assert Workspace.objects.filter(name="demo").exists()


def test_delete_is_post_only(auth_client, workspace):
    assert auth_client.get(_url("workspace_delete")).status_code == 405


def test_stage_timeouts_are_set_and_cleared_from_the_settings_tab(auth_client, workspace):
    response = auth_client.post(_url(), {**VALID, "timeout_apply": "7200", "timeout_init": "120"}, follow=True)
    assert "Settings saved." in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.timeouts == {"apply": 7200, "init": 120}
    page = auth_client.get(_url()).content.decode()
    assert 'value="7200"' in page and 'value="120"' in page
    auth_client.post(_url(), {**VALID, "timeout_apply": "", "timeout_init": ""})
    workspace.refresh_from_db()
    assert workspace.timeouts == {}


def test_a_too_short_timeout_is_a_field_error(auth_client, workspace):
    response = auth_client.post(_url(), {**VALID, "timeout_plan": "3"})
    assert response.status_code == 400
    assert "greater than or equal to 10" in response.content.decode()
    workspace.refresh_from_db()
    assert workspace.timeouts == {} and not workspace.auto_apply
