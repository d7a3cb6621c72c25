import hashlib
import re

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import RegexValidator
from django.db import models
from django.db.models import Q
from django.utils import timezone

from workspaces.crypto import EncryptedTextField, decrypt_text, encrypt_text

workspace_name_validator = RegexValidator(
    r"^[A-Za-z0-9_-]+$", "Use only letters, digits, '-' and '_'."
)
TERRAFORM_IDENTIFIER = re.compile(r"^[A-Za-z_][A-Za-z0-9_-]*$")
ENV_VAR_NAME = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
VERSION_PIN = re.compile(r"^\d+\.\d+(\.\d+)?$")


def sha256_hex(data: str | bytes) -> str:
    if isinstance(data, str):
        data = data.encode()
    return hashlib.sha256(data).hexdigest()


class Workspace(models.Model):
    name = models.CharField(max_length=90, unique=True, validators=[workspace_name_validator])
    description = models.TextField(blank=True)
    terraform_version = models.CharField(
        max_length=20,
        blank=True,
        help_text="Pin, e.g. 1.15 or 1.15.5. Runs refuse a binary of another version.",
    )
    auto_apply = models.BooleanField(default=False)
    # Per-stage terraform timeouts in seconds overriding IAC_TIMEOUT_INIT/PLAN/APPLY,
    # e.g. {"apply": 7200}; stages not listed use the setting.
    timeouts = models.JSONField(default=dict, blank=True,
                                help_text='Seconds per stage, e.g. {"init": 300, "plan": 1800, "apply": 7200}.')
    current_code_version = models.ForeignKey(
        "WorkspaceCodeVersion",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
    )
    provider_config = models.JSONField(default=dict, blank=True)
    # Cloud credentials (an AWS IAM role to assume). No secret here: the role is assumed
    # with the worker's own credentials.
    aws_role_arn = models.CharField(max_length=255, blank=True)
    aws_session_name = models.CharField(max_length=64, blank=True)
    aws_external_id = models.CharField(max_length=255, blank=True)
    aws_region = models.CharField(max_length=32, blank=True)
    class DriftSchedule(models.TextChoices):
        OFF = "off", "Off"
        HOURLY = "hourly", "Hourly"
        DAILY = "daily", "Daily"
        CRON = "cron", "Cron expression"

    # Drift detection: how often a drift check (plan -refresh-only) runs; off by default.
    drift_schedule = models.CharField(max_length=8, choices=DriftSchedule.choices, default=DriftSchedule.OFF)
    drift_cron = models.CharField(max_length=100, blank=True, help_text="e.g. 0 */6 * * * (minute hour day month "
                                                                        "weekday), with the cron schedule")
    locked = models.BooleanField(default=False)
    lock_reason = models.TextField(blank=True)
    locked_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    locked_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=Q(name__regex=r"^[A-Za-z0-9_-]+$"),
                name="%(app_label)s_%(class)s_name_charset",
            ),
            models.CheckConstraint(
                condition=Q(locked=False) | Q(locked_at__isnull=False),
                name="%(app_label)s_%(class)s_locked_has_time",
            ),
        ]

    def __str__(self):
        return self.name

    TIMEOUT_STAGES = ("init", "plan", "apply")

    def clean(self):
        if self.drift_schedule == self.DriftSchedule.CRON:
            if not self.drift_cron.strip():
                raise ValidationError({"drift_cron": "A cron schedule needs a cron expression, e.g. 0 */6 * * *."})
            from croniter import croniter

            if not croniter.is_valid(self.drift_cron.strip()):
                raise ValidationError({"drift_cron": f"{self.drift_cron!r} is not a cron expression "
                                                     "(minute hour day month weekday)."})
        if self.terraform_version and not VERSION_PIN.match(self.terraform_version):
            raise ValidationError({"terraform_version": "Use a version like 1.15 or 1.15.5."})
        timeouts = self.timeouts or {}
        if not isinstance(timeouts, dict):
            raise ValidationError({"timeouts": 'Use an object of seconds per stage, e.g. {"apply": 7200}.'})
        for stage, seconds in timeouts.items():
            if stage not in self.TIMEOUT_STAGES:
                raise ValidationError({"timeouts": f"Unknown stage {stage!r}: use {', '.join(self.TIMEOUT_STAGES)}."})
            if not isinstance(seconds, int) or isinstance(seconds, bool) or not 1 <= seconds <= 7 * 86400:
                raise ValidationError({"timeouts": f"The {stage} timeout must be a whole number of seconds "
                                                   f"between 1 and 604800."})


