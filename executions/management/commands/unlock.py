from django.core.management.base import BaseCommand

from executions.management.commands._common import get_workspace
from executions.services import workspace_unlock_and_dispatch


class Command(BaseCommand):
    help = "Unlock a workspace; its queued runs start."

    def add_arguments(self, parser):
        parser.add_argument("workspace")

    def handle(self, *args, workspace, **options):
        ws = workspace_unlock_and_dispatch(workspace=get_workspace(workspace))
        self.stdout.write(f"Workspace {ws.name} unlocked.")
