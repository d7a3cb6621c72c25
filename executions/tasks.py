"""django-q2 entry points. A message carries only the task id; the database row is the truth."""

import logging
import os
import socket
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from executions.executor.pipeline import TaskRun
from executions.models import WorkspaceTask
from executions.services import claim_task, dispatch_workspace

logger = logging.getLogger("executions.tasks")
Status = WorkspaceTask.Status


def run_task(task_id: int) -> str:
    task = claim_task(task_id, host=socket.gethostname(), pid=os.getpid())
    if task is None:
        return "not claimed"
    logger.info("running task %s (%s) on %s", task.pk, task.task_type, task.workspace.name)
    run = TaskRun(task)
    try:
        run.execute()
    finally:
        dispatch_workspace(task.workspace_id)
    return run.task.status


def reap_dead_workers() -> list[int]:
    """Running tasks whose worker stopped heart-beating become failed; applies are never re-run."""
    cutoff = timezone.now() - timedelta(seconds=settings.IAC_REAPER_STALE_SECONDS)
    reaped = []
    stale = WorkspaceTask.objects.filter(status=Status.RUNNING).filter(
        Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)
    )
    for task in stale:
        if task.worker_host == socket.gethostname() and task.worker_pid and _alive(task.worker_pid):
            continue  # slow, not dead (e.g. waiting for the plugin cache lock)
        reason = (f"The worker running this task ({task.worker_host or '?'} pid {task.worker_pid or '?'}) stopped "
                  f"responding; last heartbeat {task.heartbeat_at or task.started_at}. "
                  + ("The apply is not re-run: check the state and plan again." if task.task_type == "apply"
                     else "Start the run again."))
        updated = WorkspaceTask.objects.filter(pk=task.pk, status=Status.RUNNING).update(
            status=Status.FAILED, stage=WorkspaceTask.Stage.DONE, finished_at=timezone.now(),
            error_message=reason, error_category="worker_lost",
        )
        if updated:
            reaped.append(task.pk)
            logger.warning("reaped task %s: %s", task.pk, reason)
            dispatch_workspace(task.workspace_id)
    return reaped


def _alive(pid: int) -> bool:
    """Is this local pid a live process (a zombie whose parent died counts as dead)?"""
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    try:
        with open(f"/proc/{pid}/stat") as handle:
            return handle.read().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return True


def sweep() -> dict:
    """Periodic: reap dead workers' tasks and wake up queued tasks whose message was lost."""
    reaped = reap_dead_workers()
    woken = []
    for workspace_id in WorkspaceTask.objects.filter(status=Status.QUEUED).values_list("workspace_id", flat=True).distinct():
        task_id = dispatch_workspace(workspace_id)
        if task_id:
            woken.append(task_id)
    return {"reaped": reaped, "dispatched": woken}
