"""Queueing and steering runs. One service for the UI, the API and the commands.

The entry points (views, the API and management commands all call these):

    task_queue_run(*, workspace, kind, targets=(), message="", user=None) -> WorkspaceTask
        kind: "plan" (speculative, never appliable) or "plan_and_apply".
        Raises iacplatform.errors.WorkspaceLocked (423) when the workspace is locked,
        DomainError (400) for bad targets. Enqueues on django-q2 after commit.
    task_confirm(*, task, user=None, comment="") -> WorkspaceTask (the new apply task)
        Only for a plan_and_apply task in status "planned". Raises Conflict when stale.
    task_discard(*, task, user=None) -> WorkspaceTask
    task_cancel(*, task, user=None) -> WorkspaceTask
    task_logs_after(*, task, after=0) -> list[TaskLog]

CHANGE SUMMARY (WorkspaceTask.change_summary, written by the plan pipeline, sensitive values masked):
    {"add": int, "change": int, "destroy": int, "replace": int,
     "resources": [{"address": "module.web.terraform_data.a", "type": "terraform_data", "name": "a",
                    "module": "module.web" | None, "action": "create|update|delete|replace|read|no-op",
                    "changed_attributes": [{"name": "input", "before": <json>, "after": <json>,
                                            "sensitive": bool}]}],
     "unchanged": [{"address": ..., "type": ..., "module": ...}],  # no-op resources (plans since issue 16)
     "outputs": [{"name": "x", "action": "create|update|delete", "sensitive": bool}]}
    Masked values are the string "(sensitive)"; unknown values are "(known after apply)".

TASK CONTEXT (WorkspaceTask.context): {"code_version": int | None, "variables_checksum": str,
    "state_serial": int | None, "resource_versions": {resource_id: version}, "confirmed_by": str,
    "confirm_comment": str}
"""

import logging
import uuid
import re

from django.db import IntegrityError, transaction
from django.db.models import BooleanField, ExpressionWrapper, Q
from django.db.models.functions import Coalesce
from django.utils import timezone
from django_q.tasks import async_task

from executions.executor.stages import stage_fields
from executions.models import TaskLog, WorkspaceTask
from iacplatform.errors import Conflict, DomainError, WorkspaceLocked
from resources.aggregation import resource_version_map
from workspaces.audit import audit_record
from workspaces.models import Workspace
from workspaces.services import variables_checksum
from workspaces.state.selectors import state_current_serial

logger = logging.getLogger("executions")
Status = WorkspaceTask.Status
TaskType = WorkspaceTask.TaskType

# A resource or module address as `terraform plan -target` takes it:
# module.net.aws_subnet.a, terraform_data.x["k"], module.web, data.x.y, module.m[0].t.n
_INDEX = r'(\[(\d+|"[^"]*")\])?'
_NAME = r"[A-Za-z_][A-Za-z0-9_-]*"
TARGET = re.compile(
    rf"^(module\.{_NAME}{_INDEX}\.)*(module\.{_NAME}{_INDEX}|(data\.)?{_NAME}\.{_NAME}{_INDEX})$"
)
QUEUE_KINDS = {TaskType.PLAN, TaskType.PLAN_AND_APPLY}


def clean_targets(targets) -> list[str]:
    """The addresses to plan with ``-target``, in order, without duplicates; a bad one is a 400."""
    cleaned = []
    for raw in targets or ():
        target = str(raw).strip()
        if not target:
            continue
        if not TARGET.match(target):
            raise DomainError(f"{target!r} is not a resource address (e.g. terraform_data.a or module.web).",
                              errors={"targets": [f"invalid address {target!r}"]})
        if target not in cleaned:
            cleaned.append(target)
    return cleaned


def _enqueue(task_id: int) -> None:
    async_task("executions.tasks.run_task", task_id, task_name=f"run-{task_id}", group="runs")


def dispatch_workspace(workspace_id: int) -> int | None:
    """Send the next startable task of a workspace to the workers (a wake-up, not a claim)."""
    task = next_startable_task(workspace_id)
    if task is not None:
        _enqueue(task.pk)
        return task.pk
    return None


