"""Hook pages: a workspace's hooks (under its Settings) and the global ones (superusers).

Thin: the form is checked, ``executions.hooks`` saves or deletes, the page is rendered.
"""

import json

from django.contrib import messages
from django.contrib.auth.decorators import login_not_required
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from executions.executor.hooks import plan_json_task_id
from executions.forms import HookForm
from executions.hooks import can_manage_hooks, hook_callback_record, hook_delete, hook_save
from executions.models import Hook, WorkspaceTask
from iacplatform.errors import DomainError
from iacplatform.pages import form_error_from, render_page
from workspaces.crypto import decrypt_bytes
from workspaces.access import workspace_for
from workspaces.models import Role


def _scope(request, name):
    workspace = workspace_for(request.user, name, Role.READER) if name else None
    if not can_manage_hooks(request.user, workspace):
        raise PermissionDenied("Only administrators manage hooks.")
    return workspace


def _redirect(workspace):
    return redirect("workspace_hooks", workspace.name) if workspace else redirect("global_hooks")


@require_http_methods(["GET", "POST"])
def hook_list_view(request, name=None):
    workspace = _scope(request, name)
    form = HookForm(request.POST or None)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            data = {key: form.cleaned_data[key] for key in HookForm.Meta.fields}
            try:
                hook_save(workspace=workspace, secret=form.cleaned_data["secret"] or None, user=request.user,
                          **data)
            except DomainError as exc:
                form_error_from(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Hook {data['name']!r} saved.")
                return _redirect(workspace)
        else:
            status = 400
    hooks = Hook.objects.filter(workspace=workspace) if workspace else Hook.objects.filter(workspace__isnull=True)
    context = {"workspace": workspace, "tab": "settings", "hooks": hooks, "form": form,
               "global_hooks": Hook.objects.filter(workspace__isnull=True) if workspace else None}
    context["body"] = "executions/_hooks.html"
    return render_page(request, "executions/hooks.html", context, status=status)


@require_POST
def hook_delete_view(request, hook_id, name=None):
    workspace = _scope(request, name)
    hook = get_object_or_404(Hook, pk=hook_id, workspace=workspace)
    hook_delete(hook=hook, user=request.user)
    messages.success(request, f"Hook {hook.name!r} deleted.")
    return _redirect(workspace)


@login_not_required
@require_GET
def run_plan_json_view(request, name, task_id):
    """The plan JSON of a run, for an HTTP hook: only with the short-lived token of its payload."""
    if plan_json_task_id(request.GET.get("token", "")) != task_id:
        raise PermissionDenied("Missing or expired token.")
    task = get_object_or_404(WorkspaceTask, pk=task_id, workspace__name=name)
    plan = task.plan_task if task.task_type == WorkspaceTask.TaskType.APPLY else task
    if not plan.plan_json:
        raise Http404("This run has no plan JSON.")
    return HttpResponse(decrypt_bytes(plan.plan_json), content_type="application/json")


@csrf_exempt
@login_not_required
@require_POST
def hook_callback_view(request):
    """An asynchronous HTTP hook's result: ``Authorization: Bearer <callback_token>`` and a JSON
    body ``{"status": "passed" | "failed", "message", "url"}``. The token is the authentication."""
    auth = request.headers.get("Authorization", "")
    token = auth[len("Bearer "):].strip() if auth.startswith("Bearer ") else ""
    try:
        body = json.loads(request.body or b"{}")
    except ValueError:
        return JsonResponse({"detail": "The body is not JSON.", "errors": {}}, status=400)
    if not isinstance(body, dict):
        return JsonResponse({"detail": "The body must be a JSON object.", "errors": {}}, status=400)
    try:
        hook_callback_record(token=token, body=body)
    except DomainError as exc:
        return JsonResponse({"detail": exc.message, "errors": getattr(exc, "errors", {}) or {}}, status=exc.status)
    return JsonResponse({"detail": "Recorded."})
