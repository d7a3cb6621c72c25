import os
import secrets

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Create an admin account when no superuser exists, and say how to log in."

    def add_arguments(self, parser):
        parser.add_argument("--username", default=os.environ.get("IAC_ADMIN_USER", "admin"))
        parser.add_argument("--host", default=os.environ.get("HOST") or "127.0.0.1",
                            help="where the web server listens (default: $HOST, else 127.0.0.1)")
        parser.add_argument("--port", default=os.environ.get("PORT") or "8000",
                            help="its port (default: $PORT, else 8000); `make run` passes its PORT")

    def handle(self, *args, username, host, port, **options):
        User = get_user_model()
        url = f"http://{host}:{port}/"
        if User.objects.filter(is_superuser=True).exists():
            self.stdout.write(f"An admin account exists; log in with it at {url}")
            return
        password = os.environ.get("IAC_ADMIN_PASSWORD") or secrets.token_urlsafe(12)
        User.objects.create_superuser(username=username, email="", password=password)
        shown = "(from IAC_ADMIN_PASSWORD)" if os.environ.get("IAC_ADMIN_PASSWORD") else password
        self.stdout.write(
            self.style.SUCCESS(
                f"Created admin account.\n  URL:      {url}\n"
                f"  user:     {username}\n  password: {shown}\n"
                "This password is shown only once; change it in the admin."
            )
        )
