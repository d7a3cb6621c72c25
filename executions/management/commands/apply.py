from django.core.management.base import BaseCommand, CommandError

from executions.management.commands._common import get_task
from executions.services import task_confirm
from iacplatform.errors import DomainError


class Command(BaseCommand):
    help = "Confirm a plan waiting for confirmation: its apply task is queued."

    def add_arguments(self, parser):
        parser.add_argument("task_id", type=int)
        parser.add_argument("--comment", default="")

    def handle(self, *args, task_id, comment, **options):
        try:
            apply = task_confirm(task=get_task(task_id), comment=comment)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Confirmed run #{task_id}; apply queued as run #{apply.pk}.")
