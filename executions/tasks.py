"""django-q2 entry points. A message carries only the task id; the database row is the truth."""

import logging
import os
import time
from datetime import timedelta

from django.conf import settings
from django.db.models import Q
from django.utils import timezone

from executions import delivery
from executions.executor import recovery
from executions.executor.pipeline import TaskRun
from executions.models import WorkerBeat, WorkspaceTask
from executions.services import claim_task, dispatch_workspace

logger = logging.getLogger("executions.tasks")
Status = WorkspaceTask.Status


def run_task(task_id: int) -> str:
    started, entered = time.perf_counter(), timezone.now()
    task = claim_task(task_id, host=settings.IAC_WORKER_HOST, pid=os.getpid())
    if task is None:
        worker_beat()
        return "not claimed"
    logger.info("running task %s (%s) on %s", task.pk, task.task_type, task.workspace.name)
    run = TaskRun(task)
    run.timings.add("claim", time.perf_counter() - started)
    if task.queued_at:  # from the queueing to this worker (commit, broker, django-q's pusher)
        run.timings.add("delivery", max(0.0, (entered - task.queued_at).total_seconds()))
    worker_beat()  # after the claim: it is not on the run's way
    try:
        run.execute()
    finally:
        if not run.dispatched:  # an auto-apply's confirmation has already sent the workspace's next task
            dispatch_workspace(task.workspace_id)
    return run.task.status


def reap_dead_workers(*, local_only: bool = False) -> list[int]:
    """Running tasks whose heartbeat stopped lost their worker (killed, host gone, hung).

    The heartbeat comes from a thread for the whole run, so a stale one means the worker is
    gone or stuck, whatever its pid. A lost plan is failed (the operator starts it again); a
    lost apply is never re-run: its workspace is locked, an emergency raised and what
    terraform wrote recovered (``executions.executor.recovery``).
    """
    cutoff = timezone.now() - timedelta(seconds=settings.IAC_REAPER_STALE_SECONDS)
    reaped = []
    host = settings.IAC_WORKER_HOST
    running = WorkspaceTask.objects.select_related("workspace").filter(status=Status.RUNNING)
    # On this host a dead worker is known at once (its pid is gone); elsewhere by its heartbeat.
    dead_here = [t for t in running.filter(worker_host=host) if t.worker_pid and not _alive(t.worker_pid)]
    stale = [] if local_only else list(running.filter(Q(heartbeat_at__lt=cutoff) | Q(heartbeat_at__isnull=True)))
    for task in {t.pk: t for t in [*dead_here, *stale]}.values():
        lost_apply = task.task_type == WorkspaceTask.TaskType.APPLY and task.stage in recovery.APPLY_STAGES
        reason = (f"The worker running this task ({task.worker_host or '?'} pid {task.worker_pid or '?'}) stopped "
                  f"responding; last heartbeat {task.heartbeat_at or task.started_at}. "
                  + ("The apply is not re-run: the workspace is locked until an operator checks the recovered "
                     "state." if lost_apply else
                     "The apply is not re-run: check the state and plan again." if task.task_type == "apply"
                     else "Start the run again."))
        if not recovery.fail_lost_run(task, reason):
            continue  # it finished (or another sweep took it) meanwhile
        reaped.append(task.pk)
        logger.warning("reaped task %s: %s", task.pk, reason)
        if lost_apply:
            recovery.recover_lost_apply(task)
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


def on_worker_spawn(sender=None, proc_name: str = "", **kwargs) -> None:
    """A worker process started (at cluster start, or replacing one that died): the runs of a
    dead worker of this host are taken at once, not after the heartbeat goes stale."""
    try:
        worker_beat()
        reaped = reap_dead_workers(local_only=True)
        if reaped:
            logger.warning("%s: took over the lost runs %s of this host", proc_name, reaped)
    except Exception:  # noqa: BLE001 — the periodic sweep does it later; never keep a worker from starting
        logger.exception("reaping at worker start failed")


def sweep() -> dict:
    """Periodic: finish what an outage left undone, reap dead workers' tasks, wake up queued
    tasks whose message was lost, send the notifications whose next try is due."""
    worker_beat()
    pending = recovery.process_pending_markers()
    reaped = reap_dead_workers()
    woken = []
    for workspace_id in WorkspaceTask.objects.filter(status=Status.QUEUED).values_list("workspace_id", flat=True).distinct():
        task_id = dispatch_workspace(workspace_id)
        if task_id:
            woken.append(task_id)
    notified = delivery.deliveries_due()
    return {"recovered": pending, "reaped": reaped, "dispatched": woken, "notifications": notified}


def worker_beat() -> None:
    """This host's workers are alive (the metrics' worker heartbeat age, the "worker missing" alert)."""
    beat = {"pid": os.getpid(), "seen_at": timezone.now()}
    if not WorkerBeat.objects.filter(host=settings.IAC_WORKER_HOST).update(**beat):  # one query, once the row exists
        WorkerBeat.objects.update_or_create(host=settings.IAC_WORKER_HOST, defaults=beat)
