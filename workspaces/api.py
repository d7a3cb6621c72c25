from datetime import datetime

from ninja import Router, Schema

from workspaces.selectors import workspace_get, workspace_list

router = Router(tags=["workspaces"])


class WorkspaceOut(Schema):
    id: int
    name: str
    description: str
    terraform_version: str
    auto_apply: bool
    locked: bool
    lock_reason: str
    current_code_version: int | None
    last_run_status: str | None
    last_run_at: datetime | None
    state_serial: int | None
    drift_schedule: str
    drifted: bool = False  # the latest drift check found drift and nothing was applied since
    created_at: datetime

    @staticmethod
    def resolve_current_code_version(obj):
        return obj.current_code_version.number if obj.current_code_version_id else None


@router.get("/workspaces", response=list[WorkspaceOut])
def list_workspaces(request, search: str = ""):
    return list(workspace_list(search=search).select_related("current_code_version"))


class VariableOut(Schema):
    id: int
    key: str
    value: str | None
    category: str
    hcl: bool
    sensitive: bool
    description: str

    @staticmethod
    def resolve_value(obj):
        # Sensitive values are write-only: never returned, not even encrypted.
        return None if obj.sensitive else obj.value


@router.get("/workspaces/{name}/variables", response=list[VariableOut])
def list_variables(request, name: str):
    return list(workspace_get(name).variables.all())
