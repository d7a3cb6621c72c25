"""Reading runs for the console: lists with filters, one run with its partners, logs (the plan view: plan_view.py).

Read-only; every function issues a bounded number of queries whatever the number of rows.
"""

import re
from dataclasses import dataclass

from django.db.models import Prefetch, Sum, Value
from django.db.models.functions import Length, Replace
from django.shortcuts import get_object_or_404
from django.utils import timezone

from executions.models import TaskLog, WorkspaceTask
from workspaces.models import StateVersion

Status = WorkspaceTask.Status
Stage = WorkspaceTask.Stage

# Heavy columns no page needs: encrypted plan artifacts.
HEAVY_FIELDS = ("plan_file", "plan_json", "lock_file")
LOG_COMPLETE_STAGE = "complete"  # the stage of the final marker chunk (executions.executor.logs.LogWriter.complete)

# The runs tab's filters, in the order the operator sees them (HCP Terraform's words).
RUN_FILTERS = {
    "all": ("All", None),
    "attention": ("Needs attention", {Status.PLANNED, Status.POLICY_OVERRIDE}),
    "running": ("Running", {Status.PENDING, Status.QUEUED, Status.RUNNING}),
    "errored": ("Errored", {Status.FAILED}),
    "success": ("Success", {Status.APPLIED, Status.PLANNED_NO_CHANGES, Status.PLAN_FINISHED, Status.CONFIRMED}),
    "cancelled": ("Cancelled", {Status.CANCELLED, Status.DISCARDED}),
}
ACTIVE = {Status.PENDING, Status.QUEUED, Status.RUNNING}


def _tasks():
    return WorkspaceTask.objects.defer(*HEAVY_FIELDS)


# The runs list and its filter counts (one row per run) are in executions/runs.py.


def run_get(*, workspace, task_id: int, with_related: bool = True) -> WorkspaceTask:
    """One run of this workspace (404 otherwise), with its partners and produced state.

    ``with_related=False`` is for the log poller, which asks every second and needs only the row.
    """
    if not with_related:
        return get_object_or_404(_tasks(), workspace=workspace, pk=task_id)
    qs = (
        _tasks()
        .select_related("created_by", "code_version", "plan_task", "workspace")
        .defer(*(f"plan_task__{f}" for f in HEAVY_FIELDS))
        .prefetch_related(
            Prefetch("apply_tasks", queryset=_tasks().order_by("-created_at", "-id")),
            Prefetch("state_versions", queryset=StateVersion.objects.defer("content").order_by("-serial")),
        )
    )
    return get_object_or_404(qs, workspace=workspace, pk=task_id)


def pending_confirmation(*, workspace) -> WorkspaceTask | None:
    return _tasks().filter(workspace=workspace, status=Status.PLANNED).order_by("created_at", "id").first()


def queue_blocker(task: WorkspaceTask) -> WorkspaceTask | None:
    """What a queued run waits for: the workspace's running run, or a plan awaiting confirmation."""
    if task.status not in (Status.PENDING, Status.QUEUED):
        return None
    others = _tasks().filter(workspace_id=task.workspace_id).exclude(pk=task.pk)
    statuses = [Status.RUNNING] if task.is_speculative else [Status.RUNNING, Status.PLANNED, Status.POLICY_OVERRIDE]
    blocker = others.filter(status__in=statuses).order_by("id").first()
    if blocker is None and not task.is_speculative and task.task_type != WorkspaceTask.TaskType.APPLY:
        # a confirmed earlier run keeps the workspace until its apply ends
        blocker = (others.filter(status=Status.QUEUED, task_type=WorkspaceTask.TaskType.APPLY,
                                 plan_task_id__lt=task.pk).order_by("plan_task_id").first())
    return blocker


# --- logs -----------------------------------------------------------------------------------
@dataclass
class LogLine:
    number: int | None  # None for section headers and the final marker
    text: str
    kind: str = "line"  # line | section | marker
    tone: str = ""  # add | change | destroy | error | warning | command: how the line is coloured


# Terraform's -no-color output still says what a line is: "  + resource", "Error: …", "$ terraform …".
TONES = [
    (re.compile(r"^\s*(Error|│ Error):"), "error"),
    (re.compile(r"^\s*(Warning|│ Warning):"), "warning"),
    (re.compile(r"^\$ terraform "), "command"),
    # plan lines are indented; init's "- web in modules/web" is not
    (re.compile(r"^\s{2,}(-/\+|\+/-) "), "change"),
    (re.compile(r"^\s{2,}\+ "), "add"),
    (re.compile(r"^\s{2,}~ "), "change"),
    (re.compile(r"^\s{2,}- "), "destroy"),
    (re.compile(r"^(Apply complete!|Plan: |No changes\.)"), "summary"),
]