def next_startable_task(workspace_id: int) -> WorkspaceTask | None:
    """FIFO per workspace; nothing while one runs; a plan awaiting confirmation holds back
    later plans and applies (a speculative plan may still run); a locked workspace waits.

    A plan and its apply are one run: the apply queues at its plan's position (ordered by
    its plan's id), so a confirmed plan is applied before any run requested after it.
    """
    if Workspace.objects.filter(pk=workspace_id, locked=True).exists():
        return None
    # One query for the running, awaiting and queued tasks (it is on every run's way to a worker).
    live = list(WorkspaceTask.objects.filter(
        workspace_id=workspace_id, status__in=(Status.RUNNING, Status.PLANNED, Status.POLICY_OVERRIDE, Status.QUEUED),
    ).only("id", "workspace_id", "status", "task_type", "plan_task_id").annotate(
        run_position=Coalesce("plan_task_id", "id")).order_by("run_position", "id"))
    if any(task.status == Status.RUNNING for task in live):
        return None
    awaiting = any(task.status in (Status.PLANNED, Status.POLICY_OVERRIDE) for task in live)
    startable = [task for task in live if task.status == Status.QUEUED and not (awaiting and not task.is_speculative)]
    operators = any(not task.is_drift_check for task in startable)
    for task in startable:
        if task.is_drift_check and operators:
            continue  # a drift check yields: an operator's run queued after it goes first
        return task
    return None


def claim_task(task_id: int, *, host: str, pid: int) -> WorkspaceTask | None:
    """The worker's first act: queued → running, atomically, or nothing (someone else has it,
    or it is not its turn yet)."""
    try:
        with transaction.atomic():
            task = WorkspaceTask.objects.select_related("workspace").filter(pk=task_id).first()
            if task is None or task.status != Status.QUEUED:
                return None
            Workspace.objects.select_for_update().filter(pk=task.workspace_id).first()
            nxt = next_startable_task(task.workspace_id)
            if nxt is None or nxt.pk != task.pk:
                return None
            now = timezone.now()
            updated = WorkspaceTask.objects.filter(pk=task_id, status=Status.QUEUED).update(
                **stage_fields(task, WorkspaceTask.Stage.PREPARING, now=now), status=Status.RUNNING, started_at=now,
                heartbeat_at=now,
                worker_host=host, worker_pid=pid, claim_token=uuid.uuid4().hex, work_dir="", pgid=None,
                updated_at=now,
            )
            if not updated:
                return None
    except IntegrityError:
        return None  # another task of the workspace started first (one running per workspace)
    # The claimed row as written, with what the run reads first (its workspace, its code version).
    return WorkspaceTask.objects.select_related("workspace", "code_version").get(pk=task_id)


def _on_commit_dispatch(workspace_id: int) -> None:
    transaction.on_commit(lambda: dispatch_workspace(workspace_id))


@transaction.atomic
def task_queue_run(*, workspace, kind, targets=(), message: str = "", user=None,
                   upgrade_providers: bool = False) -> WorkspaceTask:
    if kind not in QUEUE_KINDS:
        raise DomainError(f"Unknown run kind {kind!r}: use 'plan' or 'plan_and_apply'.",
                          errors={"kind": ["must be plan or plan_and_apply"]})
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if workspace.locked:
        raise WorkspaceLocked(f"Workspace {workspace.name} is locked: {workspace.lock_reason or 'no reason given'}")
    task = WorkspaceTask.objects.create(
        workspace=workspace, task_type=kind, targets=clean_targets(targets), message=message[:500],
        created_by=user if getattr(user, "is_authenticated", False) else None,
        code_version=workspace.current_code_version, upgrade_providers=bool(upgrade_providers),
    )
    task.transition(Status.QUEUED)
    logger.info("queued %s task %s on %s", kind, task.pk, workspace.name)
    audit_record("run.queued", user=user, workspace=workspace, target=f"run #{task.pk}",
                 details={"task_id": task.pk, "kind": kind, "targets": task.targets})
    _drift_checks_yield(workspace, task)
    _on_commit_dispatch(workspace.pk)
    return task


def _drift_checks_yield(workspace, task) -> None:
    """An operator's run never waits for a drift check: a running one is stopped (as a cancel)."""
    stopped = list(WorkspaceTask.objects.filter(workspace=workspace, task_type=TaskType.DRIFT_CHECK,
                                                status=Status.RUNNING, cancel_requested=False)
                   .values_list("pk", flat=True))
    if stopped:
        WorkspaceTask.objects.filter(pk__in=stopped).update(cancel_requested=True)
        logger.info("drift check(s) %s of %s yield to run %s", stopped, workspace.name, task.pk)


class DriftCheckSkipped(Conflict):
    """A scheduled drift check did not start: the workspace is busy or locked (it is retried later)."""


