"""Drift detection: scheduled drift checks on django-q2, the ``drift_detected`` event, the result.

A drift check is a run of its own kind (``WorkspaceTask.TaskType.DRIFT_CHECK``): ``terraform plan
-refresh-only -detailed-exitcode`` through the normal queue (``services.task_queue_drift_check``),
never applied. The pipeline (``executor.pipeline.TaskRun.drift_check``) stores the drift as the
run's summary and sends ``drift_detected``.

Schedule: a workspace's ``drift_schedule`` (off / hourly / daily / cron) is one django-q2
``Schedule`` named ``drift-check-<workspace id>`` calling ``scheduled_drift_check``; a check that
finds the workspace busy or locked does not queue and is retried once after
``IAC_DRIFT_RETRY_SECONDS`` (a one-off schedule ``drift-check-retry-<id>``).
"""

import logging
from datetime import timedelta

from croniter import croniter
from django.conf import settings
from django.dispatch import Signal, receiver
from django.utils import timezone
from django_q.models import Schedule

from executions.models import WorkspaceTask
from executions.notifications import notify_warning
from executions.services import DriftCheckSkipped, task_queue_drift_check
from iacplatform.errors import DomainError
from workspaces.models import Workspace

logger = logging.getLogger("executions.drift")
Status = WorkspaceTask.Status

# Sent when a drift check finds resources changed outside terraform: ``task``, ``drift`` (the summary).
drift_detected = Signal()

SCHEDULE_FUNC = "executions.drift.scheduled_drift_check"


def schedule_name(workspace_id: int) -> str:
    return f"drift-check-{workspace_id}"


def retry_name(workspace_id: int) -> str:
    return f"drift-check-retry-{workspace_id}"


def _next_cron(expression: str):
    return croniter(expression, timezone.now()).get_next(type(timezone.now()))


def drift_schedule_sync(workspace: Workspace) -> Schedule | None:
    """Make the django-q2 schedule match the workspace's drift setting (off: no schedule)."""
    name = schedule_name(workspace.pk)
    kind = workspace.drift_schedule
    if kind == Workspace.DriftSchedule.OFF:
        Schedule.objects.filter(name__in=[name, retry_name(workspace.pk)]).delete()
        return None
    now = timezone.now()
    defaults = {"func": SCHEDULE_FUNC, "args": str(workspace.pk), "repeats": -1, "cron": None}
    if kind == Workspace.DriftSchedule.HOURLY:
        defaults.update(schedule_type=Schedule.HOURLY, next_run=now + timedelta(hours=1))
    elif kind == Workspace.DriftSchedule.DAILY:
        defaults.update(schedule_type=Schedule.DAILY, next_run=now + timedelta(days=1))
    else:
        defaults.update(schedule_type=Schedule.CRON, cron=workspace.drift_cron, next_run=_next_cron(workspace.drift_cron))
    schedule, _ = Schedule.objects.update_or_create(name=name, defaults=defaults)
    return schedule


def scheduled_drift_check(workspace_id: int) -> str:
    """The scheduled entry point: queue a drift check, or yield (busy or locked) and retry later."""
    workspace = Workspace.objects.filter(pk=workspace_id).first()
    if workspace is None:
        Schedule.objects.filter(name__in=[schedule_name(workspace_id), retry_name(workspace_id)]).delete()
        return "workspace gone"
    try:
        task = task_queue_drift_check(workspace=workspace, scheduled=True)
    except DriftCheckSkipped as exc:
        retry_at = timezone.now() + timedelta(seconds=settings.IAC_DRIFT_RETRY_SECONDS)
        Schedule.objects.update_or_create(name=retry_name(workspace_id), defaults={
            "func": SCHEDULE_FUNC, "args": str(workspace_id), "schedule_type": Schedule.ONCE, "repeats": -1,
            "next_run": retry_at})
        logger.info("drift check of %s skipped (%s); retried at %s", workspace.name, exc.message, retry_at)
        return f"skipped: {exc.message}"
    except DomainError as exc:  # no code yet: nothing to check
        return f"not started: {exc.message}"
    return f"queued drift check #{task.pk}"


@receiver(drift_detected)
def notify_drift(sender, task, drift, **kwargs) -> None:
    """The default hook: a warning notification naming what drifted (channels plug in later)."""
    lines = []
    for resource in drift["resources"]:
        names = ", ".join(a["name"] for a in resource["changed_attributes"]) or resource["action"]
        lines.append(f"{resource['address']}: {names}")
    notify_warning(f"Drift detected on workspace {task.workspace.name}",
                   f"Drift check #{task.pk}: {len(lines)} resource(s) changed outside terraform.\n" + "\n".join(lines),
                   workspace=task.workspace, task=task)


def latest_drift(workspace) -> dict | None:
    """The latest drift check's result for the overview: ``task``, ``drifted`` (drift found and no
    apply since), ``resources``, ``running`` (a drift check waiting or running)."""
    checks = WorkspaceTask.objects.filter(workspace=workspace, task_type=WorkspaceTask.TaskType.DRIFT_CHECK)
    active = checks.filter(status__in=(Status.QUEUED, Status.RUNNING)).order_by("-id").first()
    done = (checks.filter(status__in=(Status.PLAN_FINISHED, Status.PLANNED_NO_CHANGES, Status.FAILED))
            .order_by("-id").first())
    if done is None and active is None:
        return None
    drifted, resources = False, []
    if done is not None and done.status == Status.PLAN_FINISHED and done.has_changes:
        applied_since = WorkspaceTask.objects.filter(
            workspace=workspace, task_type=WorkspaceTask.TaskType.APPLY, status=Status.APPLIED,
            finished_at__gt=done.finished_at).exists()
        drifted = not applied_since
        resources = (done.change_summary or {}).get("resources", [])
    return {"task": done, "active": active, "drifted": drifted, "resources": resources,
            "reconciled": bool(done and done.has_changes and not drifted)}
