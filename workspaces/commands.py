"""What every management command that touches a workspace shares: who it acts as, and the role check.

Without ``--user`` a command acts as the host operator (``access.HOST``: whoever can run
``manage.py`` can read the database and the secret key anyway). With ``--user NAME`` it
acts as that account, through the same selector and with the same roles as the pages
and the API, and records that user on what it changes.
"""

from django.contrib.auth import get_user_model
from django.core.exceptions import PermissionDenied
from django.core.management.base import BaseCommand, CommandError
from django.http import Http404

from workspaces.access import HOST, workspace_for
from workspaces.models import Role


class WorkspaceCommand(BaseCommand):
    """A command acting on workspaces: adds ``--user`` and the role-checked look-up."""

    def create_parser(self, prog_name, subcommand, **kwargs):
        parser = super().create_parser(prog_name, subcommand, **kwargs)
        parser.add_argument("--user", dest="act_as", default=None,
                            help="act as this user, with their roles (default: the host operator)")
        return parser

    def execute(self, *args, **options):
        username = options.get("act_as")
        self.user = None
        self.actor = HOST
        if username:
            user = get_user_model().objects.filter(username=username, is_active=True).first()
            if user is None:
                raise CommandError(f"No active user named {username!r}.")
            self.user = self.actor = user
        return super().execute(*args, **options)

    def workspace(self, name: str, need: int = Role.READER):
        """The workspace, if the acting user holds ``need`` in it; otherwise a CommandError."""
        try:
            return workspace_for(self.actor, name, need)
        except Http404:
            raise CommandError(f"No workspace named {name!r}.") from None
        except PermissionDenied as exc:
            raise CommandError(str(exc)) from None
