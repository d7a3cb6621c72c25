from pathlib import Path

from django.core.management.base import CommandError

from iacplatform.errors import DomainError
from resources.services import resources_import
from workspaces.commands import WorkspaceCommand
from workspaces.models import Role


class Command(WorkspaceCommand):
    help = ("Import Terraform files into a workspace's resources (all or nothing). --file is repeatable; "
            "a directory imports its *.tf files and modules/<name>/*.tf.")

    def add_arguments(self, parser):
        parser.add_argument("workspace")
        parser.add_argument("--file", action="append", required=True, help="a .tf file or a directory; repeatable")
        parser.add_argument("--on-duplicate", default="fail", choices=["fail", "skip", "new_version"])
        parser.add_argument("--message", default="")

    def handle(self, *args, workspace, file, on_duplicate, message, **options):
        ws = self.workspace(workspace, Role.PLANNER)
        files: dict[str, str] = {}
        try:
            for item in file:
                path = Path(item)
                if path.is_dir():
                    for tf in sorted(path.glob("*.tf")) + sorted(path.glob("modules/*/*.tf")):
                        files[str(tf.relative_to(path))] = tf.read_text()
                else:
                    files[path.name] = path.read_text()
        except (OSError, UnicodeDecodeError) as exc:
            raise CommandError(f"Cannot read the files: {exc}") from None
        if not files:
            raise CommandError("No .tf files found.")
        try:
            report = resources_import(workspace=ws, files=files, on_duplicate=on_duplicate, message=message,
                                      user=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Imported into {ws.name}: {len(report.created)} created, {len(report.updated)} updated, "
                          f"{len(report.skipped)} skipped.")
