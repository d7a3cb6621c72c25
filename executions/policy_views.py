"""Policy pages: a workspace's policy sets (under its Settings), the global ones, the
playground, and the override of a plan stopped by a soft-mandatory policy."""

import json

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.shortcuts import get_object_or_404, redirect
from django.views.decorators.http import require_http_methods, require_POST

from executions import selectors
from executions.hooks import can_manage_hooks
from executions.models import PolicySet, WorkspaceTask
from executions.policies import evaluate, policy_input, policy_override, policy_set_delete, policy_set_save
from iacplatform.errors import DomainError
from iacplatform.pages import form_error_from, render_page
from workspaces.crypto import decrypt_bytes
from workspaces.access import workspace_for
from workspaces.models import Role

EXAMPLE = """package terraform.owner

import rego.v1

# Every terraform_data marked env = "prod" needs an owner.
deny contains msg if {
  some rc in input.plan.resource_changes
  rc.type == "terraform_data"
  rc.change.after.input.env == "prod"
  not rc.change.after.input.owner
  msg := sprintf("%s: env prod needs an owner", [rc.address])
}

warn contains msg if {
  input.cost.diff > 100
  msg := sprintf("this plan adds %.2f a month", [input.cost.diff])
}
"""


class PolicySetForm(forms.Form):
    name = forms.CharField(max_length=100)
    enforcement = forms.ChoiceField(choices=PolicySet.Enforcement.choices)
    rego = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "class": "mono", "spellcheck": "false"}),
                           label="Rego", initial=EXAMPLE)
    message = forms.CharField(max_length=500, required=False, label="What changed")
    enabled = forms.BooleanField(required=False, initial=True)


class PlaygroundForm(forms.Form):
    rego = forms.CharField(widget=forms.Textarea(attrs={"rows": 16, "class": "mono", "spellcheck": "false"}),
                           label="Rego", initial=EXAMPLE)
    run = forms.IntegerField(label="Run number", help_text="Its plan JSON, workspace, run and cost are the input.")


class OverrideForm(forms.Form):
    reason = forms.CharField(max_length=2000, widget=forms.Textarea(attrs={"rows": 2}),
                             label="Reason for the override")


def _scope(request, name):
    workspace = workspace_for(request.user, name, Role.READER) if name else None
    if not can_manage_hooks(request.user, workspace):
        raise PermissionDenied("Only administrators manage policy sets.")
    return workspace


@require_http_methods(["GET", "POST"])
def policy_list_view(request, name=None, policy_id=None):
    workspace = _scope(request, name)
    policy_set = get_object_or_404(PolicySet, pk=policy_id, workspace=workspace) if policy_id else None
    initial = ({"name": policy_set.name, "enforcement": policy_set.enforcement, "enabled": policy_set.enabled,
                "rego": policy_set.current.rego if policy_set.current else ""} if policy_set else None)
    form = PolicySetForm(request.POST or None, initial=initial)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = policy_set_save(policy_set=policy_set, workspace=workspace, user=request.user,
                                        **form.cleaned_data)
            except DomainError as exc:
                form_error_from(form, exc)
                status = exc.status
            else:
                messages.success(request, f"Policy set {saved.name!r} saved (version {saved.current.number}).")
                return redirect("workspace_policies", workspace.name) if workspace else redirect("global_policies")
        else:
            status = 400
    sets = PolicySet.objects.filter(workspace=workspace).prefetch_related("versions")
    context = {"workspace": workspace, "tab": "settings", "policy_sets": sets, "form": form, "editing": policy_set,
               "body": "executions/_policies.html",
               "global_sets": PolicySet.objects.filter(workspace__isnull=True) if workspace else None}
    return render_page(request, "executions/policies.html", context, status=status)


@require_POST
def policy_delete_view(request, policy_id, name=None):
    workspace = _scope(request, name)
    policy_set = get_object_or_404(PolicySet, pk=policy_id, workspace=workspace)
    policy_set_delete(policy_set=policy_set, user=request.user)
    messages.success(request, f"Policy set {policy_set.name!r} deleted.")
    return redirect("workspace_policies", workspace.name) if workspace else redirect("global_policies")


@require_http_methods(["GET", "POST"])
def policy_playground_view(request):
    _scope(request, None)
    form = PlaygroundForm(request.POST or None)
    result, status = None, 200
    if request.method == "POST":
        if form.is_valid():
            task = WorkspaceTask.objects.select_related("workspace", "created_by").filter(
                pk=form.cleaned_data["run"]).first()
            plan_task = (task.plan_task if task and task.task_type == WorkspaceTask.TaskType.APPLY else task)
            if plan_task is None or not plan_task.plan_json:
                form.add_error("run", "No run with a saved plan has this number.")
                status = 400
            else:
                doc = policy_input(task=plan_task, plan=json.loads(decrypt_bytes(plan_task.plan_json) or b"{}"),
                                   cost=plan_task.cost_estimate or None)
                result = evaluate(form.cleaned_data["rego"], doc)
        else:
            status = 400
    context = {"workspace": None, "form": form, "result": result, "body": "executions/_playground.html"}
    return render_page(request, "executions/policies.html", context, status=status)


@require_POST
def run_policy_override_view(request, name, task_id):
    workspace = workspace_for(request.user, name, Role.ADMIN)  # the role that may override a policy
    task = selectors.run_get(workspace=workspace, task_id=task_id)
    form = OverrideForm(request.POST)
    try:
        if not form.is_valid():
            raise DomainError("Give a reason for the override (2000 characters at most).")
        policy_override(task=task, user=request.user, reason=form.cleaned_data["reason"],
                        remote_addr=request.META.get("REMOTE_ADDR", ""))
    except DomainError as exc:
        messages.error(request, exc.message)
    else:
        messages.success(request, f"Policy overridden: run #{task.pk} may go on.")
    return redirect("run_detail", workspace.name, task.pk)
