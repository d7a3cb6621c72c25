"""What the workspaces and resources apps need to know about runs, without importing executions.

Dependencies run one way (docs/architecture.md): ``workspaces`` ← ``resources`` ←
``executions``. Where a workspace page or service needs runs (the overview, the list's
last run, the runs of a code version, the guards of delete/rollback/upload, waking queued
runs on unlock, a targeted plan of resources), it asks the ``RunsPort`` registered here.
The executions app registers its implementation at start-up (``ExecutionsConfig.ready``);
this base class is what the workspaces app means by "no runs at all".
"""

from iacplatform.errors import Conflict


class RunsPort:
    """The questions the lower apps ask about runs. The base answers: there are none."""

    def running_run_id(self, workspace) -> int | None:
        """The run that is running now (its apply would save over a state change)."""
        return None

    def running_run_lock_info(self, workspace) -> dict | None:
        """The running run as a terraform lock info (``ID``, ``Operation``, ``Who``, ``Info``,
        ``Created``…), what the http state backend answers a CLI's LOCK with; None when none runs."""
        return None

    def active_run_id(self, workspace) -> int | None:
        """A run that is waiting or running (deleting the workspace would orphan it)."""
        return None

    def before_workspace_delete(self, workspace) -> None:
        """Remove what a database cascade cannot (runs protecting each other)."""

    def annotate_workspace_list(self, queryset):
        """The list's columns: ``last_run_status``, ``last_run_at``, ``last_run_id``, ``pending_confirmations``,
        ``drifted`` (the latest drift check found drift and nothing was applied since)."""
        return queryset

    def code_version_runs(self, version_ids: list[int]) -> tuple[dict[int, int], dict[int, list[dict]]]:
        """({version id: number of runs}, {version id: the last few runs as dicts}).

        A run dict: ``id``, ``status`` and ``task_type`` (keys, for CSS classes), ``status_label``
        and ``task_type_label`` (what a person reads)."""
        return {}, {}

    def overview(self, workspace) -> dict:
        """The overview page's run context: ``runs``, ``latest``, ``latest_active``, ``pending``, ``drift``
        (the latest drift check's result, or None)."""
        return {"runs": [], "latest": None, "latest_active": False, "pending": [], "drift": None}

    def drift_schedule_changed(self, workspace) -> None:
        """The workspace's drift schedule changed: (re)create or remove its scheduled drift checks."""

    def workspace_unlocked(self, workspace) -> None:
        """The workspace was unlocked: its queued runs may start."""

    def workspace_lock_changed(self, workspace, *, locked: bool, reason: str = "", user=None) -> None:
        """The workspace was locked or unlocked (operators hear about it)."""

    def queue_plan(self, *, workspace, kind: str, targets=(), message: str = "", user=None):
        """Queue a run through the normal queue (resources' targeted plans)."""
        raise Conflict("Runs are not available: the executions app is not installed.")


_port: RunsPort = RunsPort()


def register(port: RunsPort) -> None:
    global _port
    _port = port


def runs() -> RunsPort:
    return _port
