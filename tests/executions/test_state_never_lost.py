"""A state is never lost: the races at the end of a plan, backup ownership, a worker that lost
its run, and real worker deaths (``kill -9``) during an apply."""

import json
import os
import signal
import time

import pytest

from executions.executor import pipeline
from executions.executor.runner import group_processes
from executions.executor.state_save import state_restore_from_backup, write_backup
from executions.models import Notification, StateCheckpoint, WorkspaceTask
from executions.services import plan_staleness, task_cancel, task_confirm, task_queue_run
from iacplatform.errors import Conflict, DomainError
from tests.conftest import wait_for
from tests.executions.conftest import file_resource, tf_json
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Workspace
from workspaces.services import variable_set

Status = WorkspaceTask.Status


def _state(serial=1, lineage="lin-1"):
    return json.dumps({"version": 4, "terraform_version": "1.15.5", "serial": serial, "lineage": lineage,
                       "outputs": {}, "resources": []})


# --- backups belong to their workspace ------------------------------------------------------
def test_a_backup_of_another_workspace_is_never_restored(db):
    app = Workspace.objects.create(name="app")
    app_db = Workspace.objects.create(name="app_db")
    backup = write_backup(app_db, None, _state(lineage="db-lineage"))
    # The old name glob (ws_app_*) matched app_db's backups too; by id and sidecar it cannot.
    with pytest.raises(DomainError, match="no state backup"):
        state_restore_from_backup(workspace=app)
    with pytest.raises(Conflict, match="belongs to another workspace"):
        state_restore_from_backup(workspace=app, backup_path=str(backup))
    assert not StateVersion.objects.filter(workspace=app).exists()
    version = state_restore_from_backup(workspace=app_db, backup_path=backup.name)
    assert version.workspace == app_db and version.lineage == "db-lineage"


def test_a_backup_carries_its_workspace_and_run(db):
    ws = Workspace.objects.create(name="side")
    backup = write_backup(ws, None, _state())
    info = json.loads(backup.with_name(backup.name + ".json").read_text())
    assert info["workspace_id"] == ws.pk and info["workspace"] == "side"
    assert oct(backup.stat().st_mode & 0o777) == "0o600"


