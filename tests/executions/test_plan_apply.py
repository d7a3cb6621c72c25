import json

from executions.models import TaskLog, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import file_resource, tf_json
from workspaces.models import StateVersion

Status = WorkspaceTask.Status


def test_plan_confirm_apply_creates_files_and_state(workspace, user, tmp_path, save_code, run_now):
    a, b = tmp_path / "a.txt", tmp_path / "b.txt"
    save_code(workspace, tf_json(
        {"a": file_resource(a, "alpha"), "b": file_resource(b, "beta")},
        outputs={"a_out": {"value": "${terraform_data.a.output}"}},
    ))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", user=user))
    assert plan.status == Status.PLANNED, plan.error_message
    assert plan.stage == WorkspaceTask.Stage.AWAITING_CONFIRMATION
    assert plan.change_summary["add"] == 2 and plan.change_summary["destroy"] == 0
    assert {r["address"] for r in plan.change_summary["resources"]} == {"terraform_data.a", "terraform_data.b"}
    assert plan.plan_file and plan.lock_file == "" or plan.plan_file
    logs = list(TaskLog.objects.filter(task=plan).order_by("seq"))
    assert [log.seq for log in logs] == list(range(1, len(logs) + 1))
    text = "\n".join(log.text for log in logs)
    assert text.index("terraform init") < text.index("terraform plan") < text.index("Plan: 2 to add")
    assert logs[-1].stage == "complete"
    assert not a.exists()

    apply = run_now(task_confirm(task=plan, user=user, comment="ship it"))
    assert apply.status == Status.APPLIED, apply.error_message
    assert a.read_text().strip() == "alpha" and b.read_text().strip() == "beta"
    state = StateVersion.objects.get(workspace=workspace)
    # state version 1 is serial 1 (terraform's own count is renumbered; the content says 1 too)
    assert state.serial == 1 and json.loads(state.content)["serial"] == 1
    assert state.task_id == apply.pk and state.resource_count == 2
    assert state.outputs["a_out"]["value"] == "alpha"
    assert apply.outputs["a_out"]["value"] == "alpha"
    plan.refresh_from_db()
    assert plan.status == Status.CONFIRMED and plan.context["confirm_comment"] == "ship it"

    again = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", user=user))
    assert again.status == Status.PLANNED_NO_CHANGES
    assert again.context["state_serial"] == state.serial


def test_speculative_plan_cannot_be_applied(workspace, tmp_path, save_code, run_now):
    import pytest

    from iacplatform.errors import Conflict

    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED and plan.change_summary["add"] == 1
    with pytest.raises(Conflict, match="plan-only run can never be applied"):
        task_confirm(task=plan)


def test_workdir_is_removed_after_the_run(workspace, tmp_path, save_code, run_now, settings):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert list(settings.IAC_WORK_DIR.iterdir()) == []
