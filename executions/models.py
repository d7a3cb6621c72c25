from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from executions.errors import category_info


class IllegalTransition(Exception):
    """A task was asked to move to a status it cannot reach from where it is."""


class WorkspaceTask(models.Model):
    class TaskType(models.TextChoices):
        PLAN = "plan", "Plan only"  # speculative: can never be applied
        PLAN_AND_APPLY = "plan_and_apply", "Plan & apply"
        APPLY = "apply", "Apply"
        # plan -refresh-only: reports what changed outside terraform; never applied, yields to other runs
        DRIFT_CHECK = "drift_check", "Drift check"

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        PLANNED = "planned", "Needs confirmation"
        PLANNED_NO_CHANGES = "planned_no_changes", "No changes"
        PLAN_FINISHED = "plan_finished", "Planned"
        CONFIRMED = "confirmed", "Confirmed"
        DISCARDED = "discarded", "Discarded"
        APPLIED = "applied", "Applied"
        FAILED = "failed", "Errored"
        CANCELLED = "cancelled", "Cancelled"

    TERMINAL = frozenset(
        {
            Status.PLANNED_NO_CHANGES,
            Status.PLAN_FINISHED,
            Status.CONFIRMED,
            Status.DISCARDED,
            Status.APPLIED,
            Status.FAILED,
            Status.CANCELLED,
        }
    )
    # Where each status may go next; everything else is refused by ``transition``.
    TRANSITIONS = {
        Status.PENDING: {Status.QUEUED, Status.CANCELLED, Status.FAILED},
        Status.QUEUED: {Status.RUNNING, Status.CANCELLED, Status.FAILED},
        Status.RUNNING: {
            Status.PLANNED,
            Status.PLANNED_NO_CHANGES,
            Status.PLAN_FINISHED,
            Status.APPLIED,
            Status.FAILED,
            Status.CANCELLED,
        },
        Status.PLANNED: {Status.CONFIRMED, Status.DISCARDED, Status.CANCELLED, Status.FAILED},
    }

    class Stage(models.TextChoices):
        PENDING = "pending", "Pending"
        PREPARING = "preparing", "Preparing"
        INIT = "init", "Initializing"
        PLANNING = "planning", "Planning"
        SAVING_PLAN = "saving_plan", "Saving plan"
        AWAITING_CONFIRMATION = "awaiting_confirmation", "Waiting for confirmation"
        APPLYING = "applying", "Applying"
        SAVING_STATE = "saving_state", "Saving state"
        DONE = "done", "Done"

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="tasks")
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(max_length=24, choices=Stage.choices, default=Stage.PENDING)
    plan_task = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.RESTRICT, related_name="apply_tasks"
    )
    code_version = models.ForeignKey(
        "workspaces.WorkspaceCodeVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="tasks"
    )
    message = models.CharField(max_length=500, blank=True)
    targets = models.JSONField(default=list, blank=True)
    # Plan artifacts: plan file and plan JSON are Fernet-encrypted (they hold secrets).
    plan_file = models.BinaryField(null=True, blank=True, editable=False)
    lock_file = models.TextField(blank=True)
    # A plan run with "upgrade providers": `init -upgrade` instead of the stored lock file; the
    # new lock file is stored with the plan (lock_file) and kept by the runs after it.
    upgrade_providers = models.BooleanField(default=False)
    plan_json = models.BinaryField(null=True, blank=True, editable=False)
    change_summary = models.JSONField(default=dict, blank=True)
    has_changes = models.BooleanField(null=True, blank=True)
    outputs = models.JSONField(default=dict, blank=True)
    # What the plan was made from (code/resource versions, variables checksum, state
    # serial) and anything else a later step needs.
    context = models.JSONField(default=dict, blank=True)
    error_message = models.TextField(blank=True)
    error_category = models.CharField(max_length=32, blank=True)
    # One line telling the operator what to do about the error (executions.errors).
    error_hint = models.CharField(max_length=500, blank=True)
    exit_code = models.IntegerField(null=True, blank=True)
    # Who owns the run while it runs: every write of the worker is conditional on the claim
    # token (a worker that lost it writes its state to a backup, never to the database).
    worker_host = models.CharField(max_length=255, blank=True)
    worker_pid = models.IntegerField(null=True, blank=True)
    claim_token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    # Where terraform runs (on ``worker_host``): what recovery reads when the worker is lost.
    work_dir = models.CharField(max_length=500, blank=True)
    pgid = models.IntegerField(null=True, blank=True)
    cancel_requested = models.BooleanField(default=False)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    queued_at = models.DateTimeField(null=True, blank=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace"],
                condition=Q(status="running"),
                name="%(app_label)s_%(class)s_one_running_per_workspace",
            ),
            models.CheckConstraint(
                condition=Q(task_type="apply", plan_task__isnull=False) | ~Q(task_type="apply"),
                name="%(app_label)s_%(class)s_apply_has_plan",
            ),
            models.CheckConstraint(
                condition=Q(finished_at__isnull=True)
                | Q(started_at__isnull=True)
                | Q(finished_at__gte=models.F("started_at")),
                name="%(app_label)s_%(class)s_finished_after_started",
            ),
        ]
        indexes = [
            # The scheduler: "the oldest unfinished task of this workspace".
            models.Index(fields=["workspace", "status", "id"], name="exec_task_ws_status_idx"),
            # The reaper: running tasks by heartbeat.
            models.Index(fields=["status", "heartbeat_at"], name="exec_task_status_hb_idx"),
        ]

    def __str__(self):
        return f"#{self.pk} {self.task_type} on {self.workspace_id} ({self.status})"

    @property
    def is_terminal(self) -> bool:
        return self.status in self.TERMINAL

    @property
    def is_speculative(self) -> bool:
        return self.task_type in (self.TaskType.PLAN, self.TaskType.DRIFT_CHECK)

    @property
    def is_drift_check(self) -> bool:
        return self.task_type == self.TaskType.DRIFT_CHECK

    @property
    def error_info(self) -> dict | None:
        """Category, label, retryable flag and hint of the error, for pages and the API."""
        info = category_info(self.error_category)
        if info is None:
            return None
        return {"category": info.key, "label": info.label, "retryable": info.retryable,
                "hint": self.error_hint or info.hint}

    def can_transition(self, new_status: str) -> bool:
        return new_status in self.TRANSITIONS.get(self.status, set())

    def transition(self, new_status: str, *, error: str = "", category: str = "", hint: str = "",
                   save: bool = True) -> None:
        """The one place a status changes: refuses illegal moves, stamps times."""
        if not self.can_transition(new_status):
            raise IllegalTransition(f"task #{self.pk} cannot go from {self.status} to {new_status}")
        now = timezone.now()
        self.status = new_status
        if new_status == self.Status.QUEUED:
            self.queued_at = now
        elif new_status == self.Status.RUNNING:
            self.started_at = now
            self.heartbeat_at = now
        if new_status in self.TERMINAL:
            self.finished_at = now
            if self.started_at and self.finished_at < self.started_at:
                self.finished_at = self.started_at
            if new_status != self.Status.CONFIRMED:
                self.stage = self.Stage.DONE
        if new_status == self.Status.PLANNED:
            self.stage = self.Stage.AWAITING_CONFIRMATION
        if error:
            self.error_message = error
        if category:
            self.error_category = category
        if hint:
            self.error_hint = hint[:500]
        if save:
            self.save()

    def set_stage(self, stage: str) -> None:
        self.stage = stage
        self.heartbeat_at = timezone.now()
        WorkspaceTask.objects.filter(pk=self.pk).update(stage=stage, heartbeat_at=self.heartbeat_at)


