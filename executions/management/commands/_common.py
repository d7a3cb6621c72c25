"""Shared bits of the run commands: look-ups that turn domain errors into CommandError."""

from django.core.management.base import CommandError

from executions.models import WorkspaceTask
from workspaces.models import Workspace


def get_workspace(name: str) -> Workspace:
    try:
        return Workspace.objects.get(name=name)
    except Workspace.DoesNotExist:
        raise CommandError(f"No workspace named {name!r}.") from None


def get_task(task_id: int) -> WorkspaceTask:
    try:
        return WorkspaceTask.objects.select_related("workspace").get(pk=task_id)
    except WorkspaceTask.DoesNotExist:
        raise CommandError(f"No run #{task_id}.") from None
