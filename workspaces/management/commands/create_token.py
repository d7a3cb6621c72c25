from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError

from iacplatform.errors import DomainError
from workspaces.tokens import api_token_create


class Command(BaseCommand):
    help = "Create an API token for a user and print it (once: only its hash is stored)."

    def add_arguments(self, parser):
        parser.add_argument("username")
        parser.add_argument("--name", required=True, help="what the token is for")
        parser.add_argument("--expires", type=int, default=None, metavar="DAYS", help="days until it expires")

    def handle(self, *args, username, name, expires, **options):
        user = get_user_model().objects.filter(username=username, is_active=True).first()
        if user is None:
            raise CommandError(f"No active user named {username!r}.")
        try:
            token, raw = api_token_create(user=user, name=name, expires_in_days=expires)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(raw)
        until = f"until {token.expires_at:%Y-%m-%d %H:%M} UTC" if token.expires_at else "without expiry"
        self.stderr.write(f"Token “{token.name}” for {username} ({token.prefix}…), valid {until}. "
                          "It is shown only this once.")
