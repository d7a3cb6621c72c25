"""A running task's claim: the heartbeat that keeps it, and the checkpoints of its state.

The heartbeat is a thread for the whole run (not terraform's output loop), so a run waiting
on the plugin-cache lock or in ``show -json`` keeps its claim. Every beat is conditional on
the claim token: when the row says another claim (or no longer running), the run has lost
its task, ``lost`` turns true, and the pipeline stops terraform and keeps its state out of
the database. A failed beat (database down) is retried on a fresh connection at the next.
"""

import hashlib
import logging
import threading
import time

from django.conf import settings
from django.db import connection
from django.utils import timezone

from executions.models import StateCheckpoint, WorkspaceTask
from iacplatform.db import reconnect_after_failure
from workspaces.crypto import encrypt_bytes

logger = logging.getLogger("executions.ownership")
Status = WorkspaceTask.Status


def owned(task) -> "object":
    """The queryset of ``task``'s row as long as this claim owns it (for conditional writes)."""
    return WorkspaceTask.objects.filter(pk=task.pk, status=Status.RUNNING, claim_token=task.claim_token)


class Heartbeat(threading.Thread):
    def __init__(self, task):
        super().__init__(name=f"heartbeat-{task.pk}", daemon=True)
        self.task = task
        self.lost = False
        self.last_ok = time.monotonic()
        self._stop_event = threading.Event()

    def beat(self) -> None:
        try:
            updated = owned(self.task).update(heartbeat_at=timezone.now())
        except Exception as exc:  # noqa: BLE001 — a database fault: try again on a fresh connection
            logger.warning("heartbeat of task %s failed: %s", self.task.pk, exc)
            reconnect_after_failure()
            return
        if not updated and not WorkspaceTask.objects.filter(pk=self.task.pk).exists():
            return  # not visible from here (a test's uncommitted row), or deleted with its workspace
        self.last_ok = time.monotonic()
        if not updated and not self.lost:
            self.lost = True
            logger.error("task %s: this worker no longer owns the run (claim %s); stopping", self.task.pk,
                         self.task.claim_token)

    def confirmed(self) -> bool:
        """Does this worker still own the run, as of a few seconds ago at most?

        A worker frozen (SIGSTOP, a VM pause, a long GC) past the reap time may have lost the run
        without its heartbeat thread having noticed yet: before writing, a beat older than two
        intervals is renewed synchronously. A beat that fails (the database is down) does not
        count as lost: the writes that follow fail too, and the state is in a backup first.
        """
        if not self.lost and time.monotonic() - self.last_ok > 2 * settings.IAC_HEARTBEAT_SECONDS:
            self.beat()  # when the database cannot answer, nobody can take the run over either
        return not self.lost

    def run(self) -> None:
        try:
            while not self._stop_event.wait(settings.IAC_HEARTBEAT_SECONDS):
                self.beat()
        finally:
            connection.close()

    def stop(self) -> None:
        self._stop_event.set()
        self.join(timeout=5)


class Checkpointer:
    """Stores the work dir's terraform.tfstate as a checkpoint when it changed (at most every few seconds)."""

    def __init__(self, task, state_file):
        self.task = task
        self.state_file = state_file
        self.last_check = 0.0
        self.last_signature = None
        self.last_checksum = None

    def maybe_checkpoint(self, *, force: bool = False) -> bool:
        now = time.monotonic()
        if not force and now - self.last_check < settings.IAC_CHECKPOINT_SECONDS:
            return False
        self.last_check = now
        try:
            stat = self.state_file.stat()
        except FileNotFoundError:
            return False
        signature = (stat.st_mtime_ns, stat.st_size)
        if signature == self.last_signature:
            return False
        data = self.state_file.read_bytes()
        checksum = hashlib.sha256(data).hexdigest()
        if checksum == self.last_checksum or not data.strip():
            self.last_signature = signature
            return False
        try:
            StateCheckpoint.objects.get_or_create(
                task_id=self.task.pk, checksum=checksum,
                defaults={"content": encrypt_bytes(data), "size": len(data)},
            )
        except Exception as exc:  # noqa: BLE001 — a checkpoint is best effort; the apply goes on
            logger.warning("checkpoint of task %s failed: %s", self.task.pk, exc)
            reconnect_after_failure()
            return False
        self.last_signature, self.last_checksum = signature, checksum
        return True
