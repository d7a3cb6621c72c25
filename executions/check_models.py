"""Run checks: hooks, their results, policy sets with their versions, results and overrides."""

from django.conf import settings
from django.db import models
from django.db.models import Q

from executions.models import WorkspaceTask


class Hook(models.Model):
    """A check run at a point of the pipeline (executor/hooks.py): global when ``workspace`` is empty."""

    class HookStage(models.TextChoices):
        PRE_PLAN = "pre_plan", "Pre-plan"
        POST_PLAN = "post_plan", "Post-plan"
        PRE_APPLY = "pre_apply", "Pre-apply"
        POST_APPLY = "post_apply", "Post-apply"
        ON_FAILURE = "on_failure", "On failure"

    class Kind(models.TextChoices):
        SCRIPT = "script", "Script"
        HTTP = "http", "HTTP"
        FUNCTION = "function", "Python function"

    class Enforcement(models.TextChoices):
        MANDATORY = "mandatory", "Mandatory"
        ADVISORY = "advisory", "Advisory"

    workspace = models.ForeignKey("workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="hooks")
    name = models.CharField(max_length=100)
    stage = models.CharField(max_length=16, choices=HookStage.choices)
    kind = models.CharField(max_length=16, choices=Kind.choices)
    enforcement = models.CharField(max_length=16, choices=Enforcement.choices, default=Enforcement.ADVISORY)
    command = models.TextField(blank=True)  # script
    url = models.URLField(max_length=500, blank=True)  # http
    secret = models.TextField(blank=True, editable=False)  # http: HMAC key, Fernet-encrypted
    function = models.CharField(max_length=200, blank=True)  # function: dotted path in IAC_HOOK_FUNCTIONS
    timeout = models.PositiveIntegerField(default=30)
    # http: the answer may only acknowledge (e.g. 202); the result is POSTed later to the payload's
    # callback URL with its token (like HCP Terraform's run tasks). ``timeout`` bounds the wait.
    asynchronous = models.BooleanField(default=False)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["stage", "name", "id"]
        constraints = [
            models.CheckConstraint(condition=Q(timeout__gte=1), name="%(app_label)s_%(class)s_timeout_positive"),
        ]

    def __str__(self):
        return f"{self.name} ({self.kind}, {self.stage})"


class HookCallback(models.Model):
    """The result an asynchronous HTTP hook sent to its callback URL (executor/hooks.py waits for it)."""

    task = models.ForeignKey(WorkspaceTask, on_delete=models.CASCADE, related_name="hook_callbacks")
    hook = models.ForeignKey(Hook, on_delete=models.CASCADE, related_name="callbacks")
    stage = models.CharField(max_length=16)
    status = models.CharField(max_length=16)
    message = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    received_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["task", "hook", "stage"],
                                               name="%(app_label)s_%(class)s_once_per_point")]


class HookResult(models.Model):
    """What one hook said about one run."""

    class Outcome(models.TextChoices):
        PASSED = "passed", "Passed"
        FAILED = "failed", "Failed"

    task = models.ForeignKey(WorkspaceTask, on_delete=models.CASCADE, related_name="hook_results")
    hook = models.ForeignKey(Hook, null=True, blank=True, on_delete=models.SET_NULL, related_name="results")
    name = models.CharField(max_length=100)
    stage = models.CharField(max_length=16)
    kind = models.CharField(max_length=16)
    enforcement = models.CharField(max_length=16)
    status = models.CharField(max_length=16, choices=Outcome.choices)
    message = models.TextField(blank=True)
    url = models.CharField(max_length=500, blank=True)
    duration = models.FloatField(default=0)  # seconds, all attempts
    attempts = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "id"]

    @property
    def is_warning(self) -> bool:
        return self.status == self.Outcome.FAILED and self.enforcement == Hook.Enforcement.ADVISORY


class PolicySet(models.Model):
    """OPA Rego policies checked after every plan (executions/policies.py): global when
    ``workspace`` is empty. Its text is versioned: each change makes a PolicySetVersion."""

    class Enforcement(models.TextChoices):
        ADVISORY = "advisory", "Advisory"
        SOFT_MANDATORY = "soft_mandatory", "Soft-mandatory"
        HARD_MANDATORY = "hard_mandatory", "Hard-mandatory"

    workspace = models.ForeignKey("workspaces.Workspace", null=True, blank=True, on_delete=models.CASCADE,
                                  related_name="policy_sets")
    name = models.CharField(max_length=100)
    enforcement = models.CharField(max_length=16, choices=Enforcement.choices, default=Enforcement.ADVISORY)
    enabled = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["name", "id"]

    def __str__(self):
        return f"{self.name} ({self.enforcement})"

    @property
    def current(self) -> "PolicySetVersion | None":
        return self.versions.order_by("-number").first()


class PolicySetVersion(models.Model):
    policy_set = models.ForeignKey(PolicySet, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField()
    rego = models.TextField()
    checksum = models.CharField(max_length=64)
    message = models.CharField(max_length=500, blank=True)
    created_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL,
                                   related_name="+")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["policy_set", "-number"]
        constraints = [
            models.UniqueConstraint(fields=["policy_set", "number"], name="%(app_label)s_%(class)s_unique_number"),
        ]


class PolicyResult(models.Model):
    """What one policy set said about one plan: its deny and warn messages."""

    class Outcome(models.TextChoices):
        PASSED = "passed", "Passed"
        WARNED = "warned", "Warnings"
        DENIED = "denied", "Denied"
        ERRORED = "errored", "Error"

    task = models.ForeignKey(WorkspaceTask, on_delete=models.CASCADE, related_name="policy_results")
    policy_set = models.ForeignKey(PolicySet, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    name = models.CharField(max_length=100)
    version = models.PositiveIntegerField()
    enforcement = models.CharField(max_length=16)
    outcome = models.CharField(max_length=16, choices=Outcome.choices)
    denies = models.JSONField(default=list, blank=True)
    warnings = models.JSONField(default=list, blank=True)
    error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["task", "id"]


class PolicyOverride(models.Model):
    """The audit entry of a soft-mandatory policy override: who let the plan go on, and why.
    Written once, never edited (the admin shows it read-only)."""

    task = models.ForeignKey(WorkspaceTask, on_delete=models.CASCADE, related_name="policy_overrides")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, on_delete=models.SET_NULL, related_name="+")
    username = models.CharField(max_length=150)
    reason = models.TextField()
    policies = models.JSONField(default=list)  # the overridden policy sets and their deny messages
    remote_addr = models.CharField(max_length=64, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(condition=~Q(reason=""), name="%(app_label)s_%(class)s_reason_given"),
        ]
