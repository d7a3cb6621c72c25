"""Recovery of runs whose worker was lost, and of what a database outage left undone.

A lost apply (its heartbeat stopped: the worker was killed, its host died or it hung) is
never silent: its workspace is locked, an emergency is raised, and what terraform wrote is
stored as a state version marked *recovered from run #N* — the work dir's final state file
when the run was on this host (terraform got SIGINT from its dying worker and stopped
between resources), else the newest checkpoint taken during the apply. A recovered state
that cannot follow the stored one goes to a backup for an operator to choose. Nothing of
that workspace runs until an operator unlocks it.
"""

import json
import logging
import shutil
import signal
import time
from pathlib import Path

from django.conf import settings
from iacplatform.db import reconnect_after_failure
from django.utils import timezone

from executions.executor import runner
from executions.executor.stages import stage_fields
from executions.executor.state_save import (
    PENDING_SUFFIX, backup_dir, discard_backup, lock_and_alert, write_backup,
)
from executions.models import Notification, StateCheckpoint, WorkspaceTask
from executions.notifications import notify_emergency
from iacplatform.errors import DomainError
from workspaces.crypto import decrypt_bytes
from workspaces.models import Workspace
from workspaces.services import workspace_lock
from workspaces.state import services as state_services
from workspaces.state.document import parse_state

logger = logging.getLogger("executions.recovery")
Status = WorkspaceTask.Status
Stage = WorkspaceTask.Stage
APPLY_STAGES = {Stage.APPLYING, Stage.SAVING_STATE}


def _running(pgid: int) -> bool:
    """Is anything of the lost run's process group still running? Not filtered by work dir: a
    process that is exiting may no longer show its cwd, and stopping early would read a state
    file terraform is still writing."""
    return bool(runner.group_processes(pgid))


def _stop_leftovers(task: WorkspaceTask) -> None:
    """Terraform got SIGINT when its worker died; give it the grace to write its state, then end it."""
    if not task.pgid:
        return
    deadline = time.monotonic() + 2 * settings.IAC_CANCEL_GRACE_SECONDS
    signals = [signal.SIGINT, signal.SIGKILL]
    while _running(task.pgid):
        if time.monotonic() > deadline:
            if not signals:
                break
            runner._signal_group(task.pgid, signals.pop(0))
            deadline = time.monotonic() + settings.IAC_CANCEL_GRACE_SECONDS
        time.sleep(0.1)


def _candidate(text: str | None, source: str) -> tuple[tuple, str, str] | None:
    """A state worth recovering: parseable, ranked by (serial, resources)."""
    if not text or not text.strip():
        return None
    try:
        data = parse_state(text)
    except DomainError:
        return None
    return (data["serial"], len(data.get("resources") or [])), text, source


def _local_candidates(task: WorkspaceTask) -> tuple[list, Path | None]:
    """The lost run's own state files, when its work dir is on this host (terraform stopped first)."""
    if not task.work_dir or task.worker_host != settings.IAC_WORKER_HOST:
        logger.warning("lost run %s: its work dir (%r on %s) is not on this host", task.pk, task.work_dir,
                       task.worker_host)
        return [], None
    workdir = Path(task.work_dir)
    if not workdir.is_dir():
        logger.warning("lost run %s: its work dir %s is gone", task.pk, workdir)
        return [], None
    _stop_leftovers(task)
    found = []
    # terraform.tfstate as terraform left it; errored.tfstate is what terraform writes when it
    # could not persist its state at the end.
    for name, source in (("terraform.tfstate", "its work dir's final state file"),
                         ("errored.tfstate", "the errored.tfstate terraform left in its work dir")):
        path = workdir / name
        candidate = _candidate(path.read_text() if path.exists() else None, source)
        if candidate:
            found.append(candidate)
        elif path.exists():
            logger.warning("lost run %s: %s is empty or unreadable (%s bytes)", task.pk, name, path.stat().st_size)
    return found, workdir


def _newest_checkpoint(task: WorkspaceTask) -> str | None:
    checkpoint = StateCheckpoint.objects.filter(task=task).order_by("-created_at", "-id").first()
    return decrypt_bytes(bytes(checkpoint.content)).decode() if checkpoint else None


