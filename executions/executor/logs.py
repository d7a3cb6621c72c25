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
    ``FLUSH_SECONDS`` of the last flush is stored with the next one (at most ~10 flushes a
    second, or one per ``FLUSH_LINES`` lines), so a plan printing thousands of lines stays a few
    rows. The platform's own lines (``info``) follow the same rule: a run's quick steps
    (a stage change, a skipped init, a check with nothing configured) do not each cost a write.
    A line keeps the stage it was written in: one flush stores a chunk per stage, in one INSERT.

    Only the thread that owns it writes to the database; readers hand lines over with
    ``add`` and the owner calls ``maybe_flush``/``flush``. The owner flushes before anything
    slow that is not terraform's output (a hook, a wait between attempts): ``TaskRun.record_stage``.
    """

    FLUSH_SECONDS = 0.1
    FLUSH_LINES = 200

    def __init__(self, task, secrets: list[str] | None = None):
        self.task = task
        self.secrets = ordered(secrets or [])
        self.stage = task.stage
        self.pending: list[tuple[str, str]] = []  # (stage, redacted line)
        self.last_flush = time.monotonic()
        self.failures = 0
        self.owner_lost = lambda: False
        self.seq = TaskLog.objects.filter(task=task).aggregate(m=Max("seq"))["m"] or 0

    def redact(self, text: str) -> str:
        return redact(ANSI.sub("", text), self.secrets, REDACTED)

    def add(self, line: str) -> None:
        self.pending.append((self.stage, self.redact(line.rstrip("\n"))))

    def info(self, line: str) -> None:
        """A line of our own (not terraform's): stored at once after a quiet spell, else with the
        next flush (within ``FLUSH_SECONDS`` while the run goes on)."""
        self.add(line)
        self.maybe_flush()

    def set_stage(self, stage: str) -> None:
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
        if self.pending:
            self._store([])

    def complete(self, summary: str) -> None:
        """The final marker (the log is complete), stored with whatever is pending."""
        self.last_flush = time.monotonic()
        self._store([("complete", self.redact(summary))])

    def _store(self, markers: list[tuple[str, str]]) -> None:
        """The pending lines as a chunk per stage (then ``markers``, each a chunk of its own), in
        one INSERT. A database fault keeps the lines for the next flush instead of escaping into
        the code that watches terraform (which must go on, and stop it gracefully)."""
        lines, self.pending = self.pending, []
        if self.owner_lost():
            # Another worker (or recovery) may own the run now: its log is not ours to write.
            self.pending[:0] = lines
            return
        chunks: list[tuple[str, list[str]]] = []
        for stage, line in lines:
            if chunks and chunks[-1][0] == stage:
                chunks[-1][1].append(line)
            else:
                chunks.append((stage, [line]))
        chunks += [(stage, [text]) for stage, text in markers]
        rows = [TaskLog(task=self.task, seq=self.seq + number, stage=stage, text="\n".join(text))
                for number, (stage, text) in enumerate(chunks, start=1)]
        try:
            TaskLog.objects.bulk_create(rows)
        except Exception as exc:  # noqa: BLE001 — e.g. the database is down; retried on a fresh connection
            self.failures += 1
            self.pending[:0] = lines
            logger.warning("log chunk of task %s not stored (%s); kept for the next flush", self.task.pk, exc)
            reconnect_after_failure()
            return
        self.seq += len(rows)


def log_text(task) -> str:
    return "\n".join(TaskLog.objects.filter(task=task).order_by("seq").values_list("text", flat=True))
