
from executions.management.commands._common import RunCommand
from workspaces.services import workspace_lock
from workspaces.models import Role


class Command(RunCommand):
    help = "Lock a workspace: it refuses new runs until unlocked."

    def add_arguments(self, parser):
        parser.add_argument("workspace")
        parser.add_argument("--reason", default="Locked from the command line")

    def handle(self, *args, workspace, reason, **options):
        ws = workspace_lock(workspace=self.workspace(workspace, Role.APPLIER), reason=reason, user=self.user)
        self.stdout.write(f"Workspace {ws.name} locked: {ws.lock_reason}")
