"""Shared bits of the run commands: role-checked look-ups that turn errors into CommandError."""

from django.core.management.base import CommandError

from executions.models import WorkspaceTask
from workspaces.commands import WorkspaceCommand
from workspaces.models import Role


class RunCommand(WorkspaceCommand):
    def task(self, task_id: int, need: int = Role.READER) -> WorkspaceTask:
        task = WorkspaceTask.objects.select_related("workspace").filter(pk=task_id).first()
        if task is None:
            raise CommandError(f"No run #{task_id}.")
        try:
            self.workspace(task.workspace.name, need)
        except CommandError:
            raise CommandError(f"No run #{task_id}.") from None  # not even readable: as if missing
        return task
