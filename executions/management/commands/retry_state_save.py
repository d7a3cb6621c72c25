from django.core.management.base import CommandError

from executions.executor.state_save import backups_for, state_restore_from_backup
from executions.management.commands._common import RunCommand
from executions.services import dispatch_workspace
from iacplatform.errors import DomainError
from workspaces.audit import audit_record
from workspaces.models import Role


class Command(RunCommand):
    help = "Store a state backup (written when saving failed) as the next state version and unlock."

    def add_arguments(self, parser):
        parser.add_argument("workspace")
        parser.add_argument("--backup", help="backup file (default: the newest for this workspace)")
        parser.add_argument("--force", action="store_true", help="accept a serial/lineage conflict")
        parser.add_argument("--list", action="store_true", help="only list the backups")

    def handle(self, *args, workspace, backup, force, list, **options):
        ws = self.workspace(workspace, Role.ADMIN)
        if list:
            for path in backups_for(ws):
                self.stdout.write(str(path))
            return
        try:
            version = state_restore_from_backup(workspace=ws, backup_path=backup, force=force, user=self.user)
        except DomainError as exc:
            raise CommandError(exc.message) from None
        audit_record("state.restore", user=self.user, workspace=ws, target=f"state serial {version.serial}",
                     details={"serial": version.serial, "backup": backup or "newest", "forced": force})
        dispatch_workspace(ws.pk)
        self.stdout.write(f"Restored as state serial {version.serial}; workspace {ws.name} unlocked.")
