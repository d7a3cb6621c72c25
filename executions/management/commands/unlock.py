from django.core.management.base import BaseCommand

from executions.management.commands._common import get_workspace
from workspaces.services import workspace_unlock


class Command(BaseCommand):
    help = "Unlock a workspace; its queued runs start."

    def add_arguments(self, parser):
        parser.add_argument("workspace")

    def handle(self, *args, workspace, **options):
        ws = workspace_unlock(workspace=get_workspace(workspace))
        self.stdout.write(f"Workspace {ws.name} unlocked.")
