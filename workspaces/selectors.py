from django.db.models import OuterRef, Q, Subquery
from django.shortcuts import get_object_or_404

from workspaces.access import readable_workspaces
from workspaces.models import StateVersion, Workspace
from workspaces.runs import runs


def workspace_list(*, user, search: str = "", locked: bool | None = None):
    """The workspaces ``user`` may read, with what the list shows, in a bounded number of queries."""
    latest_state = StateVersion.objects.filter(workspace=OuterRef("pk")).order_by("-serial")
    qs = runs().annotate_workspace_list(readable_workspaces(user).annotate(
        state_serial=Subquery(latest_state.values("serial")[:1]),
        resource_count=Subquery(latest_state.values("resource_count")[:1]),
    )).order_by("name")
    if search:
        qs = qs.filter(Q(name__icontains=search) | Q(description__icontains=search))
    if locked is not None:
        qs = qs.filter(locked=locked)
    return qs


def variable_list(*, workspace: Workspace):
    return workspace.variables.order_by("category", "key")


def variable_get(*, workspace: Workspace, variable_id: int):
    return get_object_or_404(workspace.variables.all(), pk=variable_id)
