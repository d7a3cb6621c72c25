from django.core.management.base import CommandError

from executions.management.commands._common import RunCommand
from executions.services import task_confirm
from iacplatform.errors import DomainError
from workspaces.models import Role


class Command(RunCommand):
    help = "Confirm a plan waiting for confirmation: its apply task is queued."

    def add_arguments(self, parser):
        parser.add_argument("task_id", type=int)
        parser.add_argument("--comment", default="")

    def handle(self, *args, task_id, comment, **options):
        try:
            apply = task_confirm(task=self.task(task_id, Role.APPLIER), comment=comment, user=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Confirmed run #{task_id}; apply queued as run #{apply.pk}.")
