import json

import pytest

from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run
from iacplatform.errors import Conflict, DomainError, WorkspaceLocked
from tests.executions.conftest import file_resource, tf_json
from workspaces.crypto import decrypt_bytes
from workspaces.services import workspace_lock
from workspaces.state.services import state_version_create

Status = WorkspaceTask.Status


@pytest.fixture
def planned(workspace, tmp_path, save_code, run_now):
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED
    return plan


def test_apply_refused_when_code_changed(planned, workspace, save_code):
    save_code(workspace, tf_json({"b": {"input": "other"}}))
    with pytest.raises(Conflict, match="the code changed since the plan"):
        task_confirm(task=planned)


def test_apply_refused_when_a_variable_changed(planned, workspace, set_var):
    set_var(workspace, "region", "eu-west-1")
    with pytest.raises(Conflict, match="variables changed"):
        task_confirm(task=planned)


def test_apply_refused_when_state_moved(planned, workspace):
    state_version_create(workspace=workspace, content=json.dumps(
        {"version": 4, "terraform_version": "1.15.5", "serial": 7, "lineage": "abc", "outputs": {}, "resources": []}))
    with pytest.raises(Conflict, match="the state moved since the plan"):
        task_confirm(task=planned)


def test_apply_task_rechecks_staleness_when_it_runs(planned, workspace, save_code, run_now, tmp_path):
    apply = task_confirm(task=planned)
    save_code(workspace, tf_json({"b": {"input": "late change"}}))
    apply = run_now(apply)
    assert apply.status == Status.FAILED and apply.error_category == "stale_plan"
    assert "the code changed since the plan" in apply.error_message
    assert not (tmp_path / "a.txt").exists()


def test_locked_workspace_refuses_runs_and_confirmations(planned, workspace):
    workspace_lock(workspace=workspace, reason="maintenance window")
    with pytest.raises(WorkspaceLocked, match="maintenance window") as exc:
        task_queue_run(workspace=workspace, kind="plan")
    assert exc.value.status == 423
    with pytest.raises(WorkspaceLocked):
        task_confirm(task=planned)


def test_bad_kind_and_targets_are_refused(workspace):
    with pytest.raises(DomainError, match="Unknown run kind"):
        task_queue_run(workspace=workspace, kind="destroy")
    with pytest.raises(DomainError, match="is not a resource address"):
        task_queue_run(workspace=workspace, kind="plan", targets=["not an address"])
    assert not WorkspaceTask.objects.exists()


def test_target_touches_only_the_targeted_resource(workspace, tmp_path, save_code, run_now):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    save_code(workspace, tf_json({"a": file_resource(a, "alpha"), "b": file_resource(b, "beta")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", targets=["terraform_data.a"]))
    assert plan.status == Status.PLANNED
    assert [r["address"] for r in plan.change_summary["resources"]] == ["terraform_data.a"]
    plan_doc = json.loads(decrypt_bytes(plan.plan_json))
    assert [rc["address"] for rc in plan_doc["resource_changes"]] == ["terraform_data.a"]
    apply = run_now(task_confirm(task=plan))
    assert apply.status == Status.APPLIED, apply.error_message
    assert a.exists() and not b.exists()


def test_empty_workspace_fails_with_a_clear_reason(workspace, run_now):
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert task.status == Status.FAILED and "no code yet" in task.error_message


def test_terraform_error_fails_the_run_with_its_output(workspace, save_code, run_now):
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "${var.missing}"}}}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert task.status == Status.FAILED and task.exit_code == 1
    assert "terraform plan failed" in task.error_message
    assert "Reference to undeclared input variable" in "\n".join(task.logs.values_list("text", flat=True))
