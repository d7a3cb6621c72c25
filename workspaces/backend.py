"""Terraform's ``http`` state backend: who may use it, the CLI's lock, and states it writes.

One lock for both worlds: a CLI lock is a ``CliStateLock`` row *and* the workspace's own lock
(``Workspace.locked`` with the reason "locked by terraform CLI: <who>, <operation>, since
<time>"), so platform runs are refused by the checks they already have; while a platform run
is running, a CLI's LOCK is refused with that run as the lock holder. Every state the CLI
POSTs becomes a version through ``state_version_create`` (serial and lineage checked as for a
platform apply). The views (``workspaces.views_backend``) only translate HTTP.
"""

import logging

from django.db import transaction
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError, Forbidden
from workspaces.access import role_of
from workspaces.audit import audit_record
from workspaces.models import AuditEvent, CliStateLock, Role, StateVersion, Workspace
from workspaces.runs import runs
from workspaces.services import workspace_unlock
from workspaces.state.services import state_version_create

audit_log = logging.getLogger("workspaces.audit")
CLI_SOURCE = "terraform-cli"
CLI_LOCK_PREFIX = "locked by terraform CLI:"
CLI_WRITE_REFUSED = "state.cli_write_refused"


class BackendLocked(DomainError):
    """The state is locked by someone else: ``info`` is the holder as a terraform lock info."""

    status = 423

    def __init__(self, message: str, info: dict):
        super().__init__(message)
        self.info = info


def backend_access(user, workspace, access: str) -> bool:
    """May ``user`` use the state backend of ``workspace`` for ``access``? By workspace role:

    ``read`` (GET: the raw state, with its secrets) needs the planner role — whoever may plan can
    make code print any secret of the workspace anyway, and a CLI plan needs the state; a reader
    never gets the raw state. ``write`` (POST, LOCK, UNLOCK of one's own lock) needs the applier
    role, ``admin`` (force-unlock, breaking another's lock) the admin role. Superusers may do
    everything.
    """
    if user is None or not getattr(user, "is_active", False):
        return False
    need = {"read": Role.PLANNER, "write": Role.APPLIER, "admin": Role.ADMIN}.get(access)
    if need is None:
        raise ValueError(f"unknown backend access {access!r}")
    return (role_of(user, workspace) or 0) >= need


def _require(user, workspace, access: str, what: str) -> None:
    if not backend_access(user, workspace, access):
        raise Forbidden(f"{getattr(user, 'username', 'anonymous')} may not {what} the state of workspace "
                        f"{workspace.name}.")


def cli_lock_reason(lock: CliStateLock) -> str:
    since = lock.created_at.strftime("%Y-%m-%d %H:%M:%S UTC")
    return f"{CLI_LOCK_PREFIX} {lock.who or '?'}, {lock.operation or '?'}, since {since} (lock ID {lock.lock_id})"


def lock_info(lock: CliStateLock) -> dict:
    """The lock as terraform's lock info JSON (what it sent, completed)."""
    info = {"ID": lock.lock_id, "Operation": lock.operation, "Info": "", "Who": lock.who, "Version": lock.version,
            "Created": lock.created_at.isoformat().replace("+00:00", "Z"), "Path": ""}
    info.update({k: v for k, v in (lock.info or {}).items() if k in info and v})
    return info


def _operator_lock_info(workspace: Workspace) -> dict:
    who = workspace.locked_by.get_username() if workspace.locked_by_id else "platform"
    created = (workspace.locked_at or timezone.now()).isoformat().replace("+00:00", "Z")
    return {"ID": f"workspace-lock-{workspace.pk}", "Operation": "workspace locked on the platform",
            "Info": workspace.lock_reason or "no reason given", "Who": who, "Version": "", "Created": created,
            "Path": ""}


def cli_lock_get(workspace: Workspace) -> CliStateLock | None:
    return CliStateLock.objects.select_related("user").filter(workspace_id=workspace.pk).first()


def cli_lock_acquire(*, workspace: Workspace, info: dict, user) -> CliStateLock:
    """LOCK: take the workspace's lock for the CLI, or raise ``BackendLocked`` naming the holder."""
    _require(user, workspace, "write", "lock")
    lock_id = str(info.get("ID") or "").strip()
    if not lock_id:
        raise DomainError("The lock info has no ID.")
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
        held = cli_lock_get(workspace)
        if held is not None:
            raise BackendLocked(f"State already locked by terraform CLI: {held.who}", lock_info(held))
        running = runs().running_run_lock_info(workspace)
        if running is not None:
            raise BackendLocked(f"A platform run is running: {running['Info']}", running)
        if workspace.locked:
            raise BackendLocked(f"Workspace {workspace.name} is locked: {workspace.lock_reason}",
                                _operator_lock_info(workspace))
        lock = CliStateLock.objects.create(
            workspace=workspace, lock_id=lock_id[:100], operation=str(info.get("Operation") or "")[:100],
            who=str(info.get("Who") or "")[:255], version=str(info.get("Version") or "")[:40],
            info={k: info[k] for k in ("ID", "Operation", "Info", "Who", "Version", "Created", "Path") if k in info},
            user=user,
        )
        now = timezone.now()
        Workspace.objects.filter(pk=workspace.pk).update(
            locked=True, lock_reason=cli_lock_reason(lock), locked_by=user, locked_at=now, updated_at=now)
    audit_log.info("cli lock user=%s workspace=%s id=%s operation=%s who=%s", user.get_username(), workspace.name,
                   lock.lock_id, lock.operation, lock.who)
    return lock


