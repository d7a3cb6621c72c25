import sys

from django.core.exceptions import ValidationError
from django.core.management.base import CommandError

from iacplatform.errors import DomainError
from workspaces.commands import WorkspaceCommand
from workspaces.models import Role, Variable
from workspaces.services import variable_set


class Command(WorkspaceCommand):
    help = ("Create or change a variable. A sensitive value is read from stdin, never from the command "
            "line (argv is visible to every user of the host): echo -n \"$SECRET\" | manage.py variable_set "
            "WS KEY --sensitive")

    def add_arguments(self, parser):
        parser.add_argument("workspace")
        parser.add_argument("key")
        parser.add_argument("--value", default=None, help="a non-sensitive value (else read from stdin)")
        parser.add_argument("--sensitive", action="store_true", help="write-only and encrypted; value from stdin")
        parser.add_argument("--env", action="store_true", help="an environment variable (default: terraform)")
        parser.add_argument("--hcl", action="store_true", help="parse the value as HCL")
        parser.add_argument("--description", default=None)
        parser.add_argument("--create", action="store_true", help="refuse to change an existing variable")

    def handle(self, *args, workspace, key, value, sensitive, env, hcl, description, create, **options):
        ws = self.workspace(workspace, Role.ADMIN)
        category = Variable.Category.ENV if env else Variable.Category.TERRAFORM
        existing = ws.variables.filter(key=key, category=category).first()
        if value is not None and (sensitive or (existing and existing.sensitive)):
            raise CommandError("A sensitive value is read from stdin, not from --value (argv is visible to "
                               "every user of the host).")
        if value is None:
            value = sys.stdin.read()
            if value.endswith("\n"):
                value = value[:-1]  # what `echo` adds
        if description is None:
            description = existing.description if existing else ""
        try:
            variable = variable_set(workspace=ws, key=key, value=value, category=category, hcl=hcl,
                                    sensitive=sensitive or bool(existing and existing.sensitive),
                                    description=description, create=create, user=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        except ValidationError as exc:
            raise CommandError("; ".join(exc.messages)) from None
        kind = "sensitive variable" if variable.sensitive else "variable"
        self.stdout.write(f"{'Created' if existing is None else 'Changed'} {kind} {key} in {ws.name}.")
