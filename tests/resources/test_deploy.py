"""Targeted plans of selected resources: through the normal queue, with Terraform's addresses."""

import json

import pytest

from executions.models import WorkspaceTask
from executions.services import task_confirm
from executions.tasks import run_task
from iacplatform.errors import Conflict, DomainError, NotFound, WorkspaceLocked
from resources.services import resource_create, resource_delete, resource_update, resources_deploy
from tests.resources.conftest import fragment
from workspaces.code.services import code_version_save
from workspaces.crypto import decrypt_bytes
from workspaces.models import Workspace
from workspaces.services import workspace_lock

pytestmark = pytest.mark.django_db
MODULE_CODE = '# file: modules/web/main.tf\nresource "terraform_data" "page" {\n  input = "page"\n}\n'


def _run(task):
    run_task(task.pk)
    return WorkspaceTask.objects.get(pk=task.pk)


def test_a_targeted_plan_plans_only_the_selected_addresses(workspace, make_resource, user):
    code_version_save(workspace=workspace, code=MODULE_CODE, code_format="hcl")
    a, b = make_resource("a"), make_resource("b")
    make_resource("c")
    web = resource_create(workspace=workspace, code={"module": {"web": {"source": "./modules/web"}}})

    task = resources_deploy(workspace=workspace, resource_ids=[web.pk, a.pk], user=user)
    assert (task.task_type, task.status) == ("plan", "queued")
    assert task.targets == ["module.web", "terraform_data.a"]
    assert task.message == "Targeted plan: module.web, terraform_data.a" and task.created_by == user

    task = _run(task)
    assert task.status == WorkspaceTask.Status.PLAN_FINISHED, task.error_message
    plan = json.loads(decrypt_bytes(bytes(task.plan_json)))
    assert {r["address"] for r in plan["resource_changes"]} == {"terraform_data.a", "module.web.terraform_data.page"}
    assert task.context["resource_versions"] == {
        "module.web": 1, "terraform_data.a": 1, "terraform_data.b": 1, "terraform_data.c": 1}
    assert b.pk  # planned as a whole workspace, b would be there too


def test_editing_a_resource_after_the_plan_makes_its_apply_stale(workspace, make_resource):
    a, b = make_resource("a"), make_resource("b")
    task = _run(resources_deploy(workspace=workspace, resource_ids=[a.pk, b.pk], kind="plan_and_apply"))
    assert task.status == WorkspaceTask.Status.PLANNED, task.error_message
    resource_update(resource=b, code=fragment("b", input="changed"))
    with pytest.raises(Conflict, match="stale: managed resources changed"):
        task_confirm(task=task)


def test_data_source_addresses_are_targets_too(workspace):
    data = resource_create(workspace=workspace,
                           code={"data": {"terraform_remote_state": {"net": {"backend": "local"}}}})
    task = resources_deploy(workspace=workspace, resource_ids=[str(data.pk)])
    assert task.targets == ["data.terraform_remote_state.net"]


def test_bad_selections_are_refused_and_queue_nothing(workspace, make_resource):
    a = make_resource("a")
    foreign = make_resource("f", ws=Workspace.objects.create(name="other"))
    gone = make_resource("gone")
    resource_delete(resource=gone)
    with pytest.raises(DomainError, match="at least one"):
        resources_deploy(workspace=workspace, resource_ids=[])
    with pytest.raises(NotFound, match=f"No resource with id {foreign.pk} in workspace demo"):
        resources_deploy(workspace=workspace, resource_ids=[a.pk, foreign.pk])
    with pytest.raises(DomainError, match="not a resource id"):
        resources_deploy(workspace=workspace, resource_ids=["terraform_data.a"])
    with pytest.raises(DomainError, match="terraform_data.gone is deleted"):
        resources_deploy(workspace=workspace, resource_ids=[gone.pk])
    with pytest.raises(DomainError, match="Unknown run kind"):
        resources_deploy(workspace=workspace, resource_ids=[a.pk], kind="destroy")
    workspace_lock(workspace=workspace, reason="maintenance")
    with pytest.raises(WorkspaceLocked, match="maintenance"):
        resources_deploy(workspace=workspace, resource_ids=[a.pk])
    assert not WorkspaceTask.objects.exists()
