"""The workspace API: workspaces (list, create, read, settings, delete), variables, members, tokens.

Every endpoint starts with the one selector (``workspace_for``) or a restricted list, then
calls the same service the pages call. Sensitive variable values are write-only: they are
accepted, never returned.
"""

from datetime import datetime

from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.shortcuts import get_object_or_404
from ninja import Field, Router, Schema, Status

from iacplatform.errors import DomainError
from iacplatform.inputs import Offset
from workspaces.access import readable_workspaces, workspace_for
from workspaces.audit import audit_events, parse_when
from workspaces.models import AuditEvent, Role, Variable, WorkspaceMember
from workspaces.selectors import variable_get, workspace_list
from workspaces.services import (
    SETTINGS_FIELDS, member_remove, member_set, role_from_name, variable_delete, variable_set, workspace_create,
    workspace_delete, workspace_update
)
from workspaces.tokens import api_token_create, api_token_get, api_token_revoke, api_tokens_of

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


def _workspace_out(request, name: str):
    return workspace_list(user=request.user).select_related("current_code_version").get(name=name)


@router.get("/workspaces", response=list[WorkspaceOut], summary="List the workspaces you may read")
def list_workspaces(request, search: str = ""):
    return list(workspace_list(user=request.user, search=search).select_related("current_code_version"))


class WorkspaceCreateIn(Schema):
    name: str = Field(max_length=90)
    description: str = ""
    auto_apply: bool = False
    terraform_version: str = ""


@router.post("/workspaces", response={201: WorkspaceOut}, summary="Create a workspace (you become its admin)")
def create_workspace(request, payload: WorkspaceCreateIn):
    workspace = workspace_create(**payload.model_dump(), user=request.user)
    return Status(201, _workspace_out(request, workspace.name))


@router.get("/workspaces/{name}", response=WorkspaceOut, summary="Get a workspace")
def get_workspace(request, name: str):
    workspace = workspace_for(request.user, name, Role.READER)
    return _workspace_out(request, workspace.name)


class SettingsOut(Schema):
    name: str
    description: str
    auto_apply: bool
    terraform_version: str
    provider_config: dict
    aws_role_arn: str
    aws_session_name: str
    aws_external_id: str
    aws_region: str
    timeouts: dict
    your_role: str

    @staticmethod
    def resolve_your_role(obj):
        return obj.access.label.lower()


class SettingsIn(Schema):
    description: str | None = None
    auto_apply: bool | None = None
    terraform_version: str | None = None
    provider_config: dict | None = None
    aws_role_arn: str | None = None
    aws_session_name: str | None = None
    aws_external_id: str | None = None
    aws_region: str | None = None
    timeouts: dict[str, int] | None = None


@router.get("/workspaces/{name}/settings", response=SettingsOut, summary="Get a workspace's settings")
def get_settings(request, name: str):
    return workspace_for(request.user, name, Role.READER)


@router.patch("/workspaces/{name}/settings", response=SettingsOut, summary="Change a workspace's settings")
def update_settings(request, name: str, payload: SettingsIn):
    """Only the fields sent change (admin)."""
    workspace = workspace_for(request.user, name, Role.ADMIN)
    changes = {k: v for k, v in payload.model_dump(exclude_unset=True).items() if k in SETTINGS_FIELDS}
    if any(value is None for value in changes.values()):
        raise DomainError("A setting cannot be null; send \"\" or {} to clear it.",
                          errors={k: ["Must not be null."] for k, v in changes.items() if v is None})
    updated = workspace_update(workspace=workspace, user=request.user, **changes)
    updated.access = workspace.access
    return updated


@router.delete("/workspaces/{name}", response={204: None}, summary="Delete a workspace with all its history")
def delete_workspace(request, name: str):
    """Refused (409) while a run is active (admin)."""
    workspace_delete(workspace=workspace_for(request.user, name, Role.ADMIN), user=request.user)
    return Status(204, None)


