from pathlib import Path

from django.core.management.base import CommandError

from iacplatform.errors import DomainError
from workspaces.code.services import code_save
from workspaces.commands import WorkspaceCommand
from workspaces.models import Role


class Command(WorkspaceCommand):
    help = "Save a workspace's code from a file (HCL or Terraform JSON) as a new code version."

    def add_arguments(self, parser):
        parser.add_argument("workspace")
        parser.add_argument("--file", required=True, help="the code; - for stdin")
        parser.add_argument("--format", default="auto", choices=["auto", "hcl", "json"])
        parser.add_argument("--message", default="")

    def handle(self, *args, workspace, file, format, message, **options):
        ws = self.workspace(workspace, Role.PLANNER)
        try:
            code = self.stdin_or_file(file)
            version, created = code_save(workspace=ws, code=code, code_format=format, message=message,
                                         author=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        if created:
            self.stdout.write(f"Saved code version {version.number} of {ws.name}.")
        else:
            self.stdout.write(f"Unchanged: version {version.number} of {ws.name} is current.")

    @staticmethod
    def stdin_or_file(path: str) -> str:
        import sys

        if path == "-":
            return sys.stdin.read()
        try:
            return Path(path).read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read {path}: {exc}") from None
