
from executions.management.commands._common import RunCommand
from workspaces.services import workspace_unlock
from workspaces.models import Role


class Command(RunCommand):
    help = "Unlock a workspace; its queued runs start."

    def add_arguments(self, parser):
        parser.add_argument("workspace")

    def handle(self, *args, workspace, **options):
        ws = workspace_unlock(workspace=self.workspace(workspace, Role.APPLIER), user=self.user)
        self.stdout.write(f"Workspace {ws.name} unlocked.")
