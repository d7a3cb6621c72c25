"""The run page's plan: the filter (``?q=``), a collapsed group's rows, one resource's attribute changes.

The run page renders ``executions/_plan.html`` with ``plan_context``. Its HTMX requests come here:

- ``run_plan``: the plan's groups for ``?q=`` (the filter; the page's address follows it), or one
  module/type group's rows with ``?group=&offset=`` (a collapsed group opened, "show more").
  Without HTMX: the plan on a page of its own.
- ``run_plan_resource``: one resource's attribute changes (``?address=``); without HTMX, a page.
"""

from urllib.parse import urlencode, urlsplit

from django.http import QueryDict
from django.shortcuts import render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.views.decorators.http import require_GET
from django_htmx.http import replace_url

from executions import selectors
from executions.models import WorkspaceTask
from executions.plan_view import PlanQuery, plan_resource, plan_rows, plan_view, q_param
from iacplatform.pages import render_page
from workspaces.access import workspace_for
from workspaces.models import Role

PLAN_TEMPLATE = "executions/_plan.html"


def plan_query_from(request) -> PlanQuery:
    """The reader's filter: from the query string, or (the run page's own HTMX refresh) its address."""
    params = request.GET
    if request.htmx and not params and request.htmx.current_url:
        params = QueryDict(urlsplit(request.htmx.current_url).query)
    return PlanQuery.from_params(params)


def plan_context(workspace, task, plan_task, query: PlanQuery | None) -> dict:
    """What ``_plan.html`` needs, for the run page and for its fragments."""
    resource_url = reverse("run_plan_resource", args=[workspace.name, task.pk])
    return {
        "plan": plan_view(plan_task.change_summary if plan_task else None, query or PlanQuery(),
                          resource_url=resource_url),
        "plan_url": reverse("run_plan", args=[workspace.name, task.pk]),
    }


def _plan_task(task):
    if task.task_type != WorkspaceTask.TaskType.APPLY:
        return task
    return WorkspaceTask.objects.defer(*selectors.HEAVY_FIELDS).filter(pk=task.plan_task_id).first()


@require_GET
def run_plan_view(request, name, task_id):
    workspace = workspace_for(request.user, name, Role.READER)
    task = selectors.run_get(workspace=workspace, task_id=task_id, with_related=False)
    run_url = reverse("run_detail", args=[workspace.name, task.pk])
    query = PlanQuery.from_params(request.GET)
    plan_task = _plan_task(task)
    context = {"workspace": workspace, "task": task, "run_url": run_url, "is_apply": plan_task is not task,
               "tab": "runs"}
    if not request.htmx:  # the plan on a page of its own (its links lead back to the run page)
        return render(request, "executions/plan_page.html", context | plan_context(workspace, task, plan_task, query))
    if query.group:
        group = plan_rows(plan_task.change_summary if plan_task else None, query,
                          resource_url=reverse("run_plan_resource", args=[workspace.name, task.pk]))
        context |= {"group": group, "plan": {"q_param": q_param(query.q)},
                    "plan_url": reverse("run_plan", args=[workspace.name, task.pk])}
        response = render(request, PLAN_TEMPLATE + ("#plan-more" if group else "#plan-no-group"), context,
                          status=200 if group else 404)
    else:
        context |= plan_context(workspace, task, plan_task, query)
        response = render(request, PLAN_TEMPLATE + "#plan-body", context)
        replace_url(response, run_url + (f"?{urlencode({'q': query.q})}" if query.q else ""))
    patch_vary_headers(response, ("HX-Request",))
    return response


@require_GET
def run_plan_resource_view(request, name, task_id):
    workspace = workspace_for(request.user, name, Role.READER, detailed=True)
    address = (request.GET.get("address") or "").strip()[:1000]
    resource = plan_resource(workspace=workspace, task_id=task_id, address=address) if address else None
    context = {"workspace": workspace, "tab": "runs", "task_id": task_id, "address": address, "resource": resource,
               "run_url": reverse("run_detail", args=[workspace.name, task_id])}
    return render_page(request, "executions/plan_resource.html", context, fragment="resource-attributes",
                       status=200 if resource else 404)
