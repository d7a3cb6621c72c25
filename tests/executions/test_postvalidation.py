"""Post-execution validation of an apply: a run that "succeeded" but left a state that cannot
follow the stored one, a lock file or a live process is marked failed, and its state is
kept as a backup — nothing is lost.

The faults are injected by a fake terraform that runs the real apply and then damages
what it wrote (real Terraform never writes a serial backwards on its own).
"""

import json
import sys

import pytest
from django.core.management import call_command

from executions.executor.logs import log_text
from executions.models import Notification, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import file_resource, tf_json
from tests.executions.test_failures import assert_failed, calls_of, fake_terraform, started
from workspaces.models import StateVersion

Status = WorkspaceTask.Status


def after_apply(python_code: str) -> str:
    """Bash for the fake terraform: run the real apply, then ``python_code`` in the work dir."""
    return (f'if [ "$1" = apply ]; then "$REAL" "$@"; rc=$?\n'
            f"{sys.executable} - <<'PY'\n{python_code}\nPY\nexit $rc; fi")


def fake_with_real(tmp_path, settings, body):
    real = settings.TERRAFORM_BIN
    return fake_terraform(tmp_path, settings, f"REAL={real}\n{body}")


@pytest.fixture
def applied_once(workspace, tmp_path, save_code, run_now):
    """A workspace with a first state (serial 1) made by a real plan and apply."""
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt", "alpha")},
                                 outputs={"a_out": {"value": "${terraform_data.a.output}"}}))
    apply = run_now(task_confirm(task=run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))))
    assert apply.status == Status.APPLIED, apply.error_message
    return StateVersion.objects.get(workspace=workspace)


def plan_second_change(workspace, tmp_path, save_code, run_now):
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt", "alpha"),
                                  "b": file_resource(tmp_path / "b.txt", "beta")},
                                 outputs={"a_out": {"value": "${terraform_data.a.output}"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED, plan.error_message
    return task_confirm(task=plan)


def backups(settings, workspace, task):
    return list(settings.IAC_STATE_BACKUP_DIR.glob(f"ws{workspace.pk}_task{task.pk}_*.tfstate"))


def test_first_state_and_outputs_pass_validation(workspace, applied_once):
    apply = WorkspaceTask.objects.get(task_type="apply")
    text = log_text(apply)
    assert "post-execution validation passed: state valid and saved, outputs recorded, no lock file or process left" \
           in text
    assert apply.outputs == applied_once.outputs == {"a_out": {"value": "alpha", "type": "string",
                                                               "sensitive": False}}


def test_serial_going_backwards_fails_the_run_and_keeps_the_state(workspace, applied_once, tmp_path, save_code,
                                                                  run_now, settings):
    apply = plan_second_change(workspace, tmp_path, save_code, run_now)
    calls = fake_with_real(tmp_path, settings, after_apply(
        'import json\nd = json.load(open("terraform.tfstate"))\nd["serial"] = 0\n'
        'json.dump(d, open("terraform.tfstate", "w"))'))
    apply = run_now(apply)

    assert_failed(apply, "state_conflict", "compare the backup with the latest state version")
    assert "the state's serial went backwards, from 1 to 0" in apply.error_message
    assert len(calls_of(calls, "apply")) == 1 and started(apply, "apply") == 1
    assert (tmp_path / "b.txt").exists()  # the apply itself happened: its state must not be lost
    [backup] = backups(settings, workspace, apply)
    kept = json.loads(backup.read_text())
    assert kept["serial"] == 0 and {r["name"] for r in kept["resources"]} == {"a", "b"}
    assert str(backup) in apply.error_message
    # not stored over the history; the workspace waits for an operator
    assert list(StateVersion.objects.filter(workspace=workspace).values_list("serial", flat=True)) == [1]
    workspace.refresh_from_db()
    assert workspace.locked and str(backup) in workspace.lock_reason
    assert Notification.objects.filter(level="emergency", task=apply).exists()

    # nothing lost: the operator restores the backup (forced: it is older by its serial)
    call_command("retry_state_save", workspace.name, "--backup", str(backup), "--force")
    workspace.refresh_from_db()
    assert not workspace.locked
    latest = StateVersion.objects.filter(workspace=workspace).order_by("-serial").first()
    assert latest.serial == 2 and {r["name"] for r in json.loads(latest.content)["resources"]} == {"a", "b"}


def test_lineage_change_fails_the_run(workspace, applied_once, tmp_path, save_code, run_now, settings):
    apply = plan_second_change(workspace, tmp_path, save_code, run_now)
    fake_with_real(tmp_path, settings, after_apply(
        'import json\nd = json.load(open("terraform.tfstate"))\nd["lineage"] = "someone-elses-lineage"\n'
        'json.dump(d, open("terraform.tfstate", "w"))'))
    apply = assert_failed(run_now(apply), "state_conflict")
    assert f"the state's lineage changed from {applied_once.lineage} to someone-elses-lineage" in apply.error_message
    [backup] = backups(settings, workspace, apply)
    assert json.loads(backup.read_text())["lineage"] == "someone-elses-lineage"
    assert StateVersion.objects.filter(workspace=workspace).count() == 1


def test_unparsable_state_fails_the_run(workspace, applied_once, tmp_path, save_code, run_now, settings):
    apply = plan_second_change(workspace, tmp_path, save_code, run_now)
    fake_with_real(tmp_path, settings, after_apply('open("terraform.tfstate", "a").write("\\n}garbage")'))
    apply = assert_failed(run_now(apply), "state_conflict")
    assert "terraform wrote a state that is not a valid Terraform state" in apply.error_message
    [backup] = backups(settings, workspace, apply)
    assert backup.read_text().endswith("}garbage")


def test_lock_file_left_behind_fails_the_run_but_saves_the_state(workspace, applied_once, tmp_path, save_code,
                                                                 run_now, settings):
    apply = plan_second_change(workspace, tmp_path, save_code, run_now)
    fake_with_real(tmp_path, settings, after_apply(
        'open(".terraform.tfstate.lock.info", "w").write("{\\"ID\\": \\"left-behind\\"}")'))
    apply = assert_failed(run_now(apply), "internal", "Terraform did not end cleanly")
    assert "terraform left its state lock file (.terraform.tfstate.lock.info) behind" in apply.error_message
    # the state itself was valid: stored as the next version, and kept as a backup too
    latest = StateVersion.objects.filter(workspace=workspace).order_by("-serial").first()
    assert latest.serial == 2 and latest.task_id == apply.pk
    [backup] = backups(settings, workspace, apply)
    assert {r["name"] for r in json.loads(backup.read_text())["resources"]} == {"a", "b"}
    workspace.refresh_from_db()
    assert not workspace.locked


def test_process_left_alive_fails_the_run(workspace, applied_once, tmp_path, save_code, run_now, monkeypatch):
    from executions.executor import checks

    apply = plan_second_change(workspace, tmp_path, save_code, run_now)
    real = checks.group_processes
    # fault injection: a process of terraform's group that survived the SIGKILL (e.g. stuck in the kernel)
    monkeypatch.setattr(checks, "group_processes", lambda pgid, workdir=None: [424242] if workdir else real(pgid))
    apply = assert_failed(run_now(apply), "internal")
    assert "processes of terraform's group are still alive (pids 424242)" in apply.error_message
    assert StateVersion.objects.filter(workspace=workspace).count() == 2