# --- variables ------------------------------------------------------------------------------
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


class VariableIn(Schema):
    key: str = Field(max_length=128)
    value: str = ""
    category: str = Variable.Category.TERRAFORM
    hcl: bool = False
    sensitive: bool = False
    description: str = ""


class VariableUpdateIn(Schema):
    value: str | None = Field(None, description="Omit (or send \"\" for a sensitive one) to keep the stored value")
    hcl: bool | None = None
    sensitive: bool | None = None
    description: str | None = None


@router.get("/workspaces/{name}/variables", response=list[VariableOut], summary="List variables")
def list_variables(request, name: str):
    return list(workspace_for(request.user, name, Role.READER).variables.all())


@router.post("/workspaces/{name}/variables", response={201: VariableOut}, summary="Add a variable")
def create_variable(request, name: str, payload: VariableIn):
    """409 when the workspace already has that key in that category (admin)."""
    workspace = workspace_for(request.user, name, Role.ADMIN)
    variable = variable_set(workspace=workspace, create=True, user=request.user, **payload.model_dump())
    return Status(201, variable)


@router.put("/workspaces/{name}/variables/{variable_id}", response=VariableOut, summary="Change a variable")
def update_variable(request, name: str, variable_id: int, payload: VariableUpdateIn):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    variable = variable_get(workspace=workspace, variable_id=variable_id)
    data = payload.model_dump(exclude_unset=True)
    return variable_set(
        workspace=workspace, key=variable.key, category=variable.category, value=data.get("value"),
        hcl=variable.hcl if data.get("hcl") is None else data["hcl"],
        sensitive=variable.sensitive if data.get("sensitive") is None else data["sensitive"],
        description=variable.description if data.get("description") is None else data["description"],
        user=request.user,
    )


@router.delete("/workspaces/{name}/variables/{variable_id}", response={204: None}, summary="Delete a variable")
def delete_variable(request, name: str, variable_id: int):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    variable_delete(variable=variable_get(workspace=workspace, variable_id=variable_id), user=request.user)
    return Status(204, None)


# --- members --------------------------------------------------------------------------------
class MemberOut(Schema):
    id: int
    user: str | None
    group: str | None
    role: str

    @staticmethod
    def resolve_user(obj):
        return obj.user.get_username() if obj.user_id else None

    @staticmethod
    def resolve_group(obj):
        return obj.group.name if obj.group_id else None

    @staticmethod
    def resolve_role(obj):
        return Role(obj.role).label.lower()


class MemberIn(Schema):
    user: str | None = Field(None, description="A username (or give group)")
    group: str | None = Field(None, description="A group name (or give user)")
    role: str = Field(description="reader, planner, applier or admin")


@router.get("/workspaces/{name}/members", response=list[MemberOut], summary="List members and their roles")
def list_members(request, name: str):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    return list(workspace.members.select_related("user", "group"))


@router.put("/workspaces/{name}/members", response=MemberOut, summary="Grant a role to a user or group")
def set_member(request, name: str, payload: MemberIn):
    """Replaces the role the user or group had (admin)."""
    workspace = workspace_for(request.user, name, Role.ADMIN)
    if bool(payload.user) == bool(payload.group):
        raise DomainError("Name either a user or a group.", errors={"__all__": ["Name either a user or a group."]})
    member_user = group = None
    if payload.user:
        member_user = get_user_model().objects.filter(username=payload.user, is_active=True).first()
        if member_user is None:
            raise DomainError(f"No active user named {payload.user!r}.", errors={"user": ["Unknown user."]})
    else:
        group = Group.objects.filter(name=payload.group).first()
        if group is None:
            raise DomainError(f"No group named {payload.group!r}.", errors={"group": ["Unknown group."]})
    return member_set(workspace=workspace, role=role_from_name(payload.role), member_user=member_user, group=group,
                      user=request.user)


