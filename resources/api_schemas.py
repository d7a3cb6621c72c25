"""The shapes of the resources API: what it takes and what it answers."""

from datetime import datetime
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from iacplatform.inputs import Offset
from workspaces.api_versions import DiffLineOut  # one shape for every line diff

MAX_PAGE = 200


class ResourceOut(Schema):
    id: int
    resource_id: str = Field(description="The Terraform address: terraform_data.a, data.x.y, module.web")
    kind: str
    type: str
    name: str
    is_active: bool
    version: int | None
    description: str
    tags: list[str]
    created_at: datetime
    updated_at: datetime
    deleted_at: datetime | None


class ResourceDetailOut(ResourceOut):
    code: dict
    checksum: str | None
    change_type: str | None
    change_summary: str


class ResourcePage(Schema):
    count: int
    items: list[ResourceOut]


class ResourceIn(Schema):
    code: dict | str = Field(description='A Terraform JSON fragment ({"resource": {"<type>": {"<name>": {...}}}}), '
                                         'its JSON text, or one HCL block as text')
    resource_id: str | None = None
    description: str = ""
    tags: list[str] = []


class ResourceUpdateIn(Schema):
    code: dict | str | None = None
    description: str | None = None
    tags: list[str] | None = None
    change_summary: str = ""


class ResourceSaveOut(Schema):
    version_created: bool
    resource: ResourceDetailOut


class VersionOut(Schema):
    version: int
    change_type: str
    change_summary: str
    checksum: str
    is_latest: bool
    author: str | None
    created_at: datetime


class VersionDetailOut(VersionOut):
    code: dict
    source_text: str = ""  # the HCL as written when the version came from HCL ("" otherwise)


class CompareOut(Schema):
    from_version: int
    to_version: int
    identical: bool
    added: int
    removed: int
    lines: list[DiffLineOut]


class RollbackOut(Schema):
    version_created: bool
    resource: ResourceDetailOut


class SnapshotIn(Schema):
    name: str
    description: str = ""


class SnapshotOut(Schema):
    id: int
    name: str
    description: str
    resource_versions: dict[str, int]
    resource_count: int
    author: str | None
    created_at: datetime


class SnapshotChangeOut(Schema):
    address: str
    action: str = Field(description="unchanged, update, reactivate or deactivate")
    current_version: int | None
    target_version: int | None


class SnapshotDetailOut(SnapshotOut):
    restorable: bool
    problem: str | None
    changes: list[SnapshotChangeOut]


class RestoreOut(Schema):
    changes: list[SnapshotChangeOut]


class ResourceRef(Schema):
    id: int
    resource_id: str
    is_active: bool


class DependenciesOut(Schema):
    depends_on: list[ResourceRef]
    depended_by: list[ResourceRef]
    declared_in_code: list[str]


class DependenciesIn(Schema):
    depends_on: list[int | str] = Field(description="Resource ids or addresses of this workspace")


class ImportFile(Schema):
    name: str = Field(description="main.tf, or modules/<name>/main.tf for a local module's files")
    content: str


class ImportIn(Schema):
    files: list[ImportFile]
    on_duplicate: Literal["fail", "skip", "new_version"] = "fail"
    message: str = ""


class ImportOut(Schema):
    created: list[str]
    updated: list[str]
    restored: list[str]
    unchanged: list[str]
    skipped: list[str]
    duplicates: list[dict[str, Any]]
    code_version: int | None
    code_added: list[str]
    code_replaced: list[str]
    code_unchanged: list[str]
    code_skipped: list[str]
    providers: list[str]
    module_files: list[str]
    warnings: list[str]


class DeployIn(Schema):
    resource_ids: list[int | str]
    kind: Literal["plan", "plan_and_apply"] = "plan"
    message: str = ""


class DeployOut(Schema):
    task_id: int
    task_type: str
    status: str
    targets: list[str]


class Paging(Schema):
    limit: int = 50
    offset: Offset = 0


class ResourceFilters(Schema):
    search: str = ""
    status: str = "active"
    kind: str = ""
    sort: str = "address"
    ids: str = Field("", description="Comma-separated ids: get these resources (any status); 404 if one is unknown")
