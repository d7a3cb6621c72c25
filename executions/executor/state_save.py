"""Saving the state terraform wrote — it is never lost.

The state goes to a 0600 backup file *first*, before any database call, so a database
outage cannot lose it. Then up to IAC_STATE_SAVE_ATTEMPTS database attempts with growing
waits, each on a fresh connection; once one succeeds the backup is removed. When they all
fail the workspace is locked with the backup path in the reason and an emergency is
raised; when even that is impossible (the database is down), a pending-recovery marker
beside the backup tells the sweep to do it (and store the state) once the database is
back. ``state_restore_from_backup`` brings a backup back as the next version and unlocks.

A backup is named by workspace id and task id and carries its workspace in a sidecar
(``<backup>.json``): a backup is only ever restored into its own workspace.
"""

import hashlib
import json
import logging
import os
import time
from pathlib import Path

from django.conf import settings
from iacplatform.db import reconnect_after_failure
from django.utils import timezone

from executions.models import Notification
from executions.notifications import notify_emergency
from iacplatform.errors import Conflict, DomainError, NotFound
from workspaces import services as workspace_services
from workspaces.models import Workspace
from workspaces.state import services as state_services
from workspaces.state.document import InvalidState

logger = logging.getLogger("executions.state")
PENDING_SUFFIX = ".pending.json"


class StateSaveFailed(Exception):
    def __init__(self, message: str, backup_path: Path):
        super().__init__(message)
        self.backup_path = backup_path


def backup_dir() -> Path:
    path = Path(settings.IAC_STATE_BACKUP_DIR)
    path.mkdir(parents=True, exist_ok=True, mode=0o700)
    return path


def _write_private(path: Path, content: str) -> None:
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(content)
        handle.flush()
        os.fsync(handle.fileno())
    path.chmod(0o600)


def write_backup(workspace: Workspace, task, content: str, *, reason: str = "") -> Path:
    """A 0600 copy of a state, with a sidecar naming its workspace and run. No database call."""
    task_part = f"task{task.pk}" if task is not None else "manual"
    path = backup_dir() / f"ws{workspace.pk}_{task_part}_{time.time_ns()}.tfstate"
    _write_private(path, content)
    sidecar = {"workspace_id": workspace.pk, "workspace": workspace.name, "task_id": getattr(task, "pk", None),
               "created": timezone.now().isoformat(), "sha256": hashlib.sha256(content.encode()).hexdigest(),
               "reason": reason}
    _write_private(sidecar_path(path), json.dumps(sidecar, indent=2))
    return path


def sidecar_path(path: Path) -> Path:
    return path.with_name(path.name + ".json")


def backup_info(path: Path) -> dict:
    try:
        return json.loads(sidecar_path(path).read_text())
    except (OSError, ValueError):
        return {}


def discard_backup(path: Path) -> None:
    for p in (path, sidecar_path(path), pending_path(path)):
        p.unlink(missing_ok=True)


def pending_path(path: Path) -> Path:
    return path.with_name(path.name + PENDING_SUFFIX)


def save_state(*, task, content: str, log=None, source: str = "apply"):
    """Store ``content`` as the workspace's next state version, or keep it in a backup and lock."""
    workspace = task.workspace
    backup = write_backup(workspace, task, content, reason="saving the state of an apply")
    attempts = settings.IAC_STATE_SAVE_ATTEMPTS
    last_error = ""
    for attempt in range(1, attempts + 1):
        try:
            if attempt > 1:
                reconnect_after_failure()  # a broken connection is not reused
            version = state_services.state_version_create(
                workspace=workspace, content=content, task=task, user=task.created_by, source=source,
                sequential=True,
            )
            discard_backup(backup)
            if log is not None:
                log.info(f"[platform] state saved as serial {version.serial} ({version.resource_count} resource instances)")
            return version
        except (Conflict, InvalidState) as exc:
            # Not a passing fault: retrying cannot make an invalid or conflicting state valid.
            last_error = exc.message
            if log is not None:
                log.info(f"[platform] state rejected: {exc.message}")
            break
        except Exception as exc:  # noqa: BLE001 — any database fault: retry, then keep the backup
            last_error = f"{type(exc).__name__}: {exc}"
            logger.warning("state save attempt %s/%s for task %s failed: %s", attempt, attempts, task.pk, last_error)
            if log is not None:
                log.info(f"[platform] state save attempt {attempt}/{attempts} failed: {last_error}")
                log.flush()  # on the page during the back-off
            if attempt < attempts:
                time.sleep(settings.IAC_STATE_SAVE_BACKOFF * attempt)
    reason = (
        f"State of task #{task.pk} could not be saved ({last_error}). "
        f"It is kept in the backup file {backup}. Restore it with "
        f"`manage.py retry_state_save {workspace.name}` before running anything else."
    )
    lock_and_alert(workspace, task, reason, backup=backup, title=f"State of workspace {workspace.name} not saved")
    if log is not None:
        log.info(f"[platform] {reason}")
    raise StateSaveFailed(reason, backup)