def _release(workspace: Workspace, lock: CliStateLock) -> None:
    CliStateLock.objects.filter(pk=lock.pk).delete()
    current = Workspace.objects.get(pk=workspace.pk)
    if current.locked and current.lock_reason.startswith(CLI_LOCK_PREFIX):
        workspace_unlock(workspace=current)


def cli_lock_release(*, workspace: Workspace, lock_id: str, user, force: bool = False) -> None:
    """UNLOCK: release the CLI's lock. Another user's lock, or a ``force``-unlock (terraform
    force-unlock sends only the ID), needs admin access."""
    _require(user, workspace, "write", "unlock")
    with transaction.atomic():
        Workspace.objects.select_for_update().get(pk=workspace.pk)
        lock = cli_lock_get(workspace)
        if lock is None:
            if force:
                raise Conflict(f"Workspace {workspace.name} holds no terraform CLI lock (ID {lock_id}).")
            return  # already released (e.g. broken by an admin): nothing to do
        if lock_id and lock_id != lock.lock_id:
            raise BackendLocked(f"The lock ID {lock_id} does not match the held lock {lock.lock_id}.",
                                lock_info(lock))
        if force or lock.user_id != user.pk:
            if not backend_access(user, workspace, "admin"):
                raise Forbidden(f"Only a workspace admin may force-unlock the state of {workspace.name} "
                                f"(locked by {lock.who}, {lock.operation}).")
            audit_log.warning("cli lock force-unlocked user=%s workspace=%s id=%s holder=%s operation=%s",
                              user.get_username(), workspace.name, lock.lock_id, lock.who, lock.operation)
        _release(workspace, lock)
    audit_log.info("cli unlock user=%s workspace=%s id=%s", user.get_username(), workspace.name, lock_id)


def cli_lock_break(*, workspace: Workspace, user) -> CliStateLock:
    """An admin breaks a (stale) CLI lock from the overview page; audited."""
    lock = cli_lock_get(workspace)
    if lock is None:
        raise Conflict(f"Workspace {workspace.name} holds no terraform CLI lock.")
    cli_lock_release(workspace=workspace, lock_id=lock.lock_id, user=user, force=True)
    return lock


def cli_lock_is_stale(lock: CliStateLock, *, now=None, stale_seconds: int) -> bool:
    return ((now or timezone.now()) - lock.created_at).total_seconds() > stale_seconds


def backend_state_get(*, workspace: Workspace, user) -> StateVersion | None:
    _require(user, workspace, "read", "read")
    return StateVersion.objects.filter(workspace=workspace).order_by("-serial").first()


def backend_state_write(*, workspace: Workspace, content: bytes, lock_id: str, user) -> StateVersion:
    """POST: a new state from the CLI, as a state version (serial and lineage checked as for a
    platform apply). With a lock held, only its holder (``?ID=``) may write."""
    _require(user, workspace, "write", "write")
    try:
        version = _store_cli_state(workspace=workspace, content=content, lock_id=lock_id, user=user)
    except BackendLocked:
        raise
    except DomainError as exc:
        # Terraform's http client prints only "HTTP error: 409" for a refused write (it never reads
        # the body of a write's answer): the reason is also kept where the operator looks — the
        # workspace overview and the audit trail.
        audit_log.warning("cli state write refused user=%s workspace=%s lock=%s: %s", user.get_username(),
                          workspace.name, lock_id or "-", exc.message)
        audit_record(CLI_WRITE_REFUSED, user=user, workspace=workspace, target="terraform CLI state write",
                     details={"reason": exc.message, "lock_id": lock_id})
        raise
    audit_log.info("cli state write user=%s workspace=%s serial=%s md5=%s lock=%s", user.get_username(),
                   workspace.name, version.serial, version.md5, lock_id or "-")
    return version


def _store_cli_state(*, workspace: Workspace, content: bytes, lock_id: str, user) -> StateVersion:
    with transaction.atomic():
        workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
        lock = cli_lock_get(workspace)
        if lock is not None and lock.lock_id != lock_id:
            raise BackendLocked(f"The state is locked by terraform CLI ({lock.who}, lock ID {lock.lock_id}); "
                                f"this write {'has lock ID ' + lock_id if lock_id else 'has no lock ID'}.",
                                lock_info(lock))
        if lock is None and lock_id:
            # terraform sends ?ID= only while it believes it holds the lock: it was broken or forced open
            raise Conflict(f"Lock {lock_id} is not held on workspace {workspace.name} (it was force-unlocked or "
                           f"broken by an admin): the state was not stored. Pull the state and run again.")
        if lock is None:
            running = runs().running_run_lock_info(workspace)
            if running is not None:
                raise BackendLocked(f"A platform run is running: {running['Info']}", running)
            if workspace.locked:
                raise BackendLocked(f"Workspace {workspace.name} is locked: {workspace.lock_reason}",
                                    _operator_lock_info(workspace))
        operation = lock.operation if lock is not None else "no lock"
        try:
            text = content.decode()
        except UnicodeDecodeError:
            raise DomainError("The state is not UTF-8 JSON.") from None
        version = state_version_create(workspace=workspace, content=text, user=user, source=CLI_SOURCE,
                                       sequential=True)
        version.source_detail = f"written by terraform CLI ({user.get_username()}, {operation})"
        version.save(update_fields=["source_detail"])
    return version


def last_refused_cli_write(workspace: Workspace):
    """The newest refused CLI write when no state was stored since (for the overview), or None."""
    event = AuditEvent.objects.filter(workspace_id=workspace.pk, action=CLI_WRITE_REFUSED).order_by("-pk").first()
    if event is None or StateVersion.objects.filter(workspace=workspace, created_at__gt=event.created_at).exists():
        return None
    return event
