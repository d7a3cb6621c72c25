"""Several worker hosts (issue 17, point 6): two django-q2 clusters that see different host names
(IAC_WORKER_HOST) and data dirs (work dirs, backups, plugin cache), sharing one PostgreSQL.

A plan made on one host is applied on the other (the plan file lives in the database); runs of
several workspaces spread over both; a host stopped mid-queue leaves the rest of the queue to the
other one, and every run ends applied.
"""

import signal

import pytest

from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.conftest import WorkerProcess, wait_for
from tests.executions.conftest import tf_json
from workspaces.code.services import code_version_save
from workspaces.models import Workspace

pytestmark = pytest.mark.worker
Status = WorkspaceTask.Status


@pytest.fixture
def hosts(start_worker, tmp_path):
    """Factory: a worker cluster as host ``name`` with its own data dir."""
    started = []

    def _host(name: str, workers: int = 1) -> WorkerProcess:
        data_dir = tmp_path / name
        data_dir.mkdir(exist_ok=True)
        worker = WorkerProcess(data_dir, workers=workers, env={"IAC_WORKER_HOST": name})
        started.append(worker)
        return worker

    yield _host
    for worker in started:
        worker.stop()


def stop_host(worker: WorkerProcess) -> None:
    """A host's graceful stop: SIGTERM to the cluster's main process (its sentinel lets the run in
    hand end and stops the workers), as systemd's stop of the qcluster service does."""
    worker.process.send_signal(signal.SIGTERM)
    worker.process.wait(timeout=120)


def _workspace(name: str, seconds: float = 0) -> Workspace:
    ws = Workspace.objects.create(name=name)
    body = {"input": name}
    if seconds:
        body["provisioner"] = {"local-exec": {"command": f"sleep {seconds}"}}
    code_version_save(workspace=ws, code=tf_json({"r": body}))
    return ws


def test_a_plan_made_on_one_host_is_applied_on_the_other(transactional_db, hosts):
    ws = _workspace("across")
    first = hosts("host-a")
    plan = task_queue_run(workspace=ws, kind="plan_and_apply")
    plan = wait_for(lambda: WorkspaceTask.objects.filter(pk=plan.pk, status=Status.PLANNED).first(), timeout=120,
                    message="the plan")
    assert plan.worker_host == "host-a"
    stop_host(first)  # host a goes away (maintenance) before anyone confirms
    hosts("host-b")
    apply = task_confirm(task=plan)
    apply = wait_for(lambda: WorkspaceTask.objects.filter(pk=apply.pk, status__in=WorkspaceTask.TERMINAL).first(),
                     timeout=120, message="the apply")
    assert apply.status == Status.APPLIED, apply.error_message
    assert apply.worker_host == "host-b"
    assert ws.state_versions.count() == 1


def test_runs_spread_over_both_hosts_and_one_host_stopped_mid_queue_leaves_the_rest_to_the_other(
        transactional_db, hosts):
    spaces = [_workspace(f"spread{i}", seconds=3) for i in range(6)]
    Workspace.objects.filter(pk__in=[w.pk for w in spaces]).update(auto_apply=True)
    a, b = hosts("host-a"), hosts("host-b")
    for ws in spaces:
        task_queue_run(workspace=ws, kind="plan_and_apply")
    applies = WorkspaceTask.objects.filter(task_type="apply")
    # both hosts take runs
    wait_for(lambda: set(WorkspaceTask.objects.exclude(worker_host="").values_list("worker_host", flat=True))
             == {"host-a", "host-b"}, timeout=120, message="runs on both hosts")
    # host a stops at once (gracefully: what it runs now ends) while runs are still queued
    stop_host(a)
    stopped_with = applies.filter(status=Status.APPLIED).count()
    try:
        wait_for(lambda: applies.filter(status=Status.APPLIED).count() == 6, timeout=240, message="six applies")
    except AssertionError:
        print(list(WorkspaceTask.objects.values_list("id", "task_type", "status", "worker_host", "error_message")))
        print(b.output()[-3000:])
        raise
    assert stopped_with < 6
    assert not WorkspaceTask.objects.exclude(status__in=(Status.APPLIED, Status.CONFIRMED)).exists()
    # what was left when host a stopped was finished by host b
    finished_after = applies.order_by("-finished_at")[: 6 - stopped_with]
    assert {task.worker_host for task in finished_after} == {"host-b"}
    # one run at a time per workspace, whatever the host
    for ws in spaces:
        runs = list(WorkspaceTask.objects.filter(workspace=ws).order_by("started_at"))
        for earlier, later in zip(runs, runs[1:]):
            assert earlier.finished_at <= later.started_at