@transaction.atomic
def task_queue_drift_check(*, workspace, user=None, scheduled: bool = False) -> WorkspaceTask:
    """Queue a drift check (``plan -refresh-only``, never applied) through the normal queue.

    By hand (page, API) it queues like any run, and yields to the operators' runs queued after
    it. Scheduled, it does not queue at all while the workspace is locked or has a run waiting,
    running or awaiting confirmation: ``DriftCheckSkipped`` (the caller retries later).
    An already queued drift check is returned instead of a second one.
    """
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if workspace.locked:
        if scheduled:
            raise DriftCheckSkipped(f"Workspace {workspace.name} is locked: {workspace.lock_reason}")
        raise WorkspaceLocked(f"Workspace {workspace.name} is locked: {workspace.lock_reason or 'no reason given'}")
    if workspace.current_code_version_id is None:
        raise DomainError(f"Workspace {workspace.name} has no code yet: there is nothing to check for drift.")
    tasks = WorkspaceTask.objects.filter(workspace=workspace)
    waiting = tasks.filter(task_type=TaskType.DRIFT_CHECK, status=Status.QUEUED).order_by("id").first()
    if waiting is not None:
        return waiting
    if scheduled:
        busy = (tasks.filter(status__in=(Status.PENDING, Status.QUEUED, Status.RUNNING, Status.PLANNED))
                .order_by("id").first())
        if busy is not None:
            raise DriftCheckSkipped(f"Run #{busy.pk} of workspace {workspace.name} is "
                                    f"{busy.get_status_display().lower()}.")
    task = WorkspaceTask.objects.create(
        workspace=workspace, task_type=TaskType.DRIFT_CHECK,
        message="Scheduled drift check" if scheduled else "Drift check",
        created_by=user if getattr(user, "is_authenticated", False) else None,
        code_version=workspace.current_code_version,
    )
    task.transition(Status.QUEUED)
    logger.info("queued drift check %s on %s (%s)", task.pk, workspace.name, "scheduled" if scheduled else "by hand")
    _on_commit_dispatch(workspace.pk)
    return task


def stored_lock_file(workspace, *, before: int | None = None) -> WorkspaceTask | None:
    """The run whose dependency lock file the workspace keeps: its latest plan that recorded one
    (plans record theirs after init; an "upgrade providers" plan records the upgraded one)."""
    runs = (WorkspaceTask.objects.filter(workspace_id=workspace.pk).exclude(lock_file="")
            .exclude(task_type=WorkspaceTask.TaskType.APPLY))
    if before is not None:
        runs = runs.filter(pk__lt=before)
    return runs.order_by("-pk").only("pk", "lock_file").first()


def plan_staleness(plan_task: WorkspaceTask) -> str | None:
    """Why applying this plan would not apply what was approved, or None."""
    workspace = Workspace.objects.select_related("current_code_version").get(pk=plan_task.workspace_id)
    ctx = plan_task.context or {}
    current_code = workspace.current_code_version.number if workspace.current_code_version_id else None
    if ctx.get("code_version") != current_code:
        return (f"the code changed since the plan (planned with code version {ctx.get('code_version')}, "
                f"current is {current_code})")
    if ctx.get("variables_checksum") != variables_checksum(workspace):
        return "the workspace's variables changed since the plan"
    serial = state_current_serial(workspace=workspace)
    if ctx.get("state_serial") != serial:
        return f"the state moved since the plan (planned at serial {ctx.get('state_serial')}, current is {serial})"
    if (ctx.get("resource_versions") or {}) != resource_version_map(workspace):
        return "managed resources changed since the plan"
    return None


