"""With a real django-q2 worker process: FIFO per workspace, overlap across workspaces, reaper."""

import signal

import pytest

from executions.models import TaskLog, WorkspaceTask
from executions.services import task_queue_run
from executions.tasks import reap_dead_workers, run_task
from tests.conftest import wait_for
from tests.executions.conftest import tf_json
from workspaces.code.services import code_version_save
from workspaces.models import Workspace

pytestmark = pytest.mark.worker
Status = WorkspaceTask.Status
DONE = {Status.PLAN_FINISHED, Status.PLANNED_NO_CHANGES, Status.FAILED, Status.CANCELLED}


def _sleepy_workspace(name, marker_dir, seconds=1):
    ws = Workspace.objects.create(name=name)
    code = tf_json({"s": {"input": name, "provisioner": {"local-exec": {
        "command": f"date +%s.%N > {marker_dir}/{name}-$$.start; sleep {seconds}; date +%s.%N > {marker_dir}/{name}-$$.end"
    }}}})
    code_version_save(workspace=ws, code=code)
    return ws


def test_five_runs_on_one_workspace_run_one_at_a_time_in_fifo_order(start_worker, tmp_path):
    ws = Workspace.objects.create(name="fifo")
    code_version_save(workspace=ws, code=tf_json({"a": {"input": "x"}}))
    worker = start_worker(workers=3)
    tasks = [task_queue_run(workspace=ws, kind="plan", message=f"run {i}") for i in range(5)]
    wait_for(lambda: WorkspaceTask.objects.filter(workspace=ws, status__in=DONE).count() == 5, timeout=120,
             message="five plans to finish")
    done = list(WorkspaceTask.objects.filter(pk__in=[t.pk for t in tasks]).order_by("started_at"))
    assert [t.pk for t in done] == [t.pk for t in tasks], worker.output()[-2000:]
    for earlier, later in zip(done, done[1:]):
        assert earlier.finished_at <= later.started_at
    assert all(t.status == Status.PLAN_FINISHED for t in done)


def test_runs_on_three_workspaces_overlap(start_worker, tmp_path):
    markers = tmp_path / "markers"
    markers.mkdir()
    spaces = [_sleepy_workspace(f"ws{i}", markers, seconds=3) for i in range(3)]
    # A plan does not run provisioners; applying does. Use auto-apply.
    Workspace.objects.filter(pk__in=[w.pk for w in spaces]).update(auto_apply=True)
    worker = start_worker(workers=3)
    for ws in spaces:
        task_queue_run(workspace=ws, kind="plan_and_apply")
    try:
        wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", status=Status.APPLIED).count() == 3,
                 timeout=90, message="three applies")
    except AssertionError:
        print(list(WorkspaceTask.objects.values_list("id", "task_type", "status", "error_message")))
        print(worker.output()[-4000:])
        raise
    spans = []
    for ws in spaces:
        start = float(next(markers.glob(f"{ws.name}-*.start")).read_text())
        end = float(next(markers.glob(f"{ws.name}-*.end")).read_text())
        spans.append((start, end))
    latest_start = max(s for s, _ in spans)
    earliest_end = min(e for _, e in spans)
    assert latest_start < earliest_end, f"provisioners did not overlap: {spans}"


def test_second_delivery_of_a_task_runs_terraform_once(transactional_db, tmp_path):
    ws = Workspace.objects.create(name="twice")
    code_version_save(workspace=ws, code=tf_json({"a": {"input": "x"}}))
    task = task_queue_run(workspace=ws, kind="plan")
    assert run_task(task.pk) == Status.PLAN_FINISHED
    logs_before = TaskLog.objects.filter(task=task).count()
    assert run_task(task.pk) == "not claimed"
    assert TaskLog.objects.filter(task=task).count() == logs_before
    text = "\n".join(TaskLog.objects.filter(task=task).values_list("text", flat=True))
    assert text.count("$ terraform plan") == 1


def test_killed_worker_task_is_marked_failed_by_the_reaper(start_worker, tmp_path, settings):
    markers = tmp_path / "markers"
    markers.mkdir()
    ws = _sleepy_workspace("doomed", markers, seconds=60)
    Workspace.objects.filter(pk=ws.pk).update(auto_apply=True)
    worker = start_worker(workers=1)
    task_queue_run(workspace=ws, kind="plan_and_apply")
    apply = wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", status=Status.RUNNING,
                                                          stage="applying").first(), timeout=90,
                     message="the apply to run")
    wait_for(lambda: list(markers.glob("doomed-*.start")), timeout=60, message="the provisioner to start")
    worker.kill(signal.SIGKILL)
    settings.IAC_REAPER_STALE_SECONDS = 0
    # The killed worker may take a moment to be gone; until then the reaper leaves its task alone.
    assert wait_for(reap_dead_workers, timeout=30, message="the reaper") == [apply.pk]
    apply.refresh_from_db()
    assert apply.status == Status.FAILED and apply.error_category == "worker_lost"
    assert "not re-run" in apply.error_message
    # nothing re-runs it
    assert reap_dead_workers() == []
    assert WorkspaceTask.objects.filter(task_type="apply").count() == 1
