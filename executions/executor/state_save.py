"""Saving the state terraform wrote — it is never lost.

Up to IAC_STATE_SAVE_ATTEMPTS database attempts with growing waits; when they all fail,
the state goes to a 0600 backup file, the workspace is locked with the backup path in
the reason, and an emergency notification is raised. ``state_restore_from_backup``
brings such a file back as the next version and unlocks.
"""

import hashlib
import logging
import os
import time
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from executions.notifications import notify_emergency
from iacplatform.errors import Conflict, DomainError, NotFound
from workspaces import services as workspace_services
from workspaces.models import Workspace
from workspaces.state import services as state_services
from workspaces.state.document import InvalidState

logger = logging.getLogger("executions.state")


class StateSaveFailed(Exception):
    def __init__(self, message: str, backup_path: Path):
        super().__init__(message)
        self.backup_path = backup_path


def backup_dir() -> Path:
    path = Path(settings.IAC_STATE_BACKUP_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def write_backup(workspace: Workspace, task, content: str) -> Path:
    task_part = f"task_{task.pk}" if task is not None else "manual"
    path = backup_dir() / f"ws_{workspace.name}_{task_part}_{int(time.time())}.tfstate"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
    path.chmod(0o600)
    return path


def save_state(*, task, content: str, log=None, source: str = "apply"):
    """Store ``content`` as the workspace's next state version, or back it up and lock."""
    workspace = task.workspace
    attempts = settings.IAC_STATE_SAVE_ATTEMPTS
    last_error = ""
    for attempt in range(1, attempts + 1):
        try:
            version = state_services.state_version_create(
                workspace=workspace, content=content, task=task, user=task.created_by, source=source,
                sequential=True,
            )
            if log is not None:
                log.info(f"[platform] state saved as serial {version.serial} ({version.resource_count} resource instances)")
            return version
        except (Conflict, InvalidState) as exc:
            # Not a passing fault: retrying cannot make an invalid or conflicting state valid.
            last_error = exc.message
            if log is not None:
                log.info(f"[platform] state rejected: {exc.message}")
            break
        except Exception as exc:  # noqa: BLE001 — any database fault: retry, then back up
            last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("state save attempt %s/%s for task %s failed: %s", attempt, attempts, task.pk, last_error)
            if log is not None:
                log.info(f"[platform] state save attempt {attempt}/{attempts} failed: {last_error}")
            if attempt < attempts:
                time.sleep(settings.IAC_STATE_SAVE_BACKOFF * attempt)
    path = write_backup(workspace, task, content)
    reason = (
        f"State of task #{task.pk} could not be saved ({last_error}). "
        f"It is kept in the backup file {path}. Restore it with "
        f"`manage.py retry_state_save {workspace.name}` before running anything else."
    )
    workspace_services.workspace_lock(workspace=workspace, reason=reason)
    notify_emergency(f"State of workspace {workspace.name} not saved", reason, workspace=workspace, task=task)
    if log is not None:
        log.info(f"[platform] {reason}")
    raise StateSaveFailed(reason, path)


def backups_for(workspace: Workspace) -> list[Path]:
    return sorted(backup_dir().glob(f"ws_{workspace.name}_*.tfstate"), key=lambda p: p.stat().st_mtime)


def state_restore_from_backup(*, workspace: Workspace, backup_path: str | None = None, user=None, force: bool = False):
    """Store a backup file as the next state version and unlock the workspace."""
    if backup_path:
        path = Path(backup_path)
        if path.resolve().parent != backup_dir().resolve() or not path.is_file():
            raise NotFound(f"No backup file {backup_path} in {backup_dir()}.")
    else:
        candidates = backups_for(workspace)
        if not candidates:
            raise NotFound(f"Workspace {workspace.name} has no state backup to restore.")
        path = candidates[-1]
    content = path.read_text()
    try:
        version = state_services.state_version_create(
            workspace=workspace, content=content, user=user, source="backup_restore", force=force,
            sequential=True,
        )
    except DomainError as exc:
        raise Conflict(f"Backup {path.name} was not restored: {exc.message}") from None
    restored = path.with_name(path.name + f".restored-{timezone.now():%Y%m%d%H%M%S}")
    path.rename(restored)
    workspace_services.workspace_unlock(workspace=workspace, user=user)
    logger.info("restored %s as serial %s of %s (sha256 %s)", path.name, version.serial, workspace.name,
                hashlib.sha256(content.encode()).hexdigest())
    return version
