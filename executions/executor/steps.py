"""The pieces every pipeline step uses: the step failure, retry waits, timeouts, budgets, the
plugin-cache lock."""

import fcntl
import random
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings

from executions import errors


PLAN_SAVE_ATTEMPTS = 3


RETRY_JITTER = 0.25  # each wait is base × 2^(n-1) × (1 + up to 25 %): jittered, yet always growing


RETRY_MAX_WAIT = 300


def run_budget_margin() -> float:
    """What the run must keep of django-q's own timeout: a graceful stop of terraform (two
    grace periods), every state-save attempt with its back-off, and time to record the end."""
    attempts = int(settings.IAC_STATE_SAVE_ATTEMPTS)
    backoff = float(settings.IAC_STATE_SAVE_BACKOFF) * sum(range(1, attempts))
    return 2 * float(settings.IAC_CANCEL_GRACE_SECONDS) + backoff + 30


class StepFailed(Exception):
    def __init__(self, message: str, *, category: str = "", hint: str = "", exit_code: int | None = None,
                 cancelled=False, timed_out=False):
        super().__init__(message)
        self.message, self.category, self.hint, self.exit_code = message, category, hint, exit_code
        self.cancelled, self.timed_out = cancelled, timed_out

    @property
    def retryable(self) -> bool:
        info = errors.CATEGORIES.get(self.category)
        return bool(info and info.retryable)


def retry_wait(attempt: int) -> float:
    """Seconds to wait after failed attempt ``attempt`` (1-based)."""
    base = float(settings.IAC_RETRY_BASE_SECONDS) * 2 ** (attempt - 1)
    return min(base * (1 + random.uniform(0, RETRY_JITTER)), RETRY_MAX_WAIT)


def stage_timeout(workspace, stage: str) -> int:
    """A stage's timeout: the workspace's override, else IAC_TIMEOUT_<STAGE>."""
    override = (workspace.timeouts or {}).get(stage) if isinstance(workspace.timeouts, dict) else None
    if isinstance(override, int) and not isinstance(override, bool) and override > 0:
        return override
    return int(getattr(settings, f"IAC_TIMEOUT_{stage.upper()}", settings.IAC_TASK_TIMEOUT))


@contextmanager
def plugin_cache_lock():
    """Terraform's plugin cache is not safe for concurrent init: one init at a time per host."""
    cache = Path(settings.IAC_PLUGIN_CACHE_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".init.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)