@transaction.atomic
def task_confirm(*, task, user=None, comment: str = "") -> WorkspaceTask:
    """Approve a plan: the plan task is confirmed and its apply task queued."""
    # The plan's artifacts (megabytes for a big plan) are not read: only whether its file was saved.
    plan = (WorkspaceTask.objects.select_for_update().defer("plan_file", "plan_json")
            .annotate(has_plan_file=ExpressionWrapper(Q(plan_file__isnull=False), output_field=BooleanField()))
            .get(pk=task.pk))
    if plan.task_type != TaskType.PLAN_AND_APPLY:
        raise Conflict("A plan-only run can never be applied; start a plan & apply run instead.")
    if plan.cancel_requested:
        raise Conflict(f"A cancel of run #{plan.pk} was requested: it is not applied.")
    if plan.status != Status.PLANNED:
        raise Conflict(f"Run #{plan.pk} is {plan.get_status_display().lower()}, not waiting for confirmation.")
    workspace = Workspace.objects.select_for_update().get(pk=plan.workspace_id)
    if workspace.locked:
        raise WorkspaceLocked(f"Workspace {workspace.name} is locked: {workspace.lock_reason or 'no reason given'}")
    if not plan.has_plan_file:
        raise Conflict("The plan file of this run was not saved; plan again.")
    reason = plan_staleness(plan)
    if reason:
        raise Conflict(f"The plan is stale: {reason}. Discard it and plan again.")
    who = user.get_username() if getattr(user, "is_authenticated", False) else "auto-apply"
    plan.context = {**plan.context, "confirmed_by": who, "confirm_comment": comment[:1000]}
    plan.transition(Status.CONFIRMED, save=False)
    plan.save(update_fields=["status", "stage", "stage_times", "finished_at", "context", "updated_at"])
    apply = WorkspaceTask.objects.create(
        workspace=workspace, task_type=TaskType.APPLY, plan_task=plan, code_version_id=plan.code_version_id,
        targets=plan.targets, message=comment[:500] or plan.message,
        created_by_id=user.pk if getattr(user, "is_authenticated", False) else plan.created_by_id,
        context={"confirmed_by": who, "confirm_comment": comment[:1000]},
    )
    apply.transition(Status.QUEUED)
    audit_record("run.confirmed", user=user, workspace=workspace, target=f"run #{plan.pk}",
                 details={"task_id": plan.pk, "apply_task_id": apply.pk, "by": who})
    _drift_checks_yield(workspace, apply)
    _on_commit_dispatch(workspace.pk)
    return apply


@transaction.atomic
def task_plan_again(*, task, user=None) -> WorkspaceTask:
    """A fresh plan & apply run with the same targets, for a plan that can no longer be applied.

    A plan still awaiting confirmation holds later runs back: it is discarded first, so the new
    run plans at once (as HCP Terraform's "plan again" does)."""
    plan = WorkspaceTask.objects.select_for_update().get(pk=task.pk)
    if plan.task_type != TaskType.PLAN_AND_APPLY:
        raise Conflict("Only a plan & apply run can be planned again; start a new run instead.")
    if plan.status in (Status.PLANNED, Status.POLICY_OVERRIDE):
        task_discard(task=plan, user=user)
    elif plan.status not in WorkspaceTask.TERMINAL:
        raise Conflict(f"Run #{plan.pk} is {plan.get_status_display().lower()}: wait for it to end.")
    return task_queue_run(workspace=plan.workspace, kind=TaskType.PLAN_AND_APPLY, targets=plan.targets,
                          message=f"Plan again (run #{plan.pk}){': ' + plan.message if plan.message else ''}"[:500],
                          user=user)


@transaction.atomic
def task_discard(*, task, user=None) -> WorkspaceTask:
    plan = WorkspaceTask.objects.select_for_update().get(pk=task.pk)
    if plan.status not in (Status.PLANNED, Status.POLICY_OVERRIDE):
        raise Conflict(f"Run #{plan.pk} is {plan.get_status_display().lower()}; only a plan waiting for "
                       "confirmation or a policy override can be discarded.")
    plan.transition(Status.DISCARDED)
    audit_record("run.discarded", user=user, workspace=plan.workspace, target=f"run #{plan.pk}",
                 details={"task_id": plan.pk})
    _on_commit_dispatch(plan.workspace_id)
    return plan


@transaction.atomic
def task_cancel(*, task, user=None) -> WorkspaceTask:
    """Pending/queued/awaiting → cancelled at once; running → terraform is stopped by its worker."""
    current = WorkspaceTask.objects.select_for_update().get(pk=task.pk)
    if current.status in (Status.PENDING, Status.QUEUED, Status.PLANNED, Status.POLICY_OVERRIDE):
        current.transition(Status.CANCELLED, error="Cancelled by an operator before it ran."
                           if current.status in (Status.PENDING, Status.QUEUED)
                           else "Cancelled while waiting for confirmation.",
                           category="cancelled")
        _on_commit_dispatch(current.workspace_id)
    elif current.status == Status.RUNNING:
        if not current.cancel_requested:
            WorkspaceTask.objects.filter(pk=current.pk).update(cancel_requested=True)
            current.cancel_requested = True
    else:
        raise Conflict(f"Run #{current.pk} has already finished ({current.get_status_display().lower()}).")
    audit_record("run.cancelled", user=user, workspace=current.workspace, target=f"run #{current.pk}",
                 details={"task_id": current.pk, "while": "running" if current.status == Status.RUNNING else "waiting"})
    return current


def task_logs_after(*, task, after: int = 0):
    return list(TaskLog.objects.filter(task=task, seq__gt=after).order_by("seq"))

