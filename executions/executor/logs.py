"""Streaming terraform output into TaskLog rows: batched, ordered, redacted."""

import re
import time

from django.db.models import Max

from executions.models import TaskLog
from workspaces.secrets import REDACTED, ordered, redact

ANSI = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")


class LogWriter:
    """Collects lines and stores them as numbered chunks (every ~0.5 s or 200 lines).

    Only the thread that owns it writes to the database; readers hand lines over with
    ``add`` and the owner calls ``maybe_flush``/``flush``.
    """

    FLUSH_SECONDS = 0.5
    FLUSH_LINES = 200

    def __init__(self, task, secrets: list[str] | None = None):
        self.task = task
        self.secrets = ordered(secrets or [])
        self.stage = task.stage
        self.pending: list[str] = []
        self.last_flush = time.monotonic()
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
        self.seq += 1
        TaskLog.objects.create(task=self.task, seq=self.seq, stage=self.stage, text="\n".join(lines))

    def complete(self, summary: str) -> None:
        """The final marker: the log is complete."""
        self.flush()
        self.seq += 1
        TaskLog.objects.create(task=self.task, seq=self.seq, stage="complete", text=self.redact(summary))


def log_text(task) -> str:
    return "\n".join(TaskLog.objects.filter(task=task).order_by("seq").values_list("text", flat=True))