class StateCheckpoint(models.Model):
    """The work dir's terraform.tfstate as an apply wrote it, taken while the apply runs.

    Not a state version: what the platform has of a run whose worker (or host) was lost.
    Encrypted at rest like plan files.
    """

    task = models.ForeignKey(WorkspaceTask, on_delete=models.CASCADE, related_name="checkpoints")
    content = models.BinaryField(editable=False)
    checksum = models.CharField(max_length=64)
    size = models.PositiveIntegerField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["task", "checksum"], name="%(app_label)s_%(class)s_one_per_content"),
        ]


class TaskLog(models.Model):
    """An append-only chunk of a task's output, in sequence order."""

    task = models.ForeignKey(WorkspaceTask, on_delete=models.CASCADE, related_name="logs")
    seq = models.PositiveIntegerField()
    stage = models.CharField(max_length=24, blank=True)
    text = models.TextField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["task", "seq"], name="%(app_label)s_%(class)s_unique_seq"),
        ]

    def __str__(self):
        return f"task {self.task_id} log #{self.seq}"


class Notification(models.Model):
    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        EMERGENCY = "emergency", "Emergency"

    level = models.CharField(max_length=16, choices=Level.choices)
    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    task = models.ForeignKey(WorkspaceTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    acknowledged = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"[{self.level}] {self.title}"
