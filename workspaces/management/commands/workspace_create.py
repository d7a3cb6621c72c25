from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from iacplatform.errors import DomainError
from workspaces.commands import WorkspaceCommand
from workspaces.services import workspace_create


class Command(WorkspaceCommand):
    help = "Create a workspace (with --user, that user becomes its admin)."

    def add_arguments(self, parser):
        parser.add_argument("name")
        parser.add_argument("--description", default="")
        parser.add_argument("--auto-apply", action="store_true")
        parser.add_argument("--terraform-version", default="")

    def handle(self, *args, name, description, auto_apply, terraform_version, **options):
        try:
            workspace = workspace_create(name=name, description=description, auto_apply=auto_apply,
                                         terraform_version=terraform_version, user=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        self.stdout.write(f"Workspace {workspace.name} created.")
