"""Cancel a run while a local-exec sleeps: cancelled within the grace period, nothing left running,
partial state saved."""

import json
import os
import threading
import time

from executions.models import WorkspaceTask
from executions.services import task_cancel, task_confirm, task_queue_run
from executions.tasks import run_task
from tests.conftest import wait_for
from workspaces.models import StateVersion

Status = WorkspaceTask.Status


def _pids_with(marker: str) -> list[int]:
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/cmdline", "rb") as handle:
                if marker.encode() in handle.read():
                    found.append(int(entry))
        except OSError:
            continue
    return found


def test_cancel_running_apply_stops_terraform_and_keeps_partial_state(transactional_db, workspace, tmp_path, settings):
    settings.IAC_CANCEL_GRACE_SECONDS = 3
    done = tmp_path / "first-done.txt"
    marker = f"sleep-marker-{os.getpid()}"
    code = {"resource": {"terraform_data": {
        "first": {"input": "1", "provisioner": {"local-exec": {"command": f"echo ok > {done}"}}},
        "slow": {"input": "2", "depends_on": ["terraform_data.first"],
                 "provisioner": {"local-exec": {"command": f"bash -c 'exec -a {marker} sleep 300'"}}},
    }}}
    from workspaces.code.services import code_version_save

    code_version_save(workspace=workspace, code=json.dumps(code))
    plan = task_queue_run(workspace=workspace, kind="plan_and_apply")
    run_task(plan.pk)
    apply = task_confirm(task=WorkspaceTask.objects.get(pk=plan.pk))

    runner = threading.Thread(target=run_task, args=(apply.pk,))
    runner.start()
    wait_for(lambda: _pids_with(marker), timeout=60, message="the sleeping provisioner")
    assert done.exists()
    asked = time.monotonic()
    task_cancel(task=apply)
    runner.join(timeout=60)
    elapsed = time.monotonic() - asked
    assert not runner.is_alive()
    apply.refresh_from_db()
    assert apply.status == Status.CANCELLED, apply.error_message
    assert elapsed < 1 + 2 * settings.IAC_CANCEL_GRACE_SECONDS + 3
    assert _pids_with(marker) == []
    state = StateVersion.objects.get(workspace=workspace)
    addresses = {f"{r['type']}.{r['name']}" for r in json.loads(state.content)["resources"]}
    assert "terraform_data.first" in addresses
    assert state.task_id == apply.pk


def test_cancel_queued_run_is_immediate(workspace, save_code):
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "x"}}}}))
    task = task_queue_run(workspace=workspace, kind="plan")
    cancelled = task_cancel(task=task)
    assert cancelled.status == Status.CANCELLED and cancelled.finished_at is not None
    assert run_task(task.pk) == "not claimed"
