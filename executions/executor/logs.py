"""Streaming terraform output into TaskLog rows: batched, ordered, redacted."""

import logging
import re
import time

from iacplatform.db import reconnect_after_failure
from django.db.models import Max

from executions.models import TaskLog
from workspaces.secrets import REDACTED, ordered, redact

logger = logging.getLogger("executions.logs")
ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class LogWriter:
    """Collects lines and stores them as numbered chunks: flushed on output, batched under load.

    A line that arrives after a quiet spell is stored at once (the run page shows it within
    a fraction of a second); while output keeps coming, whatever arrived within
    ``FLUSH_SECONDS`` of the last chunk goes into one chunk (at most ~10 chunks a second, or
    one per ``FLUSH_LINES`` lines), so a plan printing thousands of lines stays a few rows.

    Only the thread that owns it writes to the database; readers hand lines over with
    ``add`` and the owner calls ``maybe_flush``/``flush``.
    """

    FLUSH_SECONDS = 0.1
    FLUSH_LINES = 200

    def __init__(self, task, secrets: list[str] | None = None):
        self.task = task
        self.secrets = ordered(secrets or [])
        self.stage = task.stage
        self.pending: list[str] = []
        self.last_flush = time.monotonic()
        self.failures = 0
        self.owner_lost = lambda: False
        self.seq = TaskLog.objects.filter(task=task).aggregate(m=Max("seq"))["m"] or 0

    def redact(self, text: str) -> str:
        return redact(ANSI.sub("", text), self.secrets, REDACTED)

    def add(self, line: str) -> None:
        self.pending.append(self.redact(line.rstrip("\n")))

    def info(self, line: str) -> None:
        """A line of our own (not terraform's), stored at once."""
        self.add(line)
        self.flush()

    def set_stage(self, stage: str) -> None:
        self.flush()
        self.stage = stage

    def flush_due_in(self, idle: float) -> float:
        """How long the owner may wait for more output before ``maybe_flush`` has work to do:
        ``idle`` when nothing is pending, else what is left of the batching window."""
        if not self.pending:
            return idle
        return max(0.0, min(idle, self.last_flush + self.FLUSH_SECONDS - time.monotonic()))

    def maybe_flush(self) -> None:
        if self.pending and (
            len(self.pending) >= self.FLUSH_LINES or time.monotonic() - self.last_flush >= self.FLUSH_SECONDS
        ):
            self.flush()

    def flush(self) -> None:
        self.last_flush = time.monotonic()
        if not self.pending:
            return
        lines, self.pending = self.pending, []
        self._store(self.stage, "\n".join(lines), lines)

    def complete(self, summary: str) -> None:
        """The final marker: the log is complete."""
        self.flush()
        self._store("complete", self.redact(summary), None)

    def _store(self, stage: str, text: str, lines: list[str] | None) -> None:
        """One chunk; a database fault keeps the lines for the next flush instead of escaping
        into the code that watches terraform (which must go on, and stop it gracefully)."""
        if self.owner_lost():
            # Another worker (or recovery) may own the run now: its log is not ours to write.
            if lines is not None:
                self.pending[:0] = lines
            return
        try:
            TaskLog.objects.create(task=self.task, seq=self.seq + 1, stage=stage, text=text)
        except Exception as exc:  # noqa: BLE001 — e.g. the database is down; retried on a fresh connection
            self.failures += 1
            if lines is not None:
                self.pending[:0] = lines
            logger.warning("log chunk of task %s not stored (%s); kept for the next flush", self.task.pk, exc)
            reconnect_after_failure()
            return
        self.seq += 1


def log_text(task) -> str:
    return "\n".join(TaskLog.objects.filter(task=task).order_by("seq").values_list("text", flat=True))