class Variable(models.Model):
    class Category(models.TextChoices):
        TERRAFORM = "terraform", "Terraform variable"
        ENV = "env", "Environment variable"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="variables")
    key = models.CharField(max_length=128)
    # Plain text for ordinary variables; a Fernet token when ``sensitive`` is set.
    value = models.TextField(blank=True)
    category = models.CharField(max_length=16, choices=Category.choices, default=Category.TERRAFORM)
    hcl = models.BooleanField(default=False, help_text="Parse the value as HCL (lists, maps, numbers).")
    sensitive = models.BooleanField(default=False, help_text="Write-only; encrypted at rest.")
    description = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["category", "key"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "category", "key"], name="%(app_label)s_%(class)s_unique_key"
            ),
        ]

    def __str__(self):
        return f"{self.workspace}:{self.category}:{self.key}"

    def clean(self):
        pattern = TERRAFORM_IDENTIFIER if self.category == self.Category.TERRAFORM else ENV_VAR_NAME
        if not pattern.match(self.key or ""):
            kind = "a Terraform identifier" if self.category == self.Category.TERRAFORM else "an environment variable name"
            raise ValidationError({"key": f"{self.key!r} is not {kind}."})

    def set_value(self, plaintext: str) -> None:
        """Store a value, encrypting it when the variable is sensitive."""
        self.value = encrypt_text(plaintext) if self.sensitive else plaintext

    def get_value(self) -> str:
        return decrypt_text(self.value) if self.sensitive else self.value


class WorkspaceCodeVersion(models.Model):
    class Format(models.TextChoices):
        JSON = "json", "Terraform JSON"
        HCL = "hcl", "HCL"

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="code_versions")
    number = models.PositiveIntegerField()
    code = models.TextField(blank=True)
    code_format = models.CharField(max_length=8, choices=Format.choices, default=Format.JSON)
    provider_config = models.JSONField(default=dict, blank=True)
    checksum = models.CharField(max_length=64)
    message = models.CharField(max_length=500, blank=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "number"], name="%(app_label)s_%(class)s_unique_number"
            ),
            models.CheckConstraint(condition=Q(number__gte=1), name="%(app_label)s_%(class)s_number_positive"),
        ]

    def __str__(self):
        return f"{self.workspace} v{self.number}"


class StateVersion(models.Model):
    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="state_versions")
    serial = models.PositiveBigIntegerField()
    lineage = models.CharField(max_length=64)
    checksum = models.CharField(max_length=64, help_text="sha256 of the content")
    md5 = models.CharField(max_length=32, blank=True)
    size = models.PositiveBigIntegerField(default=0)
    resource_count = models.PositiveIntegerField(default=0)
    outputs = models.JSONField(default=dict, blank=True, help_text="Sensitive outputs are masked.")
    # The raw terraform.tfstate JSON, full of secrets: encrypted at rest like plan files.
    content = EncryptedTextField(help_text="The raw terraform.tfstate JSON (encrypted at rest)")
    task = models.ForeignKey(
        "executions.WorkspaceTask", null=True, blank=True, on_delete=models.SET_NULL, related_name="state_versions"
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    source = models.CharField(max_length=32, default="apply", help_text="apply, upload, rollback, backup restore…")
    # A human line on where the state came from, e.g. "written by terraform CLI (alice, OperationTypeApply)".
    source_detail = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "-serial"]
        get_latest_by = "serial"
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "serial"], name="%(app_label)s_%(class)s_unique_serial"
            ),
        ]

    def __str__(self):
        return f"{self.workspace} state #{self.serial}"


