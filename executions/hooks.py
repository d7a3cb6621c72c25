"""Run hooks as stored configuration: who may manage them, saving (with its rules), deleting.

The UI (workspace Settings → Hooks, the global page), the admin and the API all call these.
Running them is ``executions.executor.hooks``.
"""

from django.conf import settings
from django.core import signing
from django.db import IntegrityError, transaction

from executions.models import Hook, HookCallback, WorkspaceTask
from iacplatform.errors import Conflict, DomainError, NotFound
from workspaces.access import role_of
from workspaces.audit import audit_record
from workspaces.crypto import encrypt_text
from workspaces.models import Role


def can_manage_hooks(user, workspace=None) -> bool:
    """Whether ``user`` may create, change or delete the hooks and policy sets of ``workspace``
    (``None``: the global ones). The one place this is decided: superusers and staff everywhere,
    and a workspace's admins (per-workspace roles) for its own."""
    if not getattr(user, "is_authenticated", False):
        return False
    if user.is_superuser or user.is_staff:
        return True
    role = role_of(user, workspace) if workspace is not None else None
    return bool(role and role >= Role.ADMIN)


def hook_function_allowed(path: str) -> bool:
    return path in set(getattr(settings, "IAC_HOOK_FUNCTIONS", []) or [])


def hook_check(hook: Hook) -> None:
    """The rules a hook must follow to be saved; a DomainError (400) names the field."""
    errors = {}
    if not hook.name.strip():
        errors["name"] = ["a hook needs a name"]
    if hook.stage not in Hook.HookStage.values:
        errors["stage"] = [f"one of {', '.join(Hook.HookStage.values)}"]
    if hook.enforcement not in Hook.Enforcement.values:
        errors["enforcement"] = ["mandatory or advisory"]
    if not 1 <= int(hook.timeout or 0) <= 3600:
        errors["timeout"] = ["between 1 and 3600 seconds"]
    if hook.kind == Hook.Kind.SCRIPT and not hook.command.strip():
        errors["command"] = ["a script hook needs a command"]
    elif hook.kind == Hook.Kind.HTTP and not hook.url.startswith(("http://", "https://")):
        errors["url"] = ["an HTTP hook needs an http(s) URL"]
    elif hook.kind == Hook.Kind.FUNCTION and not hook_function_allowed(hook.function):
        errors["function"] = [f"{hook.function!r} is not listed in the IAC_HOOK_FUNCTIONS setting"]
    elif hook.kind not in Hook.Kind.values:
        errors["kind"] = ["script, http or function"]
    if errors:
        field, problems = next(iter(errors.items()))
        raise DomainError(f"The hook cannot be saved: {field}: {problems[0]}.", errors=errors)


@transaction.atomic
def hook_save(*, hook: Hook | None = None, workspace=None, secret: str | None = None, user=None, **fields) -> Hook:
    """Create (``hook`` None) or change a hook. ``secret`` (HTTP hooks) is stored encrypted;
    None keeps the current one."""
    hook = hook or Hook(workspace=workspace)
    for key, value in fields.items():
        setattr(hook, key, value.strip() if isinstance(value, str) else value)
    if secret is not None:
        hook.secret = encrypt_text(secret) if secret else ""
    hook_check(hook)
    created = hook.pk is None
    hook.save()
    audit_record("hook.create" if created else "hook.change", user=user, workspace=hook.workspace,
                 target=f"hook {hook.name}", details={"stage": hook.stage, "kind": hook.kind,
                                                      "enforcement": hook.enforcement, "enabled": hook.enabled,
                                                      "secret_changed": secret is not None})
    return hook


def hook_delete(*, hook: Hook, user=None) -> None:
    audit_record("hook.delete", user=user, workspace=hook.workspace, target=f"hook {hook.name}")
    hook.delete()


def hooks_for(workspace, stage: str | None = None):
    """The enabled hooks that apply to a run of ``workspace``: the global ones, then its own."""
    hooks = Hook.objects.filter(enabled=True).filter(workspace__isnull=True) | Hook.objects.filter(
        enabled=True, workspace=workspace)
    if stage:
        hooks = hooks.filter(stage=stage)
    return hooks.order_by("workspace_id", "id")


# --- asynchronous HTTP hooks: the callback -------------------------------------------------------
CALLBACK_SALT = "executions.hook-callback"
CALLBACK_GRACE_SECONDS = 60


def hook_callback_token(*, task_id: int, hook: Hook, stage: str) -> str:
    """The token an asynchronous hook sends back (``Authorization: Bearer <token>``): signed, it
    names the run, the hook and the pipeline point, and expires with the hook's timeout."""
    return signing.dumps({"task": task_id, "hook": hook.pk, "stage": stage}, salt=CALLBACK_SALT)


class CallbackRefused(DomainError):
    status = 401


def hook_callback_record(*, token: str, body: dict) -> HookCallback:
    """Store what an asynchronous hook answered for one run; the waiting worker picks it up."""
    try:
        claims = signing.loads(token, salt=CALLBACK_SALT)
    except signing.BadSignature:
        raise CallbackRefused("A valid callback token is required: Authorization: Bearer <callback_token>.") from None
    hook = Hook.objects.filter(pk=claims.get("hook")).first()
    task = WorkspaceTask.objects.filter(pk=claims.get("task")).first()
    if hook is None or task is None:
        raise NotFound("The run or the hook of this callback no longer exists.")
    try:
        signing.loads(token, salt=CALLBACK_SALT, max_age=hook.timeout + CALLBACK_GRACE_SECONDS)
    except signing.SignatureExpired:
        raise CallbackRefused(f"The callback token expired (the hook's timeout is {hook.timeout} s).") from None
    status, message, url = body.get("status"), body.get("message", ""), body.get("url", "") or ""
    errors = {}
    if status not in ("passed", "failed"):
        errors["status"] = ["passed or failed"]
    if not isinstance(message, str):
        errors["message"] = ["a string"]
    if not isinstance(url, str) or (url and not url.startswith(("http://", "https://"))) or len(url) > 500:
        errors["url"] = ["an http(s) URL of at most 500 characters"]
    if errors:
        field, problems = next(iter(errors.items()))
        raise DomainError(f"The callback was not recorded: {field}: {problems[0]}.", errors=errors)
    try:
        with transaction.atomic():
            return HookCallback.objects.create(task=task, hook=hook, stage=str(claims.get("stage", ""))[:16],
                                               status=status, message=message.replace("\x00", "")[:5000],
                                               url=url.replace("\x00", ""))
    except IntegrityError:
        raise Conflict("This hook has already answered for this run and stage.") from None
