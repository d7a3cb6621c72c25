"""Pre-execution checks: each trips with its own message, and nothing is run or changed.

A fake terraform in front of the real one records every call: a tripped check leaves it
uncalled (the binary check alone runs ``terraform version``), no work dir is created and
no state is written.
"""

import json
import os
import signal
import subprocess

import pytest

from executions.executor import checks
from executions.executor.logs import log_text
from executions.executor.pipeline import TaskRun
from executions.models import WorkspaceTask
from executions.services import claim_task, task_confirm, task_queue_run
from tests.executions.conftest import file_resource, tf_json
from tests.executions.test_failures import assert_failed, calls_of, fake_terraform
from workspaces.models import StateVersion
from workspaces.services import workspace_lock

Status = WorkspaceTask.Status


@pytest.fixture
def recorder(tmp_path, settings):
    """The fake terraform recording calls, installed before the run starts."""
    return fake_terraform(tmp_path, settings)


def assert_nothing_ran(task, calls, settings, *, allowed=()):
    assert [c for c in calls_of(calls) if c not in allowed] == []
    work = settings.IAC_WORK_DIR
    assert not work.exists() or not [p for p in work.iterdir() if p.name.startswith("task-")]
    assert "pre-execution check failed" in log_text(task) and "Nothing was run." in log_text(task)
    assert "$ terraform" not in log_text(task)
    assert task.stage == WorkspaceTask.Stage.DONE and task.finished_at is not None


def test_all_checks_pass_and_are_logged(workspace, save_code, run_now):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert task.status == Status.PLAN_FINISHED, task.error_message
    assert "pre-execution checks passed: workspace unlocked, no other run, code parses, " \
           "module sources inside the workspace, required variables set, " \
           "work dir writable with free disk, terraform 1.15." in log_text(task)


def test_workspace_locked_after_the_claim(workspace, save_code, recorder, settings):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = claim_task(task_queue_run(workspace=workspace, kind="plan").pk, host="test", pid=os.getpid())
    workspace_lock(workspace=workspace, reason="change freeze until Monday")  # locked between claim and start
    TaskRun(task).execute()
    task = assert_failed(task, "state_lock", "Unlock the workspace")
    assert task.error_message == "The workspace is locked: change freeze until Monday"
    assert_nothing_ran(task, recorder, settings)


def test_another_run_on_the_workspace(workspace, save_code):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    first = claim_task(task_queue_run(workspace=workspace, kind="plan").pk, host="test", pid=os.getpid())
    second = task_queue_run(workspace=workspace, kind="plan")
    with pytest.raises(checks.CheckFailed) as exc:
        checks.check_no_other_run(second)
    assert exc.value.message == f"Run #{first.pk} is already running on this workspace."
    assert exc.value.category == "state_lock" and f"Wait for run #{first.pk}" in exc.value.hint


def test_terraform_left_running_by_a_dead_worker(workspace, save_code, recorder, settings, tmp_path):
    """A worker killed mid-run leaves its terraform alive (own process group); the next run
    on the workspace must not start a second terraform next to it."""
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    old_workdir = tmp_path / "old-run"
    old_workdir.mkdir()
    orphan = subprocess.Popen(["sleep", "120"], cwd=old_workdir, start_new_session=True)
    try:
        checks.record_run_process(workspace_id=workspace.pk, task_id=999, pgid=orphan.pid, workdir=old_workdir)
        task = claim_task(task_queue_run(workspace=workspace, kind="plan").pk, host="test", pid=os.getpid())
        TaskRun(task).execute()
        task = assert_failed(task, "state_lock", f"kill -INT -- -{orphan.pid}")
        assert task.error_message.startswith(f"Terraform of run #999 is still running on this host (process group "
                                             f"{orphan.pid}, pids {orphan.pid})")
        assert_nothing_ran(task, recorder, settings)
    finally:
        os.killpg(orphan.pid, signal.SIGKILL)
        orphan.wait()
    # once it is gone, the record is dropped and runs go ahead
    task = claim_task(task_queue_run(workspace=workspace, kind="plan").pk, host="test", pid=os.getpid())
    TaskRun(task).execute()
    task.refresh_from_db()
    assert task.status == Status.PLAN_FINISHED, task.error_message
    assert checks.read_run_record(workspace.pk) is None


def test_stale_plan(workspace, tmp_path, save_code, run_now, set_var, settings):
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = task_confirm(task=plan)
    set_var(workspace, "region", "eu-west-1")
    calls = fake_terraform(tmp_path, settings)
    apply = run_now(apply)
    apply = assert_failed(apply, "stale_plan", "plan again")
    assert apply.error_message == "The plan is stale: the workspace's variables changed since the plan. Plan again."
    assert_nothing_ran(apply, calls, settings)
    assert not (tmp_path / "a.txt").exists() and not StateVersion.objects.exists()


def test_plan_file_missing(workspace, tmp_path, save_code, run_now, settings):
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = task_confirm(task=plan)
    WorkspaceTask.objects.filter(pk=plan.pk).update(plan_file=None)
    calls = fake_terraform(tmp_path, settings)
    apply = assert_failed(run_now(apply), "stale_plan")
    assert apply.error_message == "The plan file of the approved plan is missing; plan again."
    assert_nothing_ran(apply, calls, settings)


