"""Runs over the JSON API: create, list, detail, logs, confirm, discard, cancel; lock/unlock; state save retry."""

from datetime import datetime
from typing import Annotated

from django.http import HttpResponse
from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status
from pydantic import Field

from executions import runs, services
from executions.drift import latest_drift
from executions.effective_config import effective_configuration
from executions.executor import stages
from executions.executor.logs import log_text
from executions.executor.state_save import state_restore_from_backup
from executions.models import WorkspaceTask
from executions.selectors import HEAVY_FIELDS, RUN_FILTERS
from iacplatform.errors import DomainError
from iacplatform.inputs import LogCursor, Offset
from workspaces.access import workspace_for
from workspaces.audit import audit_record
from workspaces.models import Role
from workspaces.services import workspace_lock, workspace_unlock

router = Router(tags=["runs"])


class RunIn(Schema):
    kind: str = "plan_and_apply"
    targets: list[str] = []
    message: str = ""
    # terraform init -upgrade: newest provider versions the code allows, new lock file stored
    upgrade_providers: bool = False


class TaskOut(Schema):
    id: int
    workspace: str
    task_type: str
    status: str
    stage: str
    plan_task_id: int | None
    apply_task_ids: list[int]
    code_version: int | None
    message: str
    targets: list[str]
    upgrade_providers: bool
    has_changes: bool | None
    change_summary: dict
    outputs: dict
    error_message: str
    error_category: str
    error_hint: str
    error_retryable: bool | None
    exit_code: int | None
    cancel_requested: bool
    created_by: str | None
    created_at: datetime
    started_at: datetime | None
    finished_at: datetime | None
    confirmed_by: str | None
    confirm_comment: str | None
    stage_durations: list[dict]
    hook_results: list[dict]
    cost_estimate: dict
    policy_results: list[dict]
    policy_overrides: list[dict]
    # A plan and its apply are one run (issue 16): the run's id is its plan task's, and its
    # status the real outcome (a confirmed plan whose apply errored is "failed").
    run_id: int
    apply_task_id: int | None
    run_status: str
    run_status_label: str

    @staticmethod
    def resolve_run_id(obj):
        return obj.plan_task_id if obj.task_type == WorkspaceTask.TaskType.APPLY else obj.pk

    @staticmethod
    def resolve_apply_task_id(obj):
        run = runs.run_of(obj)
        return run.apply.pk if run.apply else None

    @staticmethod
    def resolve_run_status(obj):
        return runs.run_of(obj).status

    @staticmethod
    def resolve_run_status_label(obj):
        return runs.run_of(obj).status_label

    @staticmethod
    def resolve_policy_results(obj):
        return [{"name": r.name, "version": r.version, "enforcement": r.enforcement, "outcome": r.outcome,
                 "denies": r.denies, "warnings": r.warnings} for r in obj.policy_results.all()]

    @staticmethod
    def resolve_policy_overrides(obj):
        return [{"by": o.username, "reason": o.reason, "at": o.created_at.isoformat(), "policies": o.policies}
                for o in obj.policy_overrides.all()]

    @staticmethod
    def resolve_stage_durations(obj):
        return stages.durations(obj)

    @staticmethod
    def resolve_hook_results(obj):
        return [{"name": r.name, "stage": r.stage, "kind": r.kind, "enforcement": r.enforcement, "status": r.status,
                 "message": r.message, "url": r.url, "duration": r.duration, "attempts": r.attempts}
                for r in obj.hook_results.all()]

    @staticmethod
    def resolve_workspace(obj):
        return obj.workspace.name

    @staticmethod
    def resolve_apply_task_ids(obj):
        return [t.pk for t in obj.apply_tasks.all()]

    @staticmethod
    def resolve_code_version(obj):
        return obj.code_version.number if obj.code_version_id else None

    @staticmethod
    def resolve_created_by(obj):
        return obj.created_by.get_username() if obj.created_by_id else None

    @staticmethod
    def resolve_error_hint(obj):
        info = obj.error_info
        return info["hint"] if info else ""

    @staticmethod
    def resolve_error_retryable(obj):
        info = obj.error_info
        return info["retryable"] if info else None

    @staticmethod
    def resolve_confirmed_by(obj):
        return (obj.context or {}).get("confirmed_by")

    @staticmethod
    def resolve_confirm_comment(obj):
        return (obj.context or {}).get("confirm_comment")


class LogLine(Schema):
    seq: int
    stage: str
    text: str


