"""A real database outage during an apply (a temporary PostgreSQL cluster stopped and started
again): the state is never lost, the worker survives, and nothing stays "running"."""

import json

import pytest
from django.db import OperationalError

from executions.executor.logs import LogWriter
from executions.models import Notification, TaskLog, WorkspaceTask
from executions.services import task_queue_run
from executions.tasks import sweep
from iacplatform.db import reconnect_after_failure
from tests.conftest import WorkerProcess, wait_for
from tests.executions.conftest import file_resource, tf_json
from tests.pgcluster import close_django_connection_socket, outage_tolerant
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Workspace

pytestmark = pytest.mark.worker
Status = WorkspaceTask.Status


def _apply_workspace(name, tmp_path, count=6, sleep=1):
    ws = Workspace.objects.create(name=name, auto_apply=True)
    files = tmp_path / f"{name}-files"
    files.mkdir()
    code_version_save(workspace=ws, code=tf_json(
        {f"r{i}": file_resource(files / f"r{i}.txt", sleep=sleep) for i in range(count)}))
    return ws, files


def _worker(tmp_path, settings, database, **env):
    settings.IAC_WORK_DIR = tmp_path / "work"
    settings.IAC_STATE_BACKUP_DIR = tmp_path / "state-backups"
    return WorkerProcess(tmp_path, workers=1, env={"DATABASE_URL": database.url, "IAC_HEARTBEAT_SECONDS": "1",
                                                   **{k: str(v) for k, v in env.items()}})


def test_an_outage_during_the_apply_is_ridden_out_and_the_state_saved(django_on_temp_postgres, tmp_path, settings):
    pg = django_on_temp_postgres.pg
    ws, files = _apply_workspace("ride-out", tmp_path)
    worker = _worker(tmp_path, settings, django_on_temp_postgres, IAC_STATE_SAVE_BACKOFF=3)
    try:
        task_queue_run(workspace=ws, kind="plan_and_apply")
        wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", stage="applying").exists(), timeout=90,
                 message="the apply to run")
        pg.restart_after(8)  # down for 8 s while terraform applies and the state save begins
        wait_for(outage_tolerant(lambda: WorkspaceTask.objects.filter(
            task_type="apply", status__in=[Status.APPLIED, Status.FAILED]).exists()), timeout=120,
            message="the apply to end")
        pg.wait_restarted(timeout=60)
        apply = WorkspaceTask.objects.get(task_type="apply")
        assert apply.status == Status.APPLIED, (apply.error_message, worker.output()[-3000:])
        version = StateVersion.objects.get(workspace=ws)
        assert {r["name"] for r in json.loads(version.content)["resources"]} == {f"r{i}" for i in range(6)}
        assert len(list(files.glob("*.txt"))) == 6
        log = "\n".join(TaskLog.objects.filter(task=apply).order_by("seq").values_list("text", flat=True))
        assert "Run finished: Applied" in log  # the lines of the outage were kept and stored afterwards
        assert not list(settings.IAC_STATE_BACKUP_DIR.glob("*.tfstate"))  # the backup went once saved
        # The worker survived the outage and takes new work.
        again = task_queue_run(workspace=ws, kind="plan")
        wait_for(lambda: WorkspaceTask.objects.get(pk=again.pk).status == Status.PLANNED_NO_CHANGES, timeout=60,
                 message="a plan after the outage")
    finally:
        print(worker.output()[-3000:])
        worker.stop()


def test_an_outage_longer_than_the_save_leaves_a_backup_that_the_sweep_records(django_on_temp_postgres, tmp_path,
                                                                               settings):
    pg = django_on_temp_postgres.pg
    ws, files = _apply_workspace("long-outage", tmp_path, count=3, sleep=2)
    worker = _worker(tmp_path, settings, django_on_temp_postgres, IAC_STATE_SAVE_BACKOFF=0)
    try:
        task_queue_run(workspace=ws, kind="plan_and_apply")
        apply = wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", stage="applying").first(),
                         timeout=90, message="the apply to run")
        pg.stop()  # down until after the worker has given up on every save attempt
        wait_for(lambda: len(list(files.glob("*.txt"))) == 3 and list(
            settings.IAC_STATE_BACKUP_DIR.glob("*.pending.json")), timeout=90,
            message="the apply to end and a pending recovery to be left on disk")
        [backup] = settings.IAC_STATE_BACKUP_DIR.glob(f"ws{ws.pk}_task{apply.pk}_*.tfstate")
        assert json.loads(backup.read_text())["resources"]  # the state was written before any database call
        pg.start()
        wait_for(outage_tolerant(lambda: Workspace.objects.filter(pk=ws.pk).exists()), timeout=30,
                 message="the database to answer")
        result = sweep()
        assert result["recovered"], result
        ws.refresh_from_db()
        apply.refresh_from_db()
        assert ws.locked and f"task #{apply.pk}" in ws.lock_reason
        assert Notification.objects.filter(level="emergency", workspace=ws).exists()
        version = StateVersion.objects.get(workspace=ws)
        assert version.source == "recovered" and len(json.loads(version.content)["resources"]) == 3
        assert apply.status == Status.FAILED  # never left "running"
        assert not list(settings.IAC_STATE_BACKUP_DIR.glob("*.pending.json"))
    finally:
        print(worker.output()[-3000:])
        worker.stop()


def test_a_log_chunk_on_a_cut_connection_is_kept_and_stored_on_a_fresh_one(transactional_db):
    ws = Workspace.objects.create(name="cut")
    task = WorkspaceTask.objects.create(workspace=ws, task_type="plan")
    log = LogWriter(task)
    log.add("first line")
    close_django_connection_socket()  # the database connection breaks under the writer
    log.flush()  # does not raise: the line is kept
    assert log.failures == 1 and [line for _, line in log.pending] == ["first line"]
    log.add("second line")
    log.flush()  # a fresh connection
    assert list(TaskLog.objects.filter(task=task).values_list("text", flat=True)) == ["first line\nsecond line"]


def test_without_a_fresh_connection_the_cut_stays_broken(transactional_db):
    """What the writer works around: Django never reconnects a broken connection by itself."""
    close_django_connection_socket()
    with pytest.raises(OperationalError):
        Workspace.objects.count()
    with pytest.raises(OperationalError):
        Workspace.objects.count()
    reconnect_after_failure()
    assert Workspace.objects.count() == 0
