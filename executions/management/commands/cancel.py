from django.core.management.base import CommandError

from executions.management.commands._common import RunCommand
from executions.services import task_cancel
from iacplatform.errors import DomainError
from workspaces.models import Role


class Command(RunCommand):
    help = "Cancel a run: at once when it has not started, by stopping terraform when it runs."

    def add_arguments(self, parser):
        parser.add_argument("task_id", type=int)

    def handle(self, *args, task_id, **options):
        try:
            task = task_cancel(task=self.task(task_id, Role.APPLIER), user=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        state = "cancelled" if task.status == task.Status.CANCELLED else "cancel requested; terraform is stopping"
        self.stdout.write(f"Run #{task_id}: {state}.")
