from django.core.management.base import CommandError

from executions.management.commands._common import RunCommand
from executions.services import task_queue_run
from iacplatform.errors import DomainError
from workspaces.models import Role


class Command(RunCommand):
    help = "Queue a run on a workspace: a plan, or a plan & apply (--apply)."

    def add_arguments(self, parser):
        parser.add_argument("workspace")
        parser.add_argument("--apply", action="store_true", help="plan & apply (waits for confirmation)")
        parser.add_argument("--target", action="append", default=[], help="resource address; repeatable")
        parser.add_argument("--message", default="")
        parser.add_argument("--upgrade-providers", action="store_true",
                            help="terraform init -upgrade: newest provider versions the code allows, new lock file")

    def handle(self, *args, workspace, apply, target, message, upgrade_providers=False, **options):
        try:
            task = task_queue_run(workspace=self.workspace(workspace, Role.PLANNER),
                                  kind="plan_and_apply" if apply else "plan", targets=target, message=message,
                                  upgrade_providers=upgrade_providers, user=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        self.stdout.write(f"Queued run #{task.pk} ({task.task_type}) on {workspace}. "
                          f"Follow it with: manage.py logs {task.pk} --follow")
