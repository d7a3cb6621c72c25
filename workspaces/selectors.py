from django.db.models import Count, OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404

from workspaces.models import StateVersion, Workspace


def workspace_get(name: str) -> Workspace:
    return get_object_or_404(Workspace, name=name)


def workspace_list(*, search: str = "", locked: bool | None = None):
    """Workspaces with what the list shows, in a bounded number of queries."""
    from executions.models import WorkspaceTask

    last_task = WorkspaceTask.objects.filter(workspace=OuterRef("pk")).order_by("-created_at", "-id")
    latest_state = StateVersion.objects.filter(workspace=OuterRef("pk")).order_by("-serial")
    qs = Workspace.objects.annotate(
        last_run_status=Subquery(last_task.values("status")[:1]),
        last_run_at=Subquery(last_task.values("created_at")[:1]),
        last_run_id=Subquery(last_task.values("id")[:1]),
        state_serial=Subquery(latest_state.values("serial")[:1]),
        resource_count=Subquery(latest_state.values("resource_count")[:1]),
        pending_confirmations=Count("tasks", filter=Q(tasks__status=WorkspaceTask.Status.PLANNED)),
    ).order_by("name")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if locked is not None:
        qs = qs.filter(locked=locked)
    return qs


def workspace_get_detailed(name: str) -> Workspace:
    """A workspace for its pages: the current code version and the locker come along."""
    return get_object_or_404(Workspace.objects.select_related("current_code_version", "locked_by"), name=name)


def variable_list(*, workspace: Workspace):
    return workspace.variables.order_by("category", "key")


def variable_get(*, workspace: Workspace, variable_id: int):
    return get_object_or_404(workspace.variables.all(), pk=variable_id)


def state_overview(*, workspace: Workspace, limit: int = 50) -> dict:
    """The latest state with its managed resources (address, type) and masked outputs."""
    import json

    state = StateVersion.objects.filter(workspace=workspace).order_by("-serial").first()
    resources = []
    if state is not None:
        try:
            data = json.loads(state.content)
        except ValueError:
            data = {}
        for r in data.get("resources", []) or []:
            prefix = f"{r['module']}." if r.get("module") else ""
            mode = "data." if r.get("mode") == "data" else ""
            resources.append({"address": f"{prefix}{mode}{r.get('type')}.{r.get('name')}",
                              "type": r.get("type"), "instances": len(r.get("instances", []) or [])})
    return {"state": state, "resources": resources[:limit], "resource_total": len(resources),
            "outputs": sorted((state.outputs or {}).items()) if state else []}
