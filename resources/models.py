"""Resource-level version management: a workspace's code managed block by block.

A ``WorkspaceResource`` is one Terraform block of a workspace (a resource, a data source
or a module call), addressed the way Terraform addresses it (``terraform_data.a``,
``data.terraform_remote_state.net``, ``module.web``). Its code lives in numbered
``ResourceCodeVersion`` rows; history is never rewritten (rollback and restore make new
versions). Resources are soft-deleted so that snapshots and history keep pointing at them.
"""

from django.conf import settings
from django.db import models
from django.db.models import F, Q


class WorkspaceResource(models.Model):
    class Kind(models.TextChoices):
        RESOURCE = "resource", "Resource"
        DATA = "data", "Data source"
        MODULE = "module", "Module"

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="resources")
    # The Terraform address: what `-target` and `depends_on` take.
    resource_id = models.CharField(max_length=300)
    kind = models.CharField(max_length=10, choices=Kind.choices, default=Kind.RESOURCE)
    resource_type = models.CharField(max_length=128, blank=True, help_text="Empty for a module call.")
    name = models.CharField(max_length=128)
    current_version = models.ForeignKey(
        "ResourceCodeVersion", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    is_active = models.BooleanField(default=True)
    description = models.TextField(blank=True)
    tags = models.JSONField(default=list, blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)
    deleted_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["workspace", "resource_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["workspace", "resource_id"], name="%(app_label)s_%(class)s_unique_address"
            ),
            # The address is derived from kind, type and name; never let them drift apart.
            models.CheckConstraint(
                condition=(
                    Q(kind="module", resource_type="", resource_id=models.functions.Concat(
                        models.Value("module."), F("name"), output_field=models.CharField()))
                    | Q(kind="data", resource_id=models.functions.Concat(
                        models.Value("data."), F("resource_type"), models.Value("."), F("name"),
                        output_field=models.CharField()))
                    | Q(kind="resource", resource_id=models.functions.Concat(
                        F("resource_type"), models.Value("."), F("name"), output_field=models.CharField()))
                ),
                name="%(app_label)s_%(class)s_address_matches",
            ),
            models.CheckConstraint(
                condition=Q(is_active=True, deleted_at__isnull=True) | Q(is_active=False, deleted_at__isnull=False),
                name="%(app_label)s_%(class)s_deleted_has_time",
            ),
        ]
        indexes = [
            # The resource list: a workspace's active (or deleted) resources by address.
            models.Index(fields=["workspace", "is_active", "resource_id"], name="res_ws_active_addr_idx"),
        ]

    def __str__(self):
        return f"{self.workspace_id}:{self.resource_id}"

    @property
    def address(self) -> str:
        return self.resource_id

    @property
    def version_number(self) -> int | None:
        return self.current_version.version if self.current_version_id else None


class ResourceCodeVersion(models.Model):
    class ChangeType(models.TextChoices):
        CREATE = "create", "Created"
        UPDATE = "update", "Updated"
        DELETE = "delete", "Deleted"
        ROLLBACK = "rollback", "Rolled back"
        RESTORE = "restore", "Restored"

    resource = models.ForeignKey(WorkspaceResource, on_delete=models.CASCADE, related_name="versions")
    version = models.PositiveIntegerField()
    # A Terraform JSON fragment defining exactly this resource's address, e.g.
    # {"resource": {"terraform_data": {"a": {...}}}} or {"module": {"web": {...}}}.
    code = models.JSONField()
    checksum = models.CharField(max_length=64, help_text="sha256 of the canonical JSON of the code")
    # The HCL as written (comments included) when this version came from HCL: what pages show and
    # the editor opens. ``code`` — the Terraform JSON of the same block — is what runs.
    source_text = models.TextField(blank=True, default="")
    change_type = models.CharField(max_length=10, choices=ChangeType.choices)
    change_summary = models.CharField(max_length=500, blank=True)
    is_latest = models.BooleanField(default=True)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resource", "-version"]
        get_latest_by = "version"
        constraints = [
            models.UniqueConstraint(fields=["resource", "version"], name="%(app_label)s_%(class)s_unique_version"),
            models.UniqueConstraint(
                fields=["resource"], condition=Q(is_latest=True), name="%(app_label)s_%(class)s_one_latest"
            ),
            models.CheckConstraint(condition=Q(version__gte=1), name="%(app_label)s_%(class)s_version_positive"),
        ]

    def __str__(self):
        return f"{self.resource.resource_id} v{self.version}"


class WorkspaceResourcesSnapshot(models.Model):
    """A named set of resource versions: {address: version number} of the resources active
    when it was taken. Restoring brings back exactly that set."""

    workspace = models.ForeignKey("workspaces.Workspace", on_delete=models.CASCADE, related_name="resource_snapshots")
    name = models.CharField(max_length=100)
    description = models.TextField(blank=True)
    resource_versions = models.JSONField(default=dict)
    author = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["workspace", "-created_at", "-id"]
        constraints = [
            models.UniqueConstraint(fields=["workspace", "name"], name="%(app_label)s_%(class)s_unique_name"),
        ]

    def __str__(self):
        return f"{self.workspace_id}:{self.name}"

    @property
    def resource_count(self) -> int:
        return len(self.resource_versions or {})


class ResourceDependency(models.Model):
    """``resource`` depends on ``depends_on`` (same workspace): written as depends_on."""

    resource = models.ForeignKey(WorkspaceResource, on_delete=models.CASCADE, related_name="dependencies")
    depends_on = models.ForeignKey(WorkspaceResource, on_delete=models.CASCADE, related_name="dependents")
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        ordering = ["resource", "depends_on"]
        constraints = [
            models.UniqueConstraint(fields=["resource", "depends_on"], name="%(app_label)s_%(class)s_unique_edge"),
            models.CheckConstraint(
                condition=~Q(resource=F("depends_on")), name="%(app_label)s_%(class)s_no_self_edge"
            ),
        ]

    def __str__(self):
        return f"{self.resource_id} -> {self.depends_on_id}"
