"""Run pages: the runs tab, a new run, the run page with its live log, confirm/discard/cancel.

The run page follows the log over Server-Sent Events (``log_stream.py``) and falls back to
polling ``run_logs?after=<seq>`` every second; the answer appends only new
lines, replaces the poller (out of band) with the next position, fires ``run-updated``
when the status or stage moved on (the header, plan and details refresh), and stops the
polling with status 286 once the log is final.
"""

from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.http import HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.views.decorators.http import require_GET, require_http_methods, require_POST
from django_htmx.http import HTMX_STOP_POLLING, trigger_client_event

from executions import runs, selectors
from executions.executor import stages
from executions.policies import can_override_policy
from executions.policy_views import OverrideForm
from executions.forms import ConfirmForm, RunForm
from executions.models import IllegalTransition, WorkspaceTask
from executions.plan_views import plan_context, plan_query_from
from executions.services import (
    plan_staleness, task_cancel, task_confirm, task_discard, task_plan_again, task_queue_drift_check, task_queue_run,
)
from iacplatform.errors import DomainError
from iacplatform.pages import form_error_from, render_page
from workspaces.access import workspace_for
from workspaces.models import Role

Status = WorkspaceTask.Status
RUNS_PER_PAGE = 25


def _int(value, default=0) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return default


