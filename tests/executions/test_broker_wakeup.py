"""Workers wake on PostgreSQL's LISTEN/NOTIFY when a run is queued, not on the next poll
(iacplatform/broker.py); a lost listening connection falls back to polling and comes back."""

import time

import pytest
from django.db import connection

from executions.models import WorkspaceTask
from executions.services import task_queue_run
from iacplatform.broker import NotifyingORM, channel_for
from tests.conftest import wait_for
from tests.executions.conftest import tf_json
from workspaces.code.services import code_version_save
from workspaces.models import Workspace

pytestmark = pytest.mark.worker
Status = WorkspaceTask.Status
# The fallback poll of these workers: far longer than a woken start may take.
FALLBACK = 60


@pytest.fixture
def postgres_only():
    if connection.vendor != "postgresql":
        pytest.skip("LISTEN/NOTIFY needs PostgreSQL (on SQLite the broker polls)")


def started_within(task, seconds: float) -> float:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        task.refresh_from_db()
        if task.started_at is not None:
            return (task.started_at - task.queued_at).total_seconds()
        time.sleep(0.05)
    raise AssertionError(f"run #{task.pk} did not start within {seconds} s ({task.status})")


def listeners() -> list[int]:
    with connection.cursor() as cursor:
        cursor.execute("SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN %%'")
        return [row[0] for row in cursor.fetchall()]


def test_a_queued_run_wakes_an_idle_worker_at_once(postgres_only, start_worker):
    ws = Workspace.objects.create(name="wake")
    code_version_save(workspace=ws, code=tf_json({"a": {"input": "x"}}))
    worker = start_worker(workers=1, env={"IAC_BROKER_WAIT": str(FALLBACK)})
    wait_for(lambda: listeners(), timeout=60, message="the worker to listen")
    time.sleep(1)  # idle: its pusher waits on LISTEN now
    delays = []
    for _ in range(3):
        task = task_queue_run(workspace=ws, kind="plan")
        delays.append(started_within(task, 20))
        wait_for(lambda: WorkspaceTask.objects.get(pk=task.pk).status == Status.PLAN_FINISHED, timeout=60,
                 message="the plan to finish")
    assert max(delays) < 5, (delays, worker.output()[-2000:])


def test_a_lost_listening_connection_falls_back_to_polling_and_listens_again(postgres_only, start_worker):
    ws = Workspace.objects.create(name="relisten")
    code_version_save(workspace=ws, code=tf_json({"a": {"input": "x"}}))
    worker = start_worker(workers=1, env={"IAC_BROKER_WAIT": str(FALLBACK)})
    wait_for(lambda: listeners(), timeout=60, message="the worker to listen")
    (killed,) = listeners()
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_terminate_backend(%s)", [killed])
    wait_for(lambda: listeners() and listeners() != [killed], timeout=30, message="a new listening connection")
    time.sleep(0.5)
    task = task_queue_run(workspace=ws, kind="plan")
    assert started_within(task, 20) < 5, worker.output()[-2000:]
    assert "listening connection lost" in worker.output()


def test_the_channel_name_is_a_safe_identifier(db):
    assert channel_for("iacplatform") == "iac_q_iacplatform"
    assert channel_for("Notify-Workers 2") == "iac_q_notify_workers_2"
    assert NotifyingORM(list_key="x").channel == "iac_q_x"