def line_tone(text: str) -> str:
    for pattern, tone in TONES:
        if pattern.match(text):
            return tone
    return ""


@dataclass
class LogPage:
    lines: list[LogLine]
    last_seq: int
    last_line: int
    last_stage: str
    complete: bool


RUN_PAGE_LOG_LINES = 1000  # the run page shows the log's last lines; Raw/Download have all


def log_page(*, task: WorkspaceTask, after: int = 0, line: int = 0, stage: str = "", tail: int = 0) -> LogPage:
    """The log chunks after ``after`` as numbered lines, continuing from line ``line``.

    ``stage`` is the stage of the last chunk the reader already has: a section header is
    emitted whenever the stage changes, so a page and its appended lines read the same.
    ``tail``: only the last ``tail`` lines (numbered as in the whole log), after a marker saying
    how many came before — a big plan logs tens of thousands of lines; Raw/Download have them all.
    """
    chunks = list(TaskLog.objects.filter(task=task, seq__gt=after).order_by("seq")
                  .values_list("seq", "stage", "text"))
    lines: list[LogLine] = []
    last_seq, number, complete = after, line, False
    skip = 0
    if tail:
        total = sum(text.count("\n") + 1 for _, chunk_stage, text in chunks if chunk_stage != LOG_COMPLETE_STAGE)
        skip = max(0, total - tail)
        if skip:
            lines.append(LogLine(None, f"{skip:,} earlier lines are not shown here: Raw or Download has the whole log.",
                                 "marker"))
    for seq, chunk_stage, text in chunks:
        last_seq = seq
        if chunk_stage == LOG_COMPLETE_STAGE:
            complete = True
            lines.append(LogLine(None, text, "marker"))
            continue
        count = text.count("\n") + 1
        if skip >= count:  # a chunk before the tail: counted, not rendered
            skip -= count
            number += count
            stage = chunk_stage or stage
            continue
        if chunk_stage and chunk_stage != stage:
            lines.append(LogLine(None, Stage(chunk_stage).label if chunk_stage in Stage.values else chunk_stage,
                                 "section"))
            stage = chunk_stage
        raws = text.split("\n")
        if skip:
            number += skip
            raws, skip = raws[skip:], 0
        for raw in raws:
            number += 1
            lines.append(LogLine(number, raw, tone=line_tone(raw)))
    return LogPage(lines=lines, last_seq=last_seq, last_line=number, last_stage=stage, complete=complete)


def log_position(*, task: WorkspaceTask, seq: int) -> tuple[int, str]:
    """Where a reader that has every chunk up to ``seq`` stands: its last line number and stage
    (what ``log_page`` needs to go on from there; the live stream resumes from a seq alone)."""
    chunks = TaskLog.objects.filter(task=task, seq__lte=seq).exclude(stage=LOG_COMPLETE_STAGE)
    newlines = Length("text") - Length(Replace("text", Value("\n"), Value("")))
    lines = chunks.aggregate(n=Sum(newlines + 1))["n"] or 0
    stage = chunks.exclude(stage="").order_by("-seq").values_list("stage", flat=True).first() or ""
    return lines, stage


def log_is_final(task: WorkspaceTask, page: LogPage, *, quiet_seconds: float = 3.0) -> bool:
    """No more lines will come: the final marker was read, or the task ended a while ago.

    The fallback covers tasks ended without a marker (a reaped worker, a cancel before start).
    A task that ended without ever starting (cancelled while pending or queued) has no output
    to wait for: final at once, so its page never says "Streaming…".
    """
    if page.complete:
        return True
    if task.status in WorkspaceTask.TERMINAL and task.started_at is None:
        return True
    if task.status in WorkspaceTask.TERMINAL or task.status in (Status.PLANNED, Status.POLICY_OVERRIDE):
        ended = task.finished_at or task.updated_at
        return ended is None or (timezone.now() - ended).total_seconds() >= quiet_seconds
    return False


def last_log_stage(task: WorkspaceTask) -> str:
    """Where a failed or cancelled run stopped: the stage of its last real log chunk.

    Terraform's partial state is saved after a failed or cancelled apply; that "saving
    state" does not make the state save the failing step unless the save itself failed.
    """
    logs = TaskLog.objects.filter(task=task).exclude(stage__in=["", LOG_COMPLETE_STAGE]).order_by("-seq")
    last = logs.values_list("stage", flat=True).first() or ""
    if last == Stage.SAVING_STATE and task.error_category != "state_save":
        return logs.exclude(stage=Stage.SAVING_STATE).values_list("stage", flat=True).first() or last
    return last


# --- stage progress ---------------------------------------------------------------------------
PLAN_STEPS = [
    (Stage.PREPARING, "Preparing"),
    (Stage.INIT, "Init"),
    (Stage.PLANNING, "Planning"),
    (Stage.SAVING_PLAN, "Saving plan"),
]
APPLY_STEPS = [
    (Stage.AWAITING_CONFIRMATION, "Confirmation"),
    (Stage.APPLYING, "Applying"),
    (Stage.SAVING_STATE, "Saving state"),
]