class LogsOut(Schema):
    task_id: int
    status: str
    lines: list[LogLine]
    last_seq: int
    complete: bool


class ConfirmIn(Schema):
    comment: str = ""


class LockIn(Schema):
    reason: str = ""


class RestoreIn(Schema):
    backup_path: str | None = None
    force: bool = False


RUN_PREFETCH = ("apply_tasks", "hook_results", "policy_results", "policy_overrides")


def load_task(task_id: int) -> WorkspaceTask:
    qs = (WorkspaceTask.objects.defer(*HEAVY_FIELDS, *(f"plan_task__{f}" for f in HEAVY_FIELDS))
          .select_related("workspace", "code_version", "created_by", "plan_task"))
    return get_object_or_404(qs.prefetch_related(*RUN_PREFETCH), pk=task_id)


def task_for(request, task_id: int, need: int = Role.READER) -> WorkspaceTask:
    """A run, if the caller holds ``need`` in its workspace (404 for a run the caller cannot read)."""
    task = load_task(task_id)
    workspace_for(request.user, task.workspace, need)
    return task


@router.post("/workspaces/{name}/runs", response={201: TaskOut})
def create_run(request, name: str, payload: RunIn):
    task = services.task_queue_run(workspace=workspace_for(request.user, name, Role.PLANNER), kind=payload.kind,
                                   targets=payload.targets, message=payload.message, user=request.user,
                                   upgrade_providers=payload.upgrade_providers)
    return Status(201, load_task(task.pk))


@router.post("/workspaces/{name}/drift-checks", response={201: TaskOut})
def create_drift_check(request, name: str):
    """Queue a drift check (plan -refresh-only, never applied); it yields to the operators' runs."""
    task = services.task_queue_drift_check(workspace=workspace_for(request.user, name, Role.PLANNER),
                                          user=request.user)
    return Status(201, load_task(task.pk))


class DriftResourceOut(Schema):
    address: str
    type: str
    action: str
    changed_attributes: list[dict]


class DriftOut(Schema):
    workspace: str
    status: str  # "drifted", "no_drift", "unknown" (no finished check), "failed"
    drifted: bool
    check_id: int | None
    checked_at: datetime | None
    active_check_id: int | None
    resources: list[DriftResourceOut]


@router.get("/workspaces/{name}/drift", response=DriftOut)
def get_drift(request, name: str):
    workspace = workspace_for(request.user, name, Role.READER)
    drift = latest_drift(workspace) or {}
    check = drift.get("task")
    if check is None:
        status = "unknown"
    elif check.status == WorkspaceTask.Status.FAILED:
        status = "failed"
    else:
        status = "drifted" if drift["drifted"] else "no_drift"
    return {"workspace": workspace.name, "status": status, "drifted": bool(drift.get("drifted")),
            "check_id": check.pk if check else None, "checked_at": check.finished_at if check else None,
            "active_check_id": drift["active"].pk if drift.get("active") else None,
            "resources": [{k: r.get(k) for k in ("address", "type", "action", "changed_attributes")}
                          for r in drift.get("resources", [])]}


class ConfigPartOut(Schema):
    label: str
    source: str  # code, resource, dependency, provider, variables
    origin: str
    number: int | None  # the code version, or the resource's version
    hcl_as_written: str  # a resource that came from HCL: its text with comments ("" otherwise)


class ConfigFileOut(Schema):
    name: str
    language: str
    content: str  # sensitive values masked
    parts: list[ConfigPartOut]


class EffectiveConfigurationOut(Schema):
    workspace: str
    code_version: int | None
    resource_count: int
    error: str  # why the next run would fail before terraform starts ("" when it would not)
    files: list[ConfigFileOut]


@router.get("/workspaces/{name}/effective-configuration", response=EffectiveConfigurationOut,
            summary="The files the next run writes, and where each part comes from")
def get_effective_configuration(request, name: str):
    workspace = workspace_for(request.user, name, Role.READER)
    config = effective_configuration(workspace)
    return {"workspace": workspace.name, "code_version": config.code_version.number if config.code_version else None,
            "resource_count": config.resource_count, "error": config.error,
            "files": [{"name": f.name, "language": f.language, "content": f.content,
                       "parts": [{"label": p.label, "source": p.source, "origin": p.text, "number": p.number,
                                  "hcl_as_written": hcl} for p, hcl in f.rows]} for f in config.files]}