def recover_lost_apply(task: WorkspaceTask) -> str:
    """Lock, alert and store what the lost apply wrote. Returns what was recovered (for the lock reason)."""
    workspace = task.workspace
    candidates, workdir = _local_candidates(task)
    checkpoint = _candidate(_newest_checkpoint(task), "its newest checkpoint")
    if checkpoint:
        candidates.append(checkpoint)
    # The most advanced state wins (on a tie, the work dir's own file, listed first).
    best = max(candidates, key=lambda c: c[0], default=None)
    content, source = (best[1], best[2]) if best else (None, "")
    start_serial = (task.context or {}).get("state_serial")
    if content is None:
        what = ("nothing: terraform left no readable state the platform could reach (no work dir on this host "
                "with a state file, no checkpoint)")
    else:
        try:
            version = state_services.state_version_create(
                workspace=workspace, content=content, task=task, source="recovered", sequential=True,
            )
            what = (f"{source}, stored as state serial {version.serial} ({version.resource_count} resources) "
                    f"marked recovered from run #{task.pk}")
        except DomainError as exc:
            backup = write_backup(workspace, task, content, reason=f"recovered from lost run #{task.pk}")
            what = (f"{source}, NOT stored ({exc.message}); it is kept in the backup {backup}: compare it with "
                    f"the latest state and restore it with `manage.py retry_state_save {workspace.name} "
                    f"--backup {backup.name}` if it is the right one")
    reason = (f"Run #{task.pk} (apply) was lost: its worker {task.worker_host or '?'} pid {task.worker_pid or '?'} "
              f"stopped during the apply. Recovered: {what}. Check the real infrastructure against the latest "
              f"state (a plan shows the difference) before unlocking"
              + (f"; the state before the apply was serial {start_serial}." if start_serial else "."))
    lock_and_alert(workspace, task, reason, backup=None, title=f"Run #{task.pk} on {workspace.name} lost during apply",
                   event=Notification.Event.RUN_RECOVERED)
    if workdir is not None:
        shutil.rmtree(workdir, ignore_errors=True)
    logger.critical("recovered lost apply %s: %s", task.pk, what)
    return reason


def fail_lost_run(task: WorkspaceTask, reason: str) -> bool:
    updated = WorkspaceTask.objects.filter(pk=task.pk, status=Status.RUNNING, claim_token=task.claim_token).update(
        **stage_fields(task, Stage.DONE), status=Status.FAILED, finished_at=timezone.now(), error_message=reason,
        error_category="worker_lost", claim_token="",
    )
    return bool(updated)


def process_pending_markers() -> list[str]:
    """What a database outage left undone: lock, alert, store the backed-up state, fail the run."""
    done = []
    for marker_path in sorted(backup_dir().glob(f"*{PENDING_SUFFIX}")):
        try:
            marker = json.loads(marker_path.read_text())
            backup = Path(marker["backup"])
            reconnect_after_failure()
            workspace = Workspace.objects.filter(pk=marker["workspace_id"]).first()
            if workspace is None:
                marker_path.unlink(missing_ok=True)
                continue
            task = WorkspaceTask.objects.filter(pk=marker.get("task_id")).first()
            stored = ""
            if backup.exists():
                try:
                    version = state_services.state_version_create(
                        workspace=workspace, content=backup.read_text(), task=task, source="recovered",
                        sequential=True,
                    )
                    stored = f" The backed-up state was stored as serial {version.serial} once the database was back."
                    discard_backup(backup)
                except DomainError as exc:
                    stored = f" The backed-up state was not stored ({exc.message}); it stays in {backup}."
            reason = marker["reason"] + stored
            workspace_lock(workspace=workspace, reason=reason)
            notify_emergency(marker["title"], reason, workspace=workspace, task=task,
                             event=marker.get("event", Notification.Event.STATE_SAVE_FAILED))
            if task is not None and task.status == Status.RUNNING:
                WorkspaceTask.objects.filter(pk=task.pk, status=Status.RUNNING).update(
                    **stage_fields(task, Stage.DONE), status=Status.FAILED, finished_at=timezone.now(),
                    error_message=reason, error_category="state_save", claim_token="")
            marker_path.unlink(missing_ok=True)
            done.append(marker_path.name)
        except Exception as exc:  # noqa: BLE001 — the database may still be down: next sweep
            logger.warning("pending recovery %s not processed yet: %s", marker_path.name, exc)
    return done
