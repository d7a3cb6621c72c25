from django.core.management.base import BaseCommand, CommandError

from executions.management.commands._common import get_task
from executions.services import task_cancel
from iacplatform.errors import DomainError


class Command(BaseCommand):
    help = "Cancel a run: at once when it has not started, by stopping terraform when it runs."

    def add_arguments(self, parser):
        parser.add_argument("task_id", type=int)

    def handle(self, *args, task_id, **options):
        try:
            task = task_cancel(task=get_task(task_id))
        except DomainError as exc:
            raise CommandError(exc.message) from None
        state = "cancelled" if task.status == task.Status.CANCELLED else "cancel requested; terraform is stopping"
        self.stdout.write(f"Run #{task_id}: {state}.")