@dataclass
class Step:
    key: str
    label: str
    state: str  # done | current | waiting | failed | cancelled | skipped | todo


def _walk(steps, *, current: str | None, end_state: str | None) -> list[Step]:
    """Steps before ``current`` are done, ``current`` gets ``end_state`` (or 'current'), the rest todo."""
    keys = [k for k, _ in steps]
    index = keys.index(current) if current in keys else None
    out = []
    for i, (key, label) in enumerate(steps):
        if index is None:
            state = "todo"
        elif i < index:
            state = "done"
        elif i == index:
            state = end_state or "current"
        else:
            state = "skipped" if end_state in ("failed", "cancelled") else "todo"
        out.append(Step(key, label, state))
    return out


def _plan_stage_for(stage: str) -> str:
    # The hook, cost and policy stages show on the nearest step of the progress bar (their own
    # durations are listed in the run details).
    if stage in ("", Stage.PENDING, Stage.PRE_PLAN):
        return Stage.PREPARING
    if stage in (Stage.COST_ESTIMATION, Stage.POLICY_CHECK, Stage.POST_PLAN):
        return Stage.SAVING_PLAN
    return stage


def _apply_stage_for(stage: str) -> str:
    # An apply task prepares and re-initialises before applying: all of it is "applying" here.
    return Stage.SAVING_STATE if stage in (Stage.SAVING_STATE, Stage.POST_APPLY) else Stage.APPLYING


def stage_progress(task: WorkspaceTask, *, apply_task: WorkspaceTask | None = None,
                   failed_stage: str = "", state_saved: bool = False) -> list[Step]:
    """The run's progress, plan and apply together: preparing → … → saving state.

    ``task`` is the plan task (or the apply task, whose plan is then all done);
    ``failed_stage`` is where a failed/cancelled task stopped (its last log stage);
    ``state_saved``: the apply stored a state version (also after a failure or cancel).
    """
    if task.task_type == WorkspaceTask.TaskType.APPLY:
        plan_steps = [Step(k, label, "done") for k, label in PLAN_STEPS]
        confirm = Step(Stage.AWAITING_CONFIRMATION, "Confirmation", "done")
        return plan_steps + [confirm] + _apply_steps(task, failed_stage, state_saved)

    speculative = task.is_speculative
    status = task.status
    if status in (Status.PENDING, Status.QUEUED):
        plan = _walk(PLAN_STEPS, current=None, end_state=None)
    elif status == Status.RUNNING:
        plan = _walk(PLAN_STEPS, current=_plan_stage_for(task.stage), end_state=None)
    elif status in (Status.FAILED, Status.CANCELLED):
        where = _plan_stage_for(failed_stage)
        if where not in dict(PLAN_STEPS):
            where = Stage.PREPARING
        plan = _walk(PLAN_STEPS, current=where, end_state="failed" if status == Status.FAILED else "cancelled")
    else:  # planned, no changes, finished, confirmed, discarded
        plan = [Step(k, label, "done") for k, label in PLAN_STEPS]
    if speculative:
        return plan

    rest = [Step(k, label, "todo") for k, label in APPLY_STEPS]
    if status in (Status.PLANNED, Status.POLICY_OVERRIDE):
        rest[0].state = "waiting"
    elif status in (Status.PLANNED_NO_CHANGES, Status.PLAN_FINISHED):
        for step in rest:
            step.state = "skipped"
    elif status == Status.DISCARDED:
        rest[0].state = "cancelled"
        rest[1].state = rest[2].state = "skipped"
    elif status in (Status.FAILED, Status.CANCELLED):
        for step in rest:
            step.state = "skipped"
    elif status == Status.CONFIRMED:
        rest[0].state = "done"
        if apply_task is not None:
            rest = [rest[0]] + _apply_steps(apply_task, "", False)
    return plan + rest


def _apply_steps(task: WorkspaceTask, failed_stage: str, state_saved: bool) -> list[Step]:
    steps = APPLY_STEPS[1:]
    status = task.status
    if status in (Status.PENDING, Status.QUEUED):
        return _walk(steps, current=None, end_state=None)
    if status == Status.RUNNING:
        return _walk(steps, current=_apply_stage_for(task.stage), end_state=None)
    if status in (Status.FAILED, Status.CANCELLED):
        walked = _walk(steps, current=_apply_stage_for(failed_stage),
                       end_state="failed" if status == Status.FAILED else "cancelled")
        if state_saved and walked[-1].state == "skipped":
            walked[-1].state = "done"  # whatever terraform wrote before it stopped was kept
        return walked
    return [Step(k, label, "done") for k, label in steps]