@router.get("/workspaces/{name}/runs", response=list[TaskOut])
def list_runs(request, name: str, status: str = "all", limit: Annotated[int, Field(ge=1, le=200)] = 50,
              offset: Offset = 0):
    if status not in RUN_FILTERS:
        raise DomainError(f"Unknown status filter {status!r}; use one of {', '.join(RUN_FILTERS)}.",
                          errors={"status": ["unknown filter"]})
    limit = max(1, min(limit, 200))
    qs = (WorkspaceTask.objects.defer(*HEAVY_FIELDS).filter(workspace=workspace_for(request.user, name, Role.READER))
          .defer(*(f"plan_task__{f}" for f in HEAVY_FIELDS))
          .select_related("workspace", "code_version", "created_by", "plan_task").prefetch_related(*RUN_PREFETCH)
          .order_by("-created_at", "-id"))
    statuses = RUN_FILTERS[status][1]
    if statuses:
        qs = qs.filter(status__in=statuses)
    return list(qs[offset:offset + limit])


@router.get("/tasks/{task_id}", response=TaskOut)
def gettask_for(request, task_id: int):
    return task_for(request, task_id)


@router.get("/tasks/{task_id}/logs", response=LogsOut)
def get_logs(request, task_id: int, after: LogCursor = 0):
    task = task_for(request, task_id)
    lines = services.task_logs_after(task=task, after=max(after, 0))
    last = lines[-1].seq if lines else max(after, 0)
    complete = any(line.stage == "complete" for line in lines) or task.logs.filter(stage="complete").exists()
    return {"task_id": task.pk, "status": task.status, "lines": lines, "last_seq": last, "complete": complete}


@router.get("/tasks/{task_id}/logs/download")
def download_logs(request, task_id: int):
    task = task_for(request, task_id)
    response = HttpResponse(log_text(task) + "\n", content_type="text/plain; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{task.workspace.name}-run-{task.pk}.log"'
    return response


@router.post("/tasks/{task_id}/confirm", response={201: TaskOut})
def confirm(request, task_id: int, payload: ConfirmIn):
    apply = services.task_confirm(task=task_for(request, task_id, Role.APPLIER), user=request.user, comment=payload.comment)
    return Status(201, load_task(apply.pk))


@router.post("/tasks/{task_id}/plan-again", response={201: TaskOut})
def plan_again(request, task_id: int):
    """A new plan & apply run with the same targets; a stale plan still waiting is discarded first."""
    task = services.task_plan_again(task=task_for(request, task_id, Role.APPLIER), user=request.user)
    return Status(201, load_task(task.pk))


@router.post("/tasks/{task_id}/discard", response=TaskOut)
def discard(request, task_id: int):
    services.task_discard(task=task_for(request, task_id, Role.APPLIER), user=request.user)
    return load_task(task_id)


@router.post("/tasks/{task_id}/cancel", response={202: TaskOut})
def cancel(request, task_id: int):
    services.task_cancel(task=task_for(request, task_id, Role.APPLIER), user=request.user)
    return Status(202, load_task(task_id))


class LockOut(Schema):
    name: str
    locked: bool
    lock_reason: str


@router.post("/workspaces/{name}/lock", response=LockOut)
def lock(request, name: str, payload: LockIn):
    reason = payload.reason.strip() or f"Locked by {request.user.get_username()}"
    return workspace_lock(workspace=workspace_for(request.user, name, Role.APPLIER), reason=reason, user=request.user)


@router.post("/workspaces/{name}/unlock", response=LockOut)
def unlock(request, name: str):
    return workspace_unlock(workspace=workspace_for(request.user, name, Role.APPLIER), user=request.user)


class RestoredOut(Schema):
    serial: int
    lineage: str
    workspace_locked: bool


@router.post("/workspaces/{name}/state/retry-save", response=RestoredOut)
def retry_state_save(request, name: str, payload: RestoreIn):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    version = state_restore_from_backup(workspace=workspace, backup_path=payload.backup_path, user=request.user,
                                        force=payload.force)
    audit_record("state.restore", user=request.user, workspace=workspace, target=f"state serial {version.serial}",
                 details={"serial": version.serial, "backup": payload.backup_path or "newest", "forced": payload.force})
    workspace.refresh_from_db()
    services.dispatch_workspace(workspace.pk)
    return {"serial": version.serial, "lineage": version.lineage, "workspace_locked": workspace.locked}


# --- hooks ------------------------------------------------------------------------------------
