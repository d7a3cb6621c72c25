from django.core.management.base import BaseCommand

from executions.management.commands._common import get_workspace
from workspaces.services import workspace_lock


class Command(BaseCommand):
    help = "Lock a workspace: it refuses new runs until unlocked."

    def add_arguments(self, parser):
        parser.add_argument("workspace")
        parser.add_argument("--reason", default="Locked from the command line")

    def handle(self, *args, workspace, reason, **options):
        ws = workspace_lock(workspace=get_workspace(workspace), reason=reason)
        self.stdout.write(f"Workspace {ws.name} locked: {ws.lock_reason}")