def test_code_does_not_parse(workspace, save_code, run_now, recorder, settings):
    save_code(workspace, 'resource "terraform_data" "a" {\n  input = "x"\n', code_format="hcl")
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "configuration",
                         "Fix main.tf at line 3")
    assert task.error_message.startswith("main.tf: The code is not valid HCL: line 3")
    assert_nothing_ran(task, recorder, settings)


def test_module_file_does_not_parse(workspace, save_code, run_now, recorder, settings):
    code = ('module "web" {\n  source = "./modules/web"\n}\n'
            '# file: modules/web/main.tf\nresource "terraform_data" "page" {\n  input = \n}\n')
    save_code(workspace, code, code_format="hcl")
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "configuration",
                         "Fix modules/web/main.tf at line")
    assert_nothing_ran(task, recorder, settings)


def test_no_code(workspace, run_now, recorder, settings):
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "configuration")
    assert "no code yet" in task.error_message
    assert_nothing_ran(task, recorder, settings)


def test_required_variable_without_value(workspace, save_code, run_now, recorder, settings, set_var):
    save_code(workspace, 'variable "region" {}\nvariable "zone" {\n  type = string\n}\n'
                         'variable "size" {\n  default = 1\n}\n'
                         'resource "terraform_data" "a" {\n  input = "${var.region}-${var.zone}-${var.size}"\n}\n',
              code_format="hcl")
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "variable",
                         'Set variables "region", "zone" in the workspace\'s variables')
    assert task.error_message == ('Variables "region", "zone" are declared without a default and have no value in '
                                  'the workspace.')
    assert_nothing_ran(task, recorder, settings)

    set_var(workspace, "region", "eu")
    set_var(workspace, "TF_VAR_zone", "a", category="env")  # an environment variable counts too
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert task.status == Status.PLAN_FINISHED, task.error_message


def test_required_variable_in_json_code(workspace, save_code, run_now, recorder, settings):
    save_code(workspace, json.dumps({"variable": {"token": {"type": "string"}, "opt": {"default": None}},
                                     "resource": {"terraform_data": {"a": {"input": "${var.token}"}}}}))
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "variable", '"token"')
    assert task.error_message.startswith('Variable "token" is declared without a default')
    assert_nothing_ran(task, recorder, settings)


def test_work_dir_not_writable(workspace, save_code, run_now, recorder, settings, tmp_path):
    blocker = tmp_path / "not-a-directory"
    blocker.write_text("a file where the work dir should be")
    settings.IAC_WORK_DIR = blocker / "work"
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "internal", "writable")
    assert task.error_message.startswith(f"The work directory {blocker / 'work'} is not writable")
    assert_nothing_ran(task, recorder, settings)


def test_not_enough_free_disk(workspace, save_code, run_now, recorder, settings):
    settings.IAC_MIN_FREE_DISK_MB = 10 ** 9
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "internal", "Free disk space")
    assert "a run needs at least 1000000000 MB (IAC_MIN_FREE_DISK_MB)" in task.error_message
    assert_nothing_ran(task, recorder, settings)


def test_terraform_binary_missing(workspace, save_code, run_now, settings, tmp_path):
    settings.TERRAFORM_BIN = str(tmp_path / "no-such-terraform")
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "internal", "TERRAFORM_BIN")
    assert task.error_message.startswith("The terraform binary does not run:")
    assert "does not exist or is not executable" in task.error_message


def test_terraform_binary_that_does_not_run(workspace, save_code, run_now, settings, tmp_path):
    calls = fake_terraform(tmp_path, settings, 'echo "cannot execute: bad ELF" >&2; exit 126')
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "internal")
    assert "did not report a version" in task.error_message
    assert_nothing_ran(task, calls, settings, allowed=("version -json",))


def test_terraform_version_pin_mismatch(workspace, save_code, run_now, recorder, settings):
    workspace.terraform_version = "1.14"
    workspace.save()
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "configuration",
                         "Change the workspace's Terraform version")
    assert task.error_message.startswith("The workspace pins Terraform 1.14, but this worker runs Terraform 1.15.")
    assert_nothing_ran(task, recorder, settings, allowed=("version -json",))
    assert calls_of(recorder) == ["version -json"]


def test_terraform_version_pin_match_runs(workspace, save_code, run_now, recorder):
    workspace.terraform_version = "1.15"
    workspace.save()
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert task.status == Status.PLAN_FINISHED, task.error_message
    assert "matches pin 1.15" in log_text(task)
    assert calls_of(recorder)[0] == "version -json"  # checked before anything runs
    assert calls_of(recorder)[1].startswith("plan ")  # (terraform_data needs no init)


@pytest.mark.parametrize("pin, version, ok", [
    ("1.15", "1.15.5", True), ("1.15", "1.15.0-rc1", True), ("1.15.5", "1.15.5", True),
    ("1.15.4", "1.15.5", False), ("1.1", "1.15.5", False), ("1.14", "1.15.5", False), ("", "1.15.5", False),
])
def test_version_pin_matching(pin, version, ok):
    assert checks.version_matches(pin, version) is ok