# --- runs tab ------------------------------------------------------------------------------
@require_GET
def run_list_view(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    status_filter = request.GET.get("status", "all")
    if status_filter not in selectors.RUN_FILTERS:
        status_filter = "all"
    page = Paginator(runs.run_list(workspace=workspace, status_filter=status_filter),
                     RUNS_PER_PAGE).get_page(request.GET.get("page"))
    counts = runs.run_filter_counts(workspace=workspace)
    filters = [(key, label, counts[key]) for key, (label, _) in selectors.RUN_FILTERS.items()]
    context = {"workspace": workspace, "tab": "runs", "page": page, "runs": [runs.run_of(t) for t in page],
               "status_filter": status_filter, "filters": filters}
    return render_page(request, "executions/run_list.html", context, fragment="runs")


# --- new run -------------------------------------------------------------------------------
@require_http_methods(["GET", "POST"])
def run_new_view(request, name):
    workspace = workspace_for(request.user, name, Role.PLANNER, detailed=True)
    form = RunForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                task = task_queue_run(
                    workspace=workspace, kind=form.cleaned_data["kind"], targets=form.cleaned_data["targets"],
                    message=form.cleaned_data["message"], user=request.user,
                    upgrade_providers=form.cleaned_data["upgrade_providers"],
                )
            except DomainError as exc:
                form_error_from(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Run #{task.pk} queued.")
                return redirect("run_detail", workspace.name, task.pk)
        else:
            status = 400
    context = {"workspace": workspace, "tab": "runs", "form": form,
               "pending": selectors.pending_confirmation(workspace=workspace)}
    return render_page(request, "executions/run_new.html", context, fragment="form", status=status)


# --- run page ------------------------------------------------------------------------------
def _run_context(workspace, task, request_user=None, plan_query=None) -> dict:
    is_apply = task.task_type == WorkspaceTask.TaskType.APPLY
    plan_task = task.plan_task if is_apply else task
    apply_tasks = list(task.apply_tasks.all()) if not is_apply else []
    apply_task = task if is_apply else (apply_tasks[0] if apply_tasks else None)
    failed_stage = selectors.last_log_stage(task) if task.status in (Status.FAILED, Status.CANCELLED) else ""
    states = list(task.state_versions.all())
    state_saved = bool(states)
    may_apply = workspace.access.can_apply  # a reader or planner sees no confirm/discard/cancel
    awaiting = task.status == Status.PLANNED and task.task_type == WorkspaceTask.TaskType.PLAN_AND_APPLY
    stale_reason = plan_staleness(task) if awaiting else None
    return {
        "workspace": workspace, "tab": "runs", "task": task, "is_apply": is_apply, "run": runs.run_of(task),
        "stale_reason": stale_reason, "can_plan_again": may_apply and bool(stale_reason),
        "plan_task": plan_task, "apply_task": apply_task if not is_apply else None, "apply_tasks": apply_tasks,
        **plan_context(workspace, task, plan_task, plan_query),
        "steps": selectors.stage_progress(plan_task if not is_apply else task, apply_task=apply_task,
                                          failed_stage=failed_stage, state_saved=state_saved),
        "failed_stage": WorkspaceTask.Stage(failed_stage).label if failed_stage in WorkspaceTask.Stage.values else "",
        "state_version": states[0] if states else None,
        "stage_durations": stages.durations(task),
        "hook_results": list(task.hook_results.all()),
        "policy_results": list(plan_task.policy_results.all()) if plan_task else [],
        "policy_overrides": list(plan_task.policy_overrides.all()) if plan_task else [],
        "can_override": task.status == Status.POLICY_OVERRIDE and can_override_policy(request_user, workspace),
        "override_form": OverrideForm(),
        "can_confirm": (may_apply and task.status == Status.PLANNED
                        and task.task_type == WorkspaceTask.TaskType.PLAN_AND_APPLY),
        # a plan awaiting a policy override is discarded from its own card
        "can_discard": may_apply and task.status == Status.PLANNED,
        "can_cancel": may_apply and task.status in selectors.ACTIVE and not task.cancel_requested,
        "blocker": selectors.queue_blocker(task),
        "confirm_form": ConfirmForm(),
        "run_url": reverse("run_detail", args=[workspace.name, task.pk]),
        "logs_url": reverse("run_logs", args=[workspace.name, task.pk]),
        "stream_url": (reverse("run_log_stream", args=[workspace.name, task.pk])
                       if settings.IAC_LOG_STREAM_SECONDS else ""),
    }


@require_GET
def run_detail_view(request, name, task_id):
    workspace = workspace_for(request.user, name, Role.READER, detailed=True)
    task = selectors.run_get(workspace=workspace, task_id=task_id)
    context = _run_context(workspace, task, request.user, plan_query_from(request))
    if not request.htmx:
        log = selectors.log_page(task=task, tail=selectors.RUN_PAGE_LOG_LINES)
        context |= {"log": log, "log_final": selectors.log_is_final(task, log)}
    # An HTMX request (the "run-updated" refresh) gets the header, with plan and details out of band.
    return render_page(request, "executions/run_detail.html", context, fragment="run-refresh")


@require_GET
def run_logs_view(request, name, task_id):
    """HTMX: the lines after ``after`` (and the next poller). Otherwise: the whole log as text."""
    workspace = workspace_for(request.user, name, Role.READER)
    task = selectors.run_get(workspace=workspace, task_id=task_id, with_related=False)
    if not request.htmx:
        log = selectors.log_page(task=task)
        text = "\n".join(line.text if line.kind == "line" else f"--- {line.text} ---" for line in log.lines)
        response = HttpResponse(text + "\n", content_type="text/plain; charset=utf-8")
        if request.GET.get("download"):
            response["Content-Disposition"] = f'attachment; filename="{workspace.name}-run-{task.pk}.log"'
        return response
    log = selectors.log_page(task=task, after=_int(request.GET.get("after")), line=_int(request.GET.get("line")),
                             stage=request.GET.get("stage", ""))
    final = selectors.log_is_final(task, log)
    context = {"workspace": workspace, "task": task, "log": log, "log_final": final, "oob": True,
               "logs_url": reverse("run_logs", args=[workspace.name, task.pk])}
    response = render_page(request, "executions/run_detail.html", context, fragment="log-poll")
    if request.GET.get("status") != task.status or request.GET.get("task_stage") != task.stage or final:
        trigger_client_event(response, "run-updated", {"status": task.status, "stage": task.stage})
    if final:
        response.status_code = HTMX_STOP_POLLING
    return response


# --- confirm, discard, cancel --------------------------------------------------------------
def _act(request, name, task_id, action):
    workspace = workspace_for(request.user, name, Role.APPLIER)
    task = selectors.run_get(workspace=workspace, task_id=task_id)
    try:
        result = action(workspace, task)
    except DomainError as exc:
        messages.error(request, exc.message)
    except IllegalTransition:
        messages.error(request, f"Run #{task.pk} is {task.get_status_display().lower()} now; "
                                "that action is no longer possible.")
    else:
        return result
    return redirect("run_detail", workspace.name, task.pk)


@require_POST
def run_confirm_view(request, name, task_id):
    def confirm(workspace, task):
        form = ConfirmForm(request.POST)
        if not form.is_valid():
            raise DomainError("The comment is too long (500 characters at most).")
        apply_task = task_confirm(task=task, user=request.user, comment=form.cleaned_data["comment"])
        messages.success(request, f"Plan confirmed: apply run #{apply_task.pk} queued.")
        return redirect("run_detail", workspace.name, apply_task.pk)

    return _act(request, name, task_id, confirm)


@require_POST
def run_plan_again_view(request, name, task_id):
    def plan_again(workspace, task):
        new = task_plan_again(task=task, user=request.user)
        messages.success(request, f"Run #{new.pk} queued: it plans again with the current code, variables and state.")
        return redirect("run_detail", workspace.name, new.pk)

    return _act(request, name, task_id, plan_again)


@require_POST
def run_discard_view(request, name, task_id):
    def discard(workspace, task):
        task_discard(task=task, user=request.user)
        messages.success(request, f"Run #{task.pk} discarded: nothing will be applied.")
        return redirect("run_detail", workspace.name, task.pk)

    return _act(request, name, task_id, discard)


@require_POST
def run_cancel_view(request, name, task_id):
    def cancel(workspace, task):
        task = task_cancel(task=task, user=request.user)
        if task.status == Status.CANCELLED:
            messages.success(request, f"Run #{task.pk} cancelled.")
        else:
            messages.info(request, f"Cancelling run #{task.pk}: Terraform is being stopped gracefully.")
        return redirect("run_detail", workspace.name, task.pk)

    return _act(request, name, task_id, cancel)


# --- drift ----------------------------------------------------------------------------------
@require_POST
def drift_check_start_view(request, name):
    workspace = workspace_for(request.user, name, Role.PLANNER)
    try:
        task = task_queue_drift_check(workspace=workspace, user=request.user)
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("workspace_overview", workspace.name)
    messages.success(request, f"Drift check #{task.pk} queued: it runs when no other run of the workspace does.")
    return redirect("run_detail", workspace.name, task.pk)


@require_POST
def drift_reconcile_view(request, name, task_id):
    """"Plan to reconcile": a plan & apply run of the code as it is, which plans the drifted
    resources back to what the code declares; an operator confirms it as any plan."""
    workspace = workspace_for(request.user, name, Role.PLANNER)
    check = selectors.run_get(workspace=workspace, task_id=task_id, with_related=False)
    try:
        task = task_queue_run(workspace=workspace, kind=WorkspaceTask.TaskType.PLAN_AND_APPLY, user=request.user,
                              message=f"Reconcile the drift found by drift check #{check.pk}")
    except DomainError as exc:
        messages.error(request, exc.message)
        return redirect("workspace_overview", workspace.name)
    messages.success(request, f"Run #{task.pk} plans the drifted resources back to the code; confirm it to apply.")
    return redirect("run_detail", workspace.name, task.pk)
