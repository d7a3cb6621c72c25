"""Issue 16, bug 2: a change of the provider settings reaches the next run.

Each code version kept its own copy of the provider config, and that copy won in
provider.tf.json until new code was saved: changing the region in Settings changed nothing.
Now the workspace's settings are what a run writes, and each change of them is recorded as a
code version (same code, new provider config), so the history says when the provider changed.
"""

import json

import pytest
from django.urls import reverse

from executions.executor.config import prepare_workdir
from executions.models import WorkspaceTask
from executions.services import plan_staleness, task_queue_run
from tests.executions.conftest import tf_json
from tests.workspaces.test_pages_settings import VALID
from workspaces.code.services import code_version_rollback
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db
EU_WEST = {"provider": {"aws": {"region": "eu-west-1"}}}
EU_CENTRAL = {"provider": {"aws": {"region": "eu-central-1"}}}


def _settings(auth_client, provider_config):
    data = {**VALID, "provider_config": json.dumps(provider_config)}
    response = auth_client.post(reverse("workspace_settings", args=["demo"]), data)
    assert response.status_code == 302


def _written_provider(workspace) -> dict:
    task = task_queue_run(workspace=workspace, kind="plan")
    workdir = prepare_workdir(task, code_version=task.code_version)
    return json.loads((workdir.path / "provider.tf.json").read_text())


def test_a_region_changed_in_settings_is_what_the_next_run_writes(auth_client, workspace, save_code):
    _settings(auth_client, EU_WEST)
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    assert workspace.current_code_version.provider_config == EU_WEST
    _settings(auth_client, EU_CENTRAL)
    workspace = Workspace.objects.get(pk=workspace.pk)
    written = _written_provider(workspace)
    assert written["provider"]["aws"]["region"] == "eu-central-1"


def test_each_provider_change_is_a_code_version_and_a_rollback_keeps_the_settings(auth_client, workspace,
                                                                                  save_code):
    _settings(auth_client, EU_WEST)
    first = save_code(workspace, tf_json({"a": {"input": "x"}}))
    _settings(auth_client, EU_CENTRAL)
    workspace = Workspace.objects.get(pk=workspace.pk)
    second = workspace.current_code_version
    assert second.number == first.number + 1 and second.code == first.code
    assert second.provider_config == EU_CENTRAL == workspace.provider_config
    assert second.message == "Provider configuration changed in Settings"
    _settings(auth_client, EU_CENTRAL)  # unchanged settings: no new version
    assert Workspace.objects.get(pk=workspace.pk).current_code_version_id == second.pk
    save_code(workspace, tf_json({"a": {"input": "y"}}))
    rolled, created = code_version_rollback(workspace=workspace, number=first.number)
    assert created and rolled.code == first.code
    workspace = Workspace.objects.get(pk=workspace.pk)
    # the code of version 1, the provider settings of now: a code rollback does not undo Settings
    assert rolled.provider_config == EU_CENTRAL == workspace.provider_config
    assert _written_provider(workspace)["provider"]["aws"]["region"] == "eu-central-1"


def test_a_plan_made_before_a_provider_change_is_stale(auth_client, workspace, save_code, run_now):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == WorkspaceTask.Status.PLAN_FINISHED, plan.error_message
    _settings(auth_client, EU_CENTRAL)
    assert "the code changed since the plan" in (plan_staleness(plan) or "")


def test_a_change_in_the_admin_is_recorded_too(admin_client_logged, workspace, save_code):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    url = reverse("admin:workspaces_workspace_change", args=[workspace.pk])
    form = admin_client_logged.get(url).context["adminform"].form
    data = {name: value for name, value in form.initial.items() if value is not None}
    data.update({"name": workspace.name, "provider_config": json.dumps(EU_CENTRAL), "timeouts": "{}",
                 "current_code_version": workspace.current_code_version_id})
    data = {k: v for k, v in data.items() if not isinstance(v, bool) or v}
    response = admin_client_logged.post(url, data)
    assert response.status_code == 302, response.context["adminform"].form.errors
    workspace = Workspace.objects.get(pk=workspace.pk)
    assert workspace.provider_config == EU_CENTRAL == workspace.current_code_version.provider_config
    assert _written_provider(workspace)["provider"]["aws"]["region"] == "eu-central-1"
