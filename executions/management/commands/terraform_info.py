from django.core.management.base import BaseCommand, CommandError

from executions.executor.terraform import TerraformNotFound, terraform_info


class Command(BaseCommand):
    help = "Print which terraform binary the platform runs and its version."

    def handle(self, *args, **options):
        try:
            info = terraform_info()
        except TerraformNotFound as exc:
            raise CommandError(str(exc)) from exc
        self.stdout.write(f"terraform: {info.path}\nversion: {info.version}")
