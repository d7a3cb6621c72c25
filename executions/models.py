from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone

from executions.errors import category_info
from executions.executor import stages


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
        # A soft-mandatory policy denied the plan: an admin overrides (with a reason) or discards.
        POLICY_OVERRIDE = "policy_override", "Policy override needed"
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
            Status.POLICY_OVERRIDE,
        },
        Status.POLICY_OVERRIDE: {Status.PLANNED, Status.PLAN_FINISHED, Status.PLANNED_NO_CHANGES, Status.DISCARDED, Status.CANCELLED,
                                 Status.FAILED},
        Status.PLANNED: {Status.CONFIRMED, Status.DISCARDED, Status.CANCELLED, Status.FAILED},
    }

    Stage = stages.Stage  # the stages and their transitions: executions/executor/stages.py

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="tasks")
    task_type = models.CharField(max_length=20, choices=TaskType.choices)
    status = models.CharField(max_length=24, choices=Status.choices, default=Status.PENDING)
    stage = models.CharField(max_length=24, choices=Stage.choices, default=Stage.PENDING)
    # When each stage began and ended: {"init": {"started": iso, "ended": iso}, ...}
    # (written by executor/stages.py at each transition; the run page shows the durations).
    stage_times = models.JSONField(default=dict, blank=True)
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
    stage_seconds = models.JSONField(default=dict, blank=True)  # {stage: seconds} of a finished run
    # The plan's monthly cost before/after/difference (executions/cost.py); {} when none was made.
    cost_estimate = models.JSONField(default=dict, blank=True)
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
            stages.stage_fields(self, self.Stage.DONE, now=now)
        if new_status == self.Status.PLANNED:
            stages.stage_fields(self, self.Stage.AWAITING_CONFIRMATION, now=now)
        if new_status == self.Status.POLICY_OVERRIDE:
            stages.stage_fields(self, self.Stage.AWAITING_POLICY_OVERRIDE, now=now)
        if error:
            self.error_message = error
        if category:
            self.error_category = category
        if hint:
            self.error_hint = hint[:500]
        if save:
            self.save()


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
    """Something an operator should hear about: shown in the notification center, sent to channels."""

    class Level(models.TextChoices):
        INFO = "info", "Info"
        WARNING = "warning", "Warning"
        EMERGENCY = "emergency", "Emergency"

    class Event(models.TextChoices):
        RUN_NEEDS_CONFIRMATION = "run_needs_confirmation", "Run needs confirmation"
        RUN_APPLIED = "run_applied", "Run applied"
        RUN_FAILED = "run_failed", "Run failed"
        RUN_CANCELLED = "run_cancelled", "Run cancelled"
        HOOK_FAILED = "hook_failed", "Policy/hook failed"
        DRIFT_DETECTED = "drift_detected", "Drift detected"
        STATE_SAVE_FAILED = "state_save_failed", "State save failed"
        RUN_RECOVERED = "run_recovered", "Run recovered"
        WORKSPACE_LOCKED = "workspace_locked", "Workspace locked"
        WORKSPACE_UNLOCKED = "workspace_unlocked", "Workspace unlocked"
        TEST = "test", "Test message"
        OTHER = "other", "Other"

    level = models.CharField(max_length=16, choices=Level.choices)
    event = models.CharField(max_length=32, choices=Event.choices, default=Event.OTHER)
    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="notifications"
    )
    task = models.ForeignKey(WorkspaceTask, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    title = models.CharField(max_length=200)
    message = models.TextField(blank=True)
    acknowledged = models.BooleanField(default=False)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    acknowledged_at = models.DateTimeField(null=True, blank=True)
    read_by = models.ManyToManyField(settings.AUTH_USER_MODEL, blank=True, related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The banner: "emergencies not yet acknowledged".
            models.Index(fields=["level", "acknowledged"], name="exec_note_level_ack_idx"),
        ]

    def __str__(self):
        return f"[{self.level}] {self.title}"


class NotificationChannel(models.Model):
    """Where notifications go: an Apprise URL or a signed webhook; global (no workspace) or one workspace's."""

    class Kind(models.TextChoices):
        APPRISE = "apprise", "Apprise URL"
        WEBHOOK = "webhook", "Webhook (JSON, HMAC-SHA256)"

    name = models.CharField(max_length=100)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    workspace = models.ForeignKey(
        "workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE, related_name="notification_channels"
    )
    # Apprise URLs and webhook URLs carry tokens and passwords: both encrypted at rest.
    target_encrypted = models.TextField(editable=False)
    secret_encrypted = models.TextField(blank=True, editable=False)
    events = models.JSONField(default=list, blank=True)  # empty: every event
    levels = models.JSONField(default=list, blank=True)  # empty: every level
    enabled = models.BooleanField(default=True)
    consecutive_failures = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    last_failure_at = models.DateTimeField(null=True, blank=True)
    last_success_at = models.DateTimeField(null=True, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace_id", "name", "id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="%(app_label)s_%(class)s_unique_name"),
        ]

    def __str__(self):
        return f"{self.name} ({self.kind})"

    @property
    def failing(self) -> bool:
        return self.consecutive_failures >= settings.IAC_NOTIFY_FAILING_AFTER

    def wants(self, *, event: str, level: str) -> bool:
        return self.enabled and (not self.events or event in self.events) and (not self.levels or level in self.levels)


class NotificationDelivery(models.Model):
    """One notification to one channel: retried with back-off, every attempt logged."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SENDING = "sending", "Sending"
        RETRYING = "retrying", "Waiting to retry"
        SUCCEEDED = "succeeded", "Delivered"
        FAILED = "failed", "Failed"

    notification = models.ForeignKey(Notification, on_delete=models.CASCADE, related_name="deliveries")
    channel = models.ForeignKey(NotificationChannel, on_delete=models.CASCADE, related_name="deliveries")
    delivery_id = models.UUIDField(unique=True)  # sent to the receiver: idempotency
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_error = models.CharField(max_length=500, blank=True)
    next_try_at = models.DateTimeField(null=True, blank=True)
    claimed_at = models.DateTimeField(null=True, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [
            # The sweep: "deliveries due for a try".
            models.Index(fields=["status", "next_try_at"], name="exec_delivery_due_idx"),
        ]

    def __str__(self):
        return f"delivery {self.delivery_id} ({self.status})"


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(NotificationDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    number = models.PositiveIntegerField()
    ok = models.BooleanField()
    error = models.CharField(max_length=500, blank=True)
    duration_ms = models.PositiveIntegerField(default=0)
    at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["delivery", "number"]
        constraints = [
            models.UniqueConstraint(fields=["delivery", "number"], name="%(app_label)s_%(class)s_unique_number"),
        ]


class WorkerBeat(models.Model):
    """The last sign of life of each worker host (for the "worker missing" alert)."""

    host = models.CharField(max_length=255, unique=True)
    pid = models.IntegerField(null=True, blank=True)
    seen_at = models.DateTimeField()


# Registered with the app through this module (Django loads ``executions.models``).
from executions.check_models import (  # noqa: E402,F401
    Hook, HookCallback, HookResult, PolicyOverride, PolicyResult, PolicySet, PolicySetVersion,
)