@router.delete("/workspaces/{name}/members/{member_id}", response={204: None}, summary="Take a role away")
def remove_member(request, name: str, member_id: int):
    workspace = workspace_for(request.user, name, Role.ADMIN)
    member_remove(member=get_object_or_404(WorkspaceMember, workspace=workspace, pk=member_id), user=request.user)
    return Status(204, None)


# --- tokens (your own) ---------------------------------------------------------------------
class TokenOut(Schema):
    id: int
    name: str
    prefix: str
    created_at: datetime
    last_used_at: datetime | None
    expires_at: datetime | None
    revoked_at: datetime | None


class TokenCreatedOut(TokenOut):
    token: str = Field(description="The secret: shown only in this response")


class TokenIn(Schema):
    name: str = Field(max_length=100)
    expires_in_days: int | None = Field(None, ge=1, le=3650)


@router.get("/tokens", response=list[TokenOut], tags=["tokens"], summary="List your API tokens")
def list_tokens(request):
    return list(api_tokens_of(request.user))


@router.post("/tokens", response={201: TokenCreatedOut}, tags=["tokens"], summary="Create an API token")
def create_token(request, payload: TokenIn):
    token, raw = api_token_create(user=request.user, name=payload.name, expires_in_days=payload.expires_in_days)
    token.token = raw
    return Status(201, token)


@router.delete("/tokens/{token_id}", response={204: None}, tags=["tokens"], summary="Revoke one of your tokens")
def revoke_token(request, token_id: int):
    api_token_revoke(token=api_token_get(user=request.user, token_id=token_id), user=request.user)
    return Status(204, None)


# --- audit trail ----------------------------------------------------------------------------
class AuditEventOut(Schema):
    id: int
    created_at: datetime
    actor: str
    action: str
    workspace: str
    target: str
    remote_addr: str | None
    via: str
    details: dict

    @staticmethod
    def resolve_workspace(obj):
        return obj.workspace_name


def _audit_query(request, events, actor: str, action: str, since: str, until: str, limit: int, offset: int):
    if not 1 <= limit <= 500 or offset < 0:
        raise DomainError("limit must be 1–500 and offset not negative.",
                          errors={"limit": ["1–500"]} if not 1 <= limit <= 500 else {"offset": ["≥ 0"]})
    try:
        since_at, until_at = parse_when(since), parse_when(until, end=True)
    except ValueError as exc:
        raise DomainError(str(exc), errors={"since/until": [str(exc)]}) from None
    qs = audit_events(actor=actor, action=action, since=since_at, until=until_at)
    return list(qs.filter(pk__in=events.values("pk"))[offset:offset + limit]) if events is not None \
        else list(qs[offset:offset + limit])


@router.get("/audit", response=list[AuditEventOut], tags=["audit"], summary="The audit trail")
def list_audit_events(request, workspace: str = "", actor: str = "", action: str = "", since: str = "",
                      until: str = "", limit: int = 100, offset: Offset = 0):
    """Newest first. A superuser sees every event (failed logins, tokens, deleted workspaces);
    anyone else sees the events of the workspaces they may read."""
    events = None
    if workspace:
        events = AuditEvent.objects.filter(workspace_name=workspace)
    if not request.user.is_superuser:
        readable = readable_workspaces(request.user).values("pk")
        events = (events if events is not None else AuditEvent.objects.all()).filter(workspace_id__in=readable)
    return _audit_query(request, events, actor, action, since, until, limit, offset)


@router.get("/workspaces/{name}/audit", response=list[AuditEventOut], tags=["audit"],
            summary="A workspace's audit trail")
def list_workspace_audit_events(request, name: str, actor: str = "", action: str = "", since: str = "",
                                until: str = "", limit: int = 100, offset: Offset = 0):
    ws = workspace_for(request.user, name, Role.READER)
    return _audit_query(request, AuditEvent.objects.filter(workspace_id=ws.pk), actor, action, since, until,
                        limit, offset)