def lock_and_alert(workspace: Workspace, task, reason: str, *, backup: Path | None, title: str,
                   event: str = Notification.Event.STATE_SAVE_FAILED) -> bool:
    """Lock the workspace and raise an emergency; when the database refuses, leave a marker for the sweep."""
    try:
        reconnect_after_failure()
        workspace_services.workspace_lock(workspace=workspace, reason=reason)
        notify_emergency(title, reason, workspace=workspace, task=task, event=event)
        return True
    except Exception as exc:  # noqa: BLE001 — the database is gone: the sweep finishes the job
        logger.critical("could not lock workspace %s / raise the emergency (%s): pending recovery recorded",
                        workspace.pk, exc)
        if backup is not None:
            marker = {"workspace_id": workspace.pk, "task_id": getattr(task, "pk", None), "reason": reason,
                      "title": title, "backup": str(backup), "event": event}
            _write_private(pending_path(backup), json.dumps(marker))
        return False


def leave_for_recovery(workspace: Workspace, task, content: str, *, reason: str, title: str) -> Path:
    """A state this worker may not store itself (it lost the run): a backup and a pending-recovery
    marker, which the sweep on this host turns into a *recovered* version (serial and lineage
    checked) and an updated lock reason."""
    backup = write_backup(workspace, task, content, reason=reason)
    marker = {"workspace_id": workspace.pk, "task_id": getattr(task, "pk", None), "reason": reason,
              "title": title, "backup": str(backup)}
    _write_private(pending_path(backup), json.dumps(marker))
    return backup


def backups_for(workspace: Workspace) -> list[Path]:
    """This workspace's backups (by id, checked against the sidecar), oldest first."""
    found = [p for p in backup_dir().glob(f"ws{workspace.pk}_*.tfstate")
             if backup_info(p).get("workspace_id") == workspace.pk]
    return sorted(found, key=lambda p: p.stat().st_mtime)


def state_restore_from_backup(*, workspace: Workspace, backup_path: str | None = None, user=None, force: bool = False):
    """Store a backup file as the next state version and unlock the workspace."""
    if backup_path:
        path = Path(backup_path)
        if not path.is_absolute():
            path = backup_dir() / path
        if path.resolve().parent != backup_dir().resolve() or not path.is_file():
            raise NotFound(f"No backup file {backup_path} in {backup_dir()}.")
        owner = backup_info(path).get("workspace_id")
        if owner != workspace.pk:
            raise Conflict(f"Backup {path.name} belongs to another workspace (id {owner}), not to "
                           f"{workspace.name}: it is never restored here.")
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
    stamp = f".restored-{timezone.now():%Y%m%d%H%M%S}"
    for p in (path, sidecar_path(path)):
        if p.exists():
            p.rename(p.with_name(p.name + stamp))
    pending_path(path).unlink(missing_ok=True)
    workspace_services.workspace_unlock(workspace=workspace, user=user)
    logger.info("restored %s as serial %s of %s (sha256 %s)", path.name, version.serial, workspace.name,
                hashlib.sha256(content.encode()).hexdigest())
    return version
