"""Template helpers of the run pages: status labels and icons, durations."""

from datetime import timedelta

from django import template
from django.utils import timezone

from executions.models import WorkspaceTask

register = template.Library()

STATUS_LABELS = dict(WorkspaceTask.Status.choices)
STATUS_ICONS = {
    "pending": "○", "queued": "○", "running": "◐", "planned": "❚❚", "policy_override": "⚑", "planned_no_changes": "✓",
    "plan_finished": "✓", "confirmed": "✓", "discarded": "⊘", "applied": "✓", "failed": "✕", "cancelled": "⊘",
}
TYPE_LABELS = {"plan": "Plan only", "plan_and_apply": "Plan & apply", "apply": "Apply"}


@register.filter
def status_label(status: str) -> str:
    return STATUS_LABELS.get(status, status or "")


@register.filter
def status_icon(status: str) -> str:
    return STATUS_ICONS.get(status, "•")


@register.filter
def task_type_label(task_type: str) -> str:
    return TYPE_LABELS.get(task_type, task_type or "")


@register.filter
def duration(task) -> str:
    """How long a run took (or has been running): '1m 05s'."""
    start = task.started_at
    if start is None or (task.finished_at is None and task.status != WorkspaceTask.Status.RUNNING):
        return ""
    end = task.finished_at or timezone.now()
    return format_seconds((end - start) if end >= start else timedelta(0))


@register.filter
def seconds(value) -> str:
    """A number of seconds as '1m 05s' ('' for None)."""
    if value is None or value == "":
        return ""
    return format_seconds(timedelta(seconds=float(value)))


def format_seconds(delta: timedelta) -> str:
    seconds = int(delta.total_seconds())
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    if hours:
        return f"{hours}h {minutes:02d}m"
    if minutes:
        return f"{minutes}m {seconds:02d}s"
    return f"{seconds}s"


@register.simple_tag
def summary_counts(summary):
    """(add, change, destroy) of a change summary, or None without a plan."""
    if not summary or "add" not in summary:
        return None
    return {"add": summary.get("add", 0), "change": summary.get("change", 0), "destroy": summary.get("destroy", 0)}