class ApiToken(models.Model):
    """A personal API token; only its sha256 is stored, the token is shown once."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="api_tokens")
    name = models.CharField(max_length=100)
    prefix = models.CharField(max_length=12, help_text="First characters, to recognise a token")
    token_hash = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)
    last_used_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(null=True, blank=True, help_text="Empty: never expires")
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]

    def __str__(self):
        return f"{self.name} ({self.prefix}…)"

    @property
    def expired(self) -> bool:
        return self.expires_at is not None and self.expires_at <= timezone.now()

    @property
    def active(self) -> bool:
        return self.revoked_at is None and not self.expired


class Role(models.IntegerChoices):
    """What a member may do in a workspace; each role includes the ones below it."""

    READER = 10, "Reader"        # runs, logs, plans, code, state metadata; never sensitive values or raw state
    PLANNER = 20, "Planner"      # + queue plans, edit code and resources
    APPLIER = 30, "Applier"      # + confirm/discard/cancel runs, lock/unlock
    ADMIN = 40, "Admin"          # + variables, settings, state upload/rollback/restore/download, delete, members


class WorkspaceMember(models.Model):
    """A role in one workspace, granted to a user or to a Django group (a team)."""

    workspace = models.ForeignKey(Workspace, on_delete=models.CASCADE, related_name="members")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.CASCADE,
                             related_name="workspace_memberships")
    group = models.ForeignKey("auth.Group", null=True, blank=True, on_delete=models.CASCADE,
                              related_name="workspace_memberships")
    role = models.PositiveSmallIntegerField(choices=Role.choices, default=Role.READER)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        ordering = ["workspace", "-role", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(user__isnull=False) & Q(group__isnull=True)) | (Q(user__isnull=True) & Q(group__isnull=False)),
                name="%(app_label)s_%(class)s_user_xor_group",
            ),
            models.UniqueConstraint(fields=["workspace", "user"], condition=Q(user__isnull=False),
                                    name="%(app_label)s_%(class)s_unique_user"),
            models.UniqueConstraint(fields=["workspace", "group"], condition=Q(group__isnull=False),
                                    name="%(app_label)s_%(class)s_unique_group"),
            models.CheckConstraint(condition=Q(role__in=[10, 20, 30, 40]), name="%(app_label)s_%(class)s_role_known"),
        ]

    def __str__(self):
        who = f"user {self.user}" if self.user_id else f"group {self.group}"
        return f"{self.workspace}: {who} is {self.get_role_display()}"

    @property
    def principal(self) -> str:
        return self.user.get_username() if self.user_id else f"@{self.group.name}"


class AuditEventQuerySet(models.QuerySet):
    def update(self, **kwargs):
        raise AuditEvent.AppendOnly("Audit events are never changed.")

    def delete(self):
        raise AuditEvent.AppendOnly("Audit events are never deleted.")


class AuditEvent(models.Model):
    """Who did what, to which workspace, when and from where. Append-only.

    No foreign keys on purpose: deleting a user or a workspace must not rewrite (or cascade
    into) the trail, so the actor and workspace are kept by id and name. On PostgreSQL a
    trigger refuses UPDATE and DELETE as well; the application never does either. ``details``
    never holds a secret value (variable values are not recorded at all).
    """

    class AppendOnly(Exception):
        pass

    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    actor_id = models.IntegerField(null=True, blank=True)
    actor = models.CharField(max_length=150, blank=True, help_text="username, 'host' (a command) or 'system'")
    action = models.CharField(max_length=64, db_index=True)
    workspace_id = models.IntegerField(null=True, blank=True, db_index=True)
    workspace_name = models.CharField(max_length=90, blank=True, db_index=True)
    target = models.CharField(max_length=300, blank=True)
    remote_addr = models.GenericIPAddressField(null=True, blank=True)
    via = models.CharField(max_length=16, blank=True, help_text="page, api, token, command or system")
    details = models.JSONField(default=dict, blank=True)

    objects = AuditEventQuerySet.as_manager()

    class Meta:
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["workspace_id", "-created_at"], name="workspaces_audit_ws_time")]

    def __str__(self):
        return f"{self.created_at:%Y-%m-%d %H:%M:%S} {self.actor or '-'} {self.action} {self.workspace_name}"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise self.AppendOnly("Audit events are never changed.")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise self.AppendOnly("Audit events are never deleted.")
        return self.revoked_at is None


class CliStateLock(models.Model):
    """The lock a terraform CLI holds on a workspace's state through the http backend.

    While it exists the workspace is also ``locked`` (reason "locked by terraform CLI: …"), so
    platform runs are refused by the same lock; ``info`` is the lock info JSON as terraform sent it.
    """

    workspace = models.OneToOneField(Workspace, on_delete=models.CASCADE, primary_key=True, related_name="cli_lock")
    lock_id = models.CharField(max_length=100)
    operation = models.CharField(max_length=100, blank=True)
    who = models.CharField(max_length=255, blank=True)
    version = models.CharField(max_length=40, blank=True)
    info = models.JSONField(default=dict, blank=True)
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                             related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self):
        return f"CLI lock {self.lock_id} on {self.workspace_id}"
