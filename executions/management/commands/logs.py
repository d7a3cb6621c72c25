import time


from executions.management.commands._common import RunCommand
from executions.services import task_logs_after
from workspaces.models import Role


class Command(RunCommand):
    help = "Print a run's log; --follow keeps printing until the run has finished its work."

    def add_arguments(self, parser):
        parser.add_argument("task_id", type=int)
        parser.add_argument("--follow", "-f", action="store_true")
        parser.add_argument("--interval", type=float, default=1.0)

    def handle(self, *args, task_id, follow, interval, **options):
        task = self.task(task_id, Role.READER)
        after = 0
        while True:
            for chunk in task_logs_after(task=task, after=after):
                self.stdout.write(chunk.text)
                after = chunk.seq
                if chunk.stage == "complete":
                    return
            task.refresh_from_db()
            if not follow or task.is_terminal:
                return
            time.sleep(interval)
