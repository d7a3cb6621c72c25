"""The executions app's answers to ``workspaces.runs.RunsPort``: runs, as the lower apps see them.

Registered in ``ExecutionsConfig.ready``; see docs/architecture.md.
"""

import logging

from django.db.models import BooleanField, Case, Count, F, IntegerField, OuterRef, Q, Subquery, Value, When, Window
from django.db.models.functions import Coalesce, RowNumber

from executions import drift, selectors, services
from executions.models import Notification, WorkspaceTask
from executions.runs import latest_runs
from executions.notifications import notify_event
from workspaces.runs import RunsPort

Status = WorkspaceTask.Status
RECENT_RUNS_PER_VERSION = 5
logger = logging.getLogger("executions.workspace_runs")


class ExecutionsRuns(RunsPort):
    def running_run_id(self, workspace) -> int | None:
        return (WorkspaceTask.objects.filter(workspace=workspace, status=Status.RUNNING)
                .values_list("pk", flat=True).first())

    def running_run_lock_info(self, workspace) -> dict | None:
        run = (WorkspaceTask.objects.select_related("created_by")
               .filter(workspace=workspace, status=Status.RUNNING).first())
        if run is None:
            return None
        operation = {"apply": "OperationTypeApply"}.get(run.task_type, "OperationTypePlan")
        who = run.created_by.get_username() if run.created_by_id else "platform"
        started = run.started_at or run.created_at
        return {"ID": f"platform-run-{run.pk}", "Operation": operation,
                "Info": f"platform run #{run.pk} ({run.get_task_type_display()}) is running",
                "Who": f"platform run #{run.pk} ({who})", "Version": "", "Path": "",
                "Created": started.isoformat().replace("+00:00", "Z")}

    def active_run_id(self, workspace) -> int | None:
        return (WorkspaceTask.objects.filter(workspace=workspace, status__in=selectors.ACTIVE)
                .order_by("id").values_list("id", flat=True).first())

    def before_workspace_delete(self, workspace) -> None:
        # Apply tasks protect their plan tasks: remove them first, then everything else cascades.
        WorkspaceTask.objects.filter(workspace=workspace, plan_task__isnull=False).delete()

    def annotate_workspace_list(self, queryset):
        last_task = WorkspaceTask.objects.filter(workspace=OuterRef("pk")).order_by("-created_at", "-id")
        last_drift = (WorkspaceTask.objects.filter(workspace=OuterRef("pk"), task_type=WorkspaceTask.TaskType.DRIFT_CHECK,
                                                   status__in=(Status.PLAN_FINISHED, Status.PLANNED_NO_CHANGES))
                      .order_by("-id"))
        last_applied = (WorkspaceTask.objects.filter(workspace=OuterRef("pk"), status=Status.APPLIED)
                        .order_by("-finished_at"))
        # A subquery, not Count("tasks"): the join and GROUP BY it needs made PostgreSQL evaluate
        # every other subquery once per run of the workspace (a list query grew with runs²:
        # 118 ms for one workspace of 300 runs, bench/memory.py).
        pending = (WorkspaceTask.objects.filter(workspace=OuterRef("pk"),
                                                status__in=(Status.PLANNED, Status.POLICY_OVERRIDE))
                   .order_by().values("workspace").annotate(n=Count("id")).values("n"))
        return queryset.annotate(
            last_run_status=Subquery(last_task.values("status")[:1]),
            last_run_at=Subquery(last_task.values("created_at")[:1]),
            last_run_id=Subquery(last_task.values("id")[:1]),
            pending_confirmations=Coalesce(Subquery(pending, output_field=IntegerField()), 0),
            last_drift_changes=Subquery(last_drift.values("has_changes")[:1]),
            last_drift_at=Subquery(last_drift.values("finished_at")[:1]),
            last_applied_at=Subquery(last_applied.values("finished_at")[:1]),
        ).annotate(drifted=Case(
            When(Q(last_drift_changes=True) & (Q(last_applied_at__isnull=True) | Q(last_applied_at__lt=F("last_drift_at"))),
                 then=Value(True)),
            default=Value(False), output_field=BooleanField()))

    def code_version_runs(self, version_ids):
        counts = dict(
            WorkspaceTask.objects.filter(code_version_id__in=version_ids)
            .values("code_version_id").annotate(n=Count("id")).values_list("code_version_id", "n")
        )
        recent: dict[int, list[dict]] = {}
        rows = (
            WorkspaceTask.objects.filter(code_version_id__in=version_ids)
            .annotate(rank=Window(RowNumber(), partition_by=[F("code_version_id")], order_by=F("id").desc()))
            .filter(rank__lte=RECENT_RUNS_PER_VERSION)
            .values("id", "code_version_id", "status", "task_type")
            .order_by("code_version_id", "-id")
        )
        for row in rows:
            # the human labels next to the keys (the keys name the CSS classes)
            row["status_label"] = Status(row["status"]).label
            row["task_type_label"] = WorkspaceTask.TaskType(row["task_type"]).label
            recent.setdefault(row["code_version_id"], []).append(row)
        return counts, recent

    def overview(self, workspace) -> dict:
        runs = latest_runs(workspace=workspace, limit=5)  # runs, not tasks (issue 16)
        latest = runs[0] if runs else None
        return {"runs": runs, "latest": latest, "latest_active": bool(latest and latest.status in selectors.ACTIVE),
                "pending": selectors.pending_confirmation(workspace=workspace), "drift": drift.latest_drift(workspace)}

    def drift_schedule_changed(self, workspace) -> None:
        drift.drift_schedule_sync(workspace)

    def workspace_unlocked(self, workspace) -> None:
        services.dispatch_workspace(workspace.pk)

    def workspace_lock_changed(self, workspace, *, locked, reason="", user=None) -> None:
        who = f" by {user.get_username()}" if user is not None and getattr(user, "pk", None) else ""
        try:
            if locked:
                notify_event(Notification.Event.WORKSPACE_LOCKED, workspace=workspace,
                             title=f"Workspace {workspace.name} locked{who}", message=reason)
            else:
                notify_event(Notification.Event.WORKSPACE_UNLOCKED, workspace=workspace,
                             title=f"Workspace {workspace.name} unlocked{who}", message="Its queued runs may start.")
        except Exception:  # noqa: BLE001 — the lock itself is done; a lost note must not undo or fail it
            logger.exception("lock notification for workspace %s not recorded", workspace.pk)

    def queue_plan(self, *, workspace, kind, targets=(), message="", user=None):
        return services.task_queue_run(workspace=workspace, kind=kind, targets=targets, message=message, user=user)
