"""JSON API for run checks: hooks, policy sets and policy overrides."""


from django.shortcuts import get_object_or_404
from ninja import Router, Schema, Status

from executions.api import TaskOut, load_task, task_for
from executions.hooks import can_manage_hooks, hook_delete, hook_save
from executions.models import Hook, PolicySet
from executions.policies import policy_override, policy_set_delete, policy_set_save
from iacplatform.errors import Forbidden
from workspaces.access import workspace_for
from workspaces.models import Role


router = Router(tags=["checks"])


class HookIn(Schema):
    name: str
    stage: str
    kind: str
    enforcement: str = "advisory"
    command: str = ""
    url: str = ""
    secret: str | None = None
    function: str = ""
    timeout: int = 30
    asynchronous: bool = False
    enabled: bool = True


class HookOut(Schema):
    id: int
    workspace: str | None
    name: str
    stage: str
    kind: str
    enforcement: str
    command: str
    url: str
    function: str
    timeout: int
    asynchronous: bool
    enabled: bool
    has_secret: bool

    @staticmethod
    def resolve_workspace(obj):
        return obj.workspace.name if obj.workspace_id else None

    @staticmethod
    def resolve_has_secret(obj):
        return bool(obj.secret)


def _hook_scope(request, name: str | None):
    workspace = workspace_for(request.user, name, Role.READER) if name else None
    if not can_manage_hooks(request.user, workspace):
        raise Forbidden("Only administrators manage hooks.")
    return workspace


@router.get("/hooks", response=list[HookOut], tags=["hooks"])
def list_global_hooks(request):
    _hook_scope(request, None)
    return list(Hook.objects.filter(workspace__isnull=True).select_related("workspace"))


@router.post("/hooks", response={201: HookOut}, tags=["hooks"])
def create_global_hook(request, payload: HookIn):
    data = payload.dict()
    return Status(201, hook_save(workspace=_hook_scope(request, None), secret=data.pop("secret"), user=request.user,
                                 **data))


@router.get("/workspaces/{name}/hooks", response=list[HookOut], tags=["hooks"])
def list_workspace_hooks(request, name: str):
    return list(Hook.objects.filter(workspace=_hook_scope(request, name)).select_related("workspace"))


@router.post("/workspaces/{name}/hooks", response={201: HookOut}, tags=["hooks"])
def create_workspace_hook(request, name: str, payload: HookIn):
    data = payload.dict()
    return Status(201, hook_save(workspace=_hook_scope(request, name), secret=data.pop("secret"), user=request.user,
                                 **data))


@router.delete("/hooks/{hook_id}", response={204: None}, tags=["hooks"])
def delete_hook(request, hook_id: int):
    hook = get_object_or_404(Hook.objects.select_related("workspace"), pk=hook_id)
    _hook_scope(request, hook.workspace.name if hook.workspace_id else None)
    hook_delete(hook=hook, user=request.user)
    return Status(204, None)


# --- policy sets and overrides -------------------------------------------------------------------
class PolicySetIn(Schema):
    name: str
    enforcement: str = "advisory"
    rego: str
    enabled: bool = True
    message: str = ""


class PolicySetOut(Schema):
    id: int
    workspace: str | None
    name: str
    enforcement: str
    enabled: bool
    version: int | None
    rego: str

    @staticmethod
    def resolve_workspace(obj):
        return obj.workspace.name if obj.workspace_id else None

    @staticmethod
    def resolve_version(obj):
        return obj.current.number if obj.current else None

    @staticmethod
    def resolve_rego(obj):
        return obj.current.rego if obj.current else ""


class OverrideIn(Schema):
    reason: str


@router.get("/policy-sets", response=list[PolicySetOut], tags=["policies"])
def list_global_policy_sets(request):
    _hook_scope(request, None)
    return list(PolicySet.objects.filter(workspace__isnull=True))


@router.post("/policy-sets", response={201: PolicySetOut}, tags=["policies"])
def create_global_policy_set(request, payload: PolicySetIn):
    return Status(201, policy_set_save(workspace=_hook_scope(request, None), user=request.user, **payload.dict()))


@router.get("/workspaces/{name}/policy-sets", response=list[PolicySetOut], tags=["policies"])
def list_workspace_policy_sets(request, name: str):
    return list(PolicySet.objects.filter(workspace=_hook_scope(request, name)))


@router.post("/workspaces/{name}/policy-sets", response={201: PolicySetOut}, tags=["policies"])
def create_workspace_policy_set(request, name: str, payload: PolicySetIn):
    return Status(201, policy_set_save(workspace=_hook_scope(request, name), user=request.user, **payload.dict()))


@router.put("/policy-sets/{policy_id}", response=PolicySetOut, tags=["policies"])
def update_policy_set(request, policy_id: int, payload: PolicySetIn):
    policy_set = get_object_or_404(PolicySet.objects.select_related("workspace"), pk=policy_id)
    workspace = _hook_scope(request, policy_set.workspace.name if policy_set.workspace_id else None)
    return policy_set_save(policy_set=policy_set, workspace=workspace, user=request.user, **payload.dict())


@router.delete("/policy-sets/{policy_id}", response={204: None}, tags=["policies"])
def delete_policy_set(request, policy_id: int):
    policy_set = get_object_or_404(PolicySet.objects.select_related("workspace"), pk=policy_id)
    _hook_scope(request, policy_set.workspace.name if policy_set.workspace_id else None)
    policy_set_delete(policy_set=policy_set, user=request.user)
    return Status(204, None)


@router.post("/tasks/{task_id}/override", response=TaskOut, tags=["policies"])
def override(request, task_id: int, payload: OverrideIn):
    policy_override(task=task_for(request, task_id), user=request.user, reason=payload.reason,
                    remote_addr=request.META.get("REMOTE_ADDR", ""))
    return load_task(task_id)
