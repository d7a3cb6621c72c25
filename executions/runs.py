"""A run as the operator sees it: a plan and the apply of it are one run with two phases.

The database keeps two tasks (the plan task and the apply task that points at it through
``plan_task``); the runs list, its filters and the run page show one run:

- its status is the real outcome: a confirmed plan whose apply errored is one "Apply errored"
  run (red), not a green "Confirmed" plan next to a red apply;
- each phase has its own duration, and the time spent waiting for a person (confirmation or a
  policy override) is counted apart from both;
- the filters count runs: a run is filtered by its outcome (``run_status``), computed in SQL.

Read-only, like ``executions.selectors``.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db.models import CharField, Count, IntegerField, OuterRef, Prefetch, Subquery
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.dateparse import parse_datetime

from executions.models import WorkspaceTask
from executions.selectors import HEAVY_FIELDS, RUN_FILTERS

Status = WorkspaceTask.Status
TaskType = WorkspaceTask.TaskType
Stage = WorkspaceTask.Stage
WAITING_STAGES = (Stage.AWAITING_CONFIRMATION, Stage.AWAITING_POLICY_OVERRIDE)
# What the run is while (or after) its apply phase, in the operator's words.
APPLY_LABELS = {
    Status.PENDING: "Apply queued", Status.QUEUED: "Apply queued", Status.RUNNING: "Running apply",
    Status.APPLIED: "Applied", Status.FAILED: "Apply errored", Status.CANCELLED: "Cancelled during apply",
}


def _tasks():
    return WorkspaceTask.objects.defer(*HEAVY_FIELDS)


def runs_of(workspace):
    """One row per run (applies folded into their plan), each annotated with ``run_status``:
    its latest apply's status once confirmed, else its own."""
    latest_apply = WorkspaceTask.objects.filter(plan_task=OuterRef("pk")).order_by("-id")
    return (
        _tasks().filter(workspace=workspace).exclude(task_type=TaskType.APPLY)
        .annotate(apply_id=Subquery(latest_apply.values("id")[:1], output_field=IntegerField()),
                  apply_status=Subquery(latest_apply.values("status")[:1], output_field=CharField()))
        .annotate(run_status=Coalesce("apply_status", "status", output_field=CharField()))
    )


def run_list(*, workspace, status_filter: str = "all"):
    """The runs tab: runs newest first, with their apply tasks (no N+1)."""
    statuses = RUN_FILTERS.get(status_filter, RUN_FILTERS["all"])[1]
    qs = (
        runs_of(workspace)
        .select_related("created_by", "code_version")
        .defer("code_version__code")
        .prefetch_related(Prefetch("apply_tasks", queryset=_tasks().order_by("-id")))
        .order_by("-created_at", "-id")
    )
    if statuses:
        qs = qs.filter(run_status__in=statuses)
    return qs


def latest_runs(*, workspace, limit: int = 5) -> list:
    """The overview's last runs, as runs (their status from the annotation: no apply rows read)."""
    qs = runs_of(workspace).select_related("created_by").order_by("-created_at", "-id")
    return [Run(plan=task, apply=None) for task in qs[:limit]]


def run_filter_counts(*, workspace) -> dict[str, int]:
    """How many runs (not tasks) each filter holds, in one query."""
    counts = {key: 0 for key in RUN_FILTERS}
    for row in runs_of(workspace).values("run_status").annotate(n=Count("id")).order_by():
        counts["all"] += row["n"]
        for key, (_, statuses) in RUN_FILTERS.items():
            if statuses and row["run_status"] in statuses:
                counts[key] += row["n"]
    return counts


@dataclass
class Run:
    """A run: its plan task (plan, plan & apply or drift check) and, once confirmed, its apply task."""

    plan: WorkspaceTask
    apply: WorkspaceTask | None

    def __getattr__(self, name):
        # Anything else (message, created_at, change_summary…) is the plan task's: a page that
        # listed tasks lists runs unchanged.
        if name in ("plan", "apply"):
            raise AttributeError(name)
        return getattr(self.plan, name)

    @property
    def pk(self) -> int:
        return self.plan.pk

    def get_status_display(self) -> str:
        return self.status_label

    @property
    def _apply_status(self) -> str | None:
        if self.plan.status != Status.CONFIRMED:
            return None
        if self.apply is not None:
            return self.apply.status
        return getattr(self.plan, "apply_status", None)  # annotated by runs_of (no apply row fetched)

    @property
    def status(self) -> str:
        return self._apply_status or self.plan.status

    @property
    def status_label(self) -> str:
        if self._apply_status:
            return APPLY_LABELS.get(self._apply_status, Status(self._apply_status).label)
        if self.plan.status == Status.FAILED and self.plan.task_type == TaskType.PLAN_AND_APPLY:
            return "Plan errored"
        return self.plan.get_status_display()

    @property
    def plan_seconds(self) -> float | None:
        """The plan phase's own work: from its start to the moment it waited for a person (or ended)."""
        plan = self.plan
        if plan.started_at is None:
            return None
        waited = _waiting_started(plan)
        end = waited or plan.finished_at or (timezone.now() if plan.status == Status.RUNNING else None)
        return max((end - plan.started_at).total_seconds(), 0.0) if end else None

    @property
    def waiting_seconds(self) -> float | None:
        """Time the run spent waiting for a person: confirmation or a policy override."""
        total, seen = 0.0, False
        for key in WAITING_STAGES:
            entry = (self.plan.stage_times or {}).get(key)
            if not entry or not entry.get("started"):
                continue
            seen = True
            start = parse_datetime(entry["started"])
            end = parse_datetime(entry["ended"]) if entry.get("ended") else (self.plan.finished_at or timezone.now())
            total += max((end - start).total_seconds(), 0.0)
        return total if seen else None

    @property
    def apply_seconds(self) -> float | None:
        apply = self.apply
        if apply is None or apply.started_at is None:
            return None
        end = apply.finished_at or (timezone.now() if apply.status == Status.RUNNING else None)
        return max((end - apply.started_at).total_seconds(), 0.0) if end else None


def _waiting_started(task: WorkspaceTask) -> datetime | None:
    starts = [parse_datetime(entry["started"]) for key, entry in (task.stage_times or {}).items()
              if key in WAITING_STAGES and entry.get("started")]
    starts = [s for s in starts if s is not None]
    return min(starts) if starts else None


def run_of(task: WorkspaceTask) -> Run:
    """The run a task belongs to: an apply task is the second phase of its plan's run."""
    if task.task_type == TaskType.APPLY:
        return Run(plan=task.plan_task, apply=task)
    applies = list(task.apply_tasks.all())
    return Run(plan=task, apply=applies[0] if applies else None)