# --- the end of a plan ----------------------------------------------------------------------
def test_confirm_refuses_a_plan_whose_cancel_was_requested(workspace, save_code, run_now):
    save_code(workspace, tf_json({"a": {"input": "1"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED
    WorkspaceTask.objects.filter(pk=plan.pk).update(cancel_requested=True)
    plan.refresh_from_db()
    with pytest.raises(Conflict, match="cancel"):
        task_confirm(task=plan)
    assert not WorkspaceTask.objects.filter(task_type="apply").exists()


def test_a_cancel_pressed_while_the_plan_is_saved_wins_over_auto_apply(workspace, save_code, run_now, monkeypatch):
    Workspace.objects.filter(pk=workspace.pk).update(auto_apply=True)
    workspace.refresh_from_db()
    save_code(workspace, tf_json({"a": {"input": "1"}}))
    real = pipeline.TaskRun.save_plan_artifacts

    def saved_while_cancel_pressed(self, has_changes):  # the operator's click lands during the save
        real(self, has_changes)
        task_cancel(task=WorkspaceTask.objects.get(pk=self.task.pk))

    monkeypatch.setattr(pipeline.TaskRun, "save_plan_artifacts", saved_while_cancel_pressed)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.CANCELLED
    assert not WorkspaceTask.objects.filter(task_type="apply").exists()


def test_a_variable_edited_while_the_work_dir_is_written_makes_the_plan_stale(workspace, save_code, run_now,
                                                                             monkeypatch):
    save_code(workspace, tf_json({"a": {"input": "${var.v}"}}, extra={"variable": {"v": {"type": "string"}}}))
    variable_set(workspace=workspace, key="v", value="one")
    real = pipeline.prepare_workdir

    def prepare_then_edit(task, **kwargs):  # the edit lands after the work dir read the variables
        workdir = real(task, **kwargs)
        variable_set(workspace=task.workspace, key="v", value="two")
        return workdir

    monkeypatch.setattr(pipeline, "prepare_workdir", prepare_then_edit)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED
    # The plan says "one" and the workspace now says "two": applying it would not apply what is set.
    assert "variables" in (plan_staleness(plan) or "")


# --- a worker that lost its run writes nothing ------------------------------------------------
@pytest.mark.worker
def test_a_worker_that_lost_its_claim_stops_terraform_and_writes_no_state(start_worker, tmp_path, settings):
    settings.IAC_HEARTBEAT_SECONDS = 1
    ws = Workspace.objects.create(name="stolen", auto_apply=True)
    # Each resource sleeps 3 s before its file: longer than the worker needs to learn of the theft
    # (its next heartbeat, then its next cancel check: up to 2 s here), so no file may appear.
    code_version_save(workspace=ws, code=tf_json({f"r{i}": file_resource(tmp_path / f"r{i}.txt", sleep=3)
                                                   for i in range(6)}))
    worker = start_worker(workers=1, env={"IAC_HEARTBEAT_SECONDS": "1", "IAC_CANCEL_GRACE_SECONDS": "3"})
    task_queue_run(workspace=ws, kind="plan_and_apply")
    apply = wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", stage="applying").first(),
                     timeout=90, message="the apply to run")
    # Another claim takes the row (as if this worker had been reaped and the run handed on).
    WorkspaceTask.objects.filter(pk=apply.pk).update(claim_token="someone-else")
    logs_at_theft = apply.logs.count()
    wait_for(lambda: list(settings.IAC_STATE_BACKUP_DIR.glob(f"ws{ws.pk}_task{apply.pk}_*.tfstate")), timeout=60,
             message="the lost run's state to go to a backup")
    time.sleep(2)
    apply.refresh_from_db()
    assert apply.status == Status.RUNNING and apply.claim_token == "someone-else", worker.output()[-3000:]
    assert not StateVersion.objects.filter(workspace=ws).exists()
    # At most the chunks already on their way: a line is stored within 0.1 s of its output, and the
    # worker learns of the theft at its next heartbeat (1 s here).
    assert apply.logs.count() <= logs_at_theft + 6
    assert len(list(tmp_path.glob("r*.txt"))) < 6  # terraform was stopped, not left to finish


# --- kill -9 during an apply ------------------------------------------------------------------
def _doomed_apply(start_worker, tmp_path, settings, count=40):
    settings.IAC_CANCEL_GRACE_SECONDS = 3
    ws = Workspace.objects.create(name="doomed", auto_apply=True)
    files = tmp_path / "files"
    files.mkdir()
    code_version_save(workspace=ws, code=tf_json(
        {f"r{i:02d}": file_resource(files / f"r{i:02d}.txt", sleep=2) for i in range(count)}))
    env = {"IAC_CANCEL_GRACE_SECONDS": "3", "IAC_CHECKPOINT_SECONDS": "1", "IAC_HEARTBEAT_SECONDS": "1"}
    worker = start_worker(workers=1, env=env)
    task_queue_run(workspace=ws, kind="plan_and_apply")
    apply = wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", stage="applying").first(),
                     timeout=90, message="the apply to run")
    wait_for(lambda: StateCheckpoint.objects.filter(task=apply).exists() and len(list(files.glob("*.txt"))) >= 4,
             timeout=60, message="a few resources and a checkpoint")
    apply.refresh_from_db()
    return ws, files, apply, worker, env


def _assert_recovered(ws, files, apply, worker, count):
    ws.refresh_from_db()
    assert ws.locked, worker.output()[-3000:]
    assert f"Run #{apply.pk}" in ws.lock_reason and "Recovered:" in ws.lock_reason
    assert Notification.objects.filter(level="emergency", event="run_recovered", workspace=ws, task=apply).exists()
    version = StateVersion.objects.get(workspace=ws, source="recovered")
    in_state = {r["name"] for r in json.loads(version.content)["resources"]}
    on_disk = {p.stem for p in files.glob("*.txt")}
    # Every resource whose provisioner ran is in the recovered state: nothing is created twice.
    assert on_disk <= in_state | {max(on_disk, default="")}, (on_disk - in_state)
    assert not os.path.exists(apply.work_dir)
    assert not group_processes(apply.pgid)
    apply.refresh_from_db()
    assert apply.status == Status.FAILED and apply.error_category == "worker_lost"
    with pytest.raises(DomainError, match="locked"):
        task_queue_run(workspace=ws, kind="plan")
    return in_state


@pytest.mark.worker
def test_kill_9_of_the_worker_process_mid_apply_recovers_its_state_and_locks(start_worker, tmp_path, settings):
    ws, files, apply, worker, _ = _doomed_apply(start_worker, tmp_path, settings)
    started = time.monotonic()
    os.kill(apply.worker_pid, signal.SIGKILL)  # the worker process only: the cluster starts another
    wait_for(lambda: Workspace.objects.filter(pk=ws.pk, locked=True).exists()
             and StateVersion.objects.filter(workspace=ws, source="recovered").exists()
             and Notification.objects.filter(level="emergency", workspace=ws).exists(),
             timeout=60, message="recovery by the replacement worker")
    assert time.monotonic() - started < 60
    _assert_recovered(ws, files, apply, worker, 40)


@pytest.mark.worker
def test_kill_9_of_the_whole_cluster_recovers_when_a_worker_starts_again(start_worker, tmp_path, settings):
    ws, files, apply, worker, env = _doomed_apply(start_worker, tmp_path, settings)
    worker.kill(signal.SIGKILL)  # every process of the cluster; terraform gets SIGINT and writes its state
    wait_for(lambda: not group_processes(apply.pgid), timeout=30, message="terraform to stop by itself")
    state_file = os.path.join(apply.work_dir, "terraform.tfstate")
    output = open(os.path.join(apply.work_dir, ".terraform-output.log")).read()
    assert os.path.exists(state_file), (os.listdir(apply.work_dir), output[-3000:])  # it stopped gracefully
    replacement = start_worker(workers=1, env=env)
    wait_for(lambda: StateVersion.objects.filter(workspace=ws, source="recovered").exists()
             and Workspace.objects.filter(pk=ws.pk, locked=True).exists()
             and Notification.objects.filter(level="emergency", workspace=ws).exists(), timeout=60,
             message="recovery at worker start (state stored, then the lock and the emergency)")
    _assert_recovered(ws, files, apply, replacement, 40)
    # From the work dir's final file, not an older checkpoint: the last applied resources are there.
    version = StateVersion.objects.get(workspace=ws, source="recovered")
    assert {r["name"] for r in json.loads(version.content)["resources"]} >= {p.stem for p in files.glob("*.txt")}


@pytest.mark.worker
def test_a_worker_frozen_past_the_reap_writes_nothing_when_it_resumes(start_worker, tmp_path, settings):
    """Two claims never both write: the reaped run's worker, resumed, keeps its state out of the database."""
    settings.IAC_CANCEL_GRACE_SECONDS = 2
    ws = Workspace.objects.create(name="frozen", auto_apply=True)
    code_version_save(workspace=ws, code=tf_json({f"r{i}": file_resource(tmp_path / f"r{i}.txt", sleep=1)
                                                   for i in range(12)}))
    worker = start_worker(workers=1, env={"IAC_HEARTBEAT_SECONDS": "1", "IAC_CANCEL_GRACE_SECONDS": "2"})
    task_queue_run(workspace=ws, kind="plan_and_apply")
    apply = running = wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", stage="applying").first(),
                               timeout=90, message="the apply to run")
    os.kill(running.worker_pid, signal.SIGSTOP)  # the worker and its heartbeat freeze; terraform goes on
    try:
        settings.IAC_REAPER_STALE_SECONDS = 1
        time.sleep(2)
        from executions.tasks import reap_dead_workers

        assert reap_dead_workers() == [apply.pk]
        apply.refresh_from_db()
        reaped_at, logs_at_reap = apply.finished_at, apply.logs.count()
        versions_at_reap = set(StateVersion.objects.filter(workspace=ws).values_list("pk", flat=True))
    finally:
        os.kill(running.worker_pid, signal.SIGCONT)
    wait_for(lambda: f"task {apply.pk} ended" in worker.output() or "no longer owned" in worker.output(),
             timeout=60, message="the resumed worker to give the run up")
    time.sleep(1)
    apply.refresh_from_db()
    assert apply.status == Status.FAILED and apply.finished_at == reaped_at
    assert set(StateVersion.objects.filter(workspace=ws).values_list("pk", flat=True)) == versions_at_reap
    assert apply.logs.count() == logs_at_reap
