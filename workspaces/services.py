"""Changing workspaces: create, settings, lock/unlock, delete, variables.

Code versions live in ``workspaces.code``, state versions in ``workspaces.state``.
"""

import json
import re

import hcl2
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError
from workspaces.audit import audit_record
from workspaces.code.services import provider_config_recorded
from workspaces.models import (
    ENV_VAR_NAME, TERRAFORM_IDENTIFIER, Role, Variable, Workspace, WorkspaceMember, sha256_hex
)
from workspaces.runs import runs


# --- workspaces -------------------------------------------------------------------------
@transaction.atomic
def workspace_create(*, name: str, description: str = "", auto_apply: bool = False,
                     terraform_version: str = "", user=None) -> Workspace:
    workspace = Workspace(name=name, description=description, auto_apply=auto_apply,
                          terraform_version=terraform_version)
    if Workspace.objects.filter(name=name).exists():
        raise Conflict(f"A workspace named {name!r} already exists.", errors={"name": ["Already exists."]})
    workspace.full_clean()
    try:
        with transaction.atomic():
            workspace.save()
    except IntegrityError:  # created by someone else between the check and the insert
        raise Conflict(f"A workspace named {name!r} already exists.") from None
    if _real_user(user) and not user.is_superuser:
        # The creator administers what they made (superusers already administer everything).
        WorkspaceMember.objects.create(workspace=workspace, user=user, role=Role.ADMIN)
    audit_record("workspace.create", user=user, workspace=workspace,
                 details={"description": description, "auto_apply": auto_apply,
                          "terraform_version": terraform_version})
    return workspace


def _real_user(user) -> bool:
    """A saved user account (not an anonymous user, nor the host operator of a command)."""
    return user is not None and getattr(user, "pk", None) is not None and getattr(user, "is_authenticated", False)


def workspace_lock(*, workspace: Workspace, reason: str, user=None) -> Workspace:
    """Lock a workspace: it refuses new runs until unlocked. Locking twice keeps the first reason."""
    updated = Workspace.objects.filter(pk=workspace.pk, locked=False).update(
        locked=True, lock_reason=reason, locked_by=user, locked_at=timezone.now(), updated_at=timezone.now()
    )
    workspace.refresh_from_db()
    if updated:
        transaction.on_commit(lambda: runs().workspace_lock_changed(workspace, locked=True, reason=reason, user=user))
    if not updated and reason and reason not in workspace.lock_reason:
        # Already locked (e.g. by an operator); a system lock must still be recorded.
        Workspace.objects.filter(pk=workspace.pk).update(lock_reason=f"{workspace.lock_reason}\n{reason}".strip())
        workspace.refresh_from_db()
    audit_record("workspace.lock", user=user, workspace=workspace,
                 details={"reason": reason, "already_locked": not updated})
    return workspace


def workspace_unlock(*, workspace: Workspace, user=None) -> Workspace:
    """Unlock a workspace; its queued runs may start again (once this commits)."""
    unlocked = Workspace.objects.filter(pk=workspace.pk, locked=True).update(
        locked=False, lock_reason="", locked_by=None, locked_at=None, updated_at=timezone.now()
    )
    workspace.refresh_from_db()
    audit_record("workspace.unlock", user=user, workspace=workspace)
    transaction.on_commit(lambda: runs().workspace_unlocked(workspace))
    if unlocked:
        transaction.on_commit(lambda: runs().workspace_lock_changed(workspace, locked=False, user=user))
    return workspace


AWS_ROLE_ARN = re.compile(r"^arn:aws[a-z-]*:iam::\d{12}:role/[\w+=,.@/-]+$")
AWS_REGION = re.compile(r"^[a-z]{2}(-[a-z]+)+-\d+$")
AWS_SESSION_NAME = re.compile(r"^[\w+=,.@-]{2,64}$")
AWS_RULES = {
    "aws_role_arn": (AWS_ROLE_ARN, "Not an IAM role ARN (arn:aws:iam::<12-digit account>:role/<name>)."),
    "aws_region": (AWS_REGION, "Not an AWS region name, e.g. eu-west-1."),
    "aws_session_name": (AWS_SESSION_NAME, "2–64 characters: letters, digits and +=,.@-_"),
}


def aws_settings_check(workspace: Workspace) -> None:
    """The AWS role settings of a workspace (the page, the API and the admin call this)."""
    errors = {}
    for field, (pattern, message) in AWS_RULES.items():
        value = (getattr(workspace, field) or "").strip()
        setattr(workspace, field, value)
        if value and not pattern.match(value):
            errors[field] = [message]
    if (workspace.aws_session_name or workspace.aws_external_id) and not workspace.aws_role_arn:
        errors.setdefault("aws_role_arn", []).append("A session name or external ID needs a role to assume.")
    if errors:
        raise DomainError(next(iter(errors.values()))[0], errors=errors)


SETTINGS_FIELDS = (
    "description", "auto_apply", "terraform_version", "provider_config",
    "aws_role_arn", "aws_session_name", "aws_external_id", "aws_region", "timeouts",
    "drift_schedule", "drift_cron",
)


def _validation_error(exc: ValidationError) -> DomainError:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    first = next(iter(errors.values()))[0]
    return DomainError(first, errors=errors)


@transaction.atomic
def workspace_update(*, workspace: Workspace, user=None, **changes) -> Workspace:
    """Change a workspace's settings; unknown fields are refused, the model validates the rest."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise DomainError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    previous_provider = workspace.provider_config or {}
    previous_drift = (workspace.drift_schedule, workspace.drift_cron)
    for field, value in changes.items():
        setattr(workspace, field, value)
    aws_settings_check(workspace)
    if not isinstance(workspace.provider_config, dict):
        raise DomainError("The provider configuration must be a JSON object.",
                          errors={"provider_config": ["Must be a JSON object."]})
    try:
        workspace.full_clean()
    except ValidationError as exc:
        raise _validation_error(exc) from None
    provider_changed = "provider_config" in changes and workspace.provider_config != previous_provider
    old = Workspace.objects.filter(pk=workspace.pk).values(*changes).first() or {}
    if "drift_cron" in changes:
        workspace.drift_cron = (workspace.drift_cron or "").strip()
    drift_changed = (workspace.drift_schedule, workspace.drift_cron) != previous_drift
    workspace.updated_at = timezone.now()
    workspace.save(update_fields=[*changes, "updated_at"])
    changed = sorted(field for field in changes if old.get(field) != getattr(workspace, field))
    # Field names only: a provider configuration may hold credentials.
    audit_record("workspace.update", user=user, workspace=workspace, details={"changed": changed})
    if provider_changed:
        provider_config_recorded(workspace=workspace, author=user)
        workspace.refresh_from_db()
    if drift_changed:
        saved = workspace
        transaction.on_commit(lambda: runs().drift_schedule_changed(saved))
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace, user=None) -> None:
    """Delete a workspace with its runs, variables and versions. Refused while a run is active."""
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    active = runs().active_run_id(workspace)
    if active is not None:
        raise Conflict(f"Run #{active} is still active: cancel it (or let it finish) before deleting the workspace.")
    runs().before_workspace_delete(workspace)
    audit_record("workspace.delete", user=user, workspace=workspace,
                 details={"state_versions": workspace.state_versions.count(),
                          "code_versions": workspace.code_versions.count()})
    workspace.delete()


@transaction.atomic
def variable_delete(*, variable: Variable, user=None) -> None:
    deleted, _ = Variable.objects.filter(pk=variable.pk).delete()
    if deleted:
        audit_record("variable.delete", user=user, workspace=variable.workspace,
                     target=f"{variable.category} variable {variable.key}",
                     details={"key": variable.key, "category": variable.category, "sensitive": variable.sensitive})


# --- variables --------------------------------------------------------------------------
def _check_hcl_value(value: str) -> None:
    try:
        hcl2.loads(f"v = {value}\n")
    except Exception:  # python-hcl2 raises several lark error types
        raise DomainError("Not a valid HCL value.",
                          errors={"value": ['Not a valid HCL value (e.g. ["a", "b"], {key = "v"}, 3).']}) from None


def variable_check(*, workspace: Workspace, key: str, category: str, value: str | None, hcl: bool,
                   sensitive: bool, existing: Variable | None, create: bool = False) -> None:
    """The rules of a variable, for every way in (pages, API, admin, commands)."""
    if category not in Variable.Category.values:
        raise DomainError(f"Unknown category {category!r}: use terraform or env.", errors={"category": ["Unknown."]})
    pattern = TERRAFORM_IDENTIFIER if category == Variable.Category.TERRAFORM else ENV_VAR_NAME
    if not key or not pattern.match(key):
        kind = "a Terraform identifier" if category == Variable.Category.TERRAFORM else "an environment variable name"
        raise DomainError(f"“{key}” is not {kind} (letters, digits and '_', not starting with a digit).",
                          errors={"key": [f"“{key}” is not {kind} (letters, digits and '_', not starting with a digit)."]})
    if create and existing is not None:
        raise Conflict(f"This workspace already has a variable “{key}” of this kind; edit it instead.",
                       errors={"key": [f"This workspace already has a variable “{key}” of this kind; edit it instead."]})
    if existing is not None and existing.sensitive and not sensitive:
        # Unmarking would show a secret: the rule is the same in the admin, the API and the pages.
        raise DomainError("A sensitive variable stays sensitive. Delete it and add it again to change that.",
                          errors={"sensitive": ["A sensitive variable stays sensitive. "
                                                "Delete it and add it again to change that."]})
    if hcl and value:
        _check_hcl_value(value)


@transaction.atomic
def variable_set(*, workspace: Workspace, key: str, value: str | None, category: str = Variable.Category.TERRAFORM,
                 hcl: bool = False, sensitive: bool = False, description: str = "", create: bool = False,
                 user=None) -> Variable:
    """Create or update a variable. ``value=None`` (or "" for a sensitive one) keeps a stored value.

    ``create`` refuses to overwrite an existing variable of that key.
    """
    var = Variable.objects.select_for_update().filter(workspace=workspace, category=category, key=key).first()
    if var is not None and var.sensitive and value == "":
        value = None  # a sensitive value is write-only: an empty field keeps it
    variable_check(workspace=workspace, key=key, category=category, value=value, hcl=hcl, sensitive=sensitive,
                   existing=var, create=create)
    if var is None:
        var = Variable(workspace=workspace, category=category, key=key)
        if value is None:
            value = ""
    old_plain = var.get_value() if var.pk and value is None else None
    was_sensitive = var.sensitive
    var.hcl, var.sensitive, var.description = hcl, sensitive, description
    if value is not None:
        var.set_value(value)
    elif was_sensitive != sensitive:
        var.set_value(old_plain)  # becoming sensitive: the kept value is stored encrypted
    var.full_clean()
    created = var.pk is None
    var.save()
    # Never the value: only that it changed.
    audit_record("variable.create" if created else "variable.update", user=user, workspace=workspace,
                 target=f"{category} variable {key}",
                 details={"key": key, "category": category, "sensitive": var.sensitive, "hcl": hcl,
                          "value_changed": value is not None})
    return var


def variables_checksum(workspace: Workspace) -> str:
    """What a plan was made with: changes whenever any variable (or its value) changes."""
    parts = [
        [v.category, v.key, v.hcl, v.sensitive, v.get_value()]
        for v in Variable.objects.filter(workspace=workspace).order_by("category", "key")
    ]
    return sha256_hex(json.dumps(parts, sort_keys=True))


# --- members ----------------------------------------------------------------------------
@transaction.atomic
def member_set(*, workspace: Workspace, role: int, member_user=None, group=None, user=None) -> WorkspaceMember:
    """Grant ``role`` in ``workspace`` to a user or a group (replacing the role they had)."""
    if (member_user is None) == (group is None):
        raise DomainError("Name either a user or a group.", errors={"__all__": ["Name either a user or a group."]})
    try:
        role = Role(int(role))
    except (TypeError, ValueError):
        raise DomainError(f"Unknown role {role!r}: use reader, planner, applier or admin.",
                          errors={"role": ["Unknown role."]}) from None
    lookup = {"user": member_user} if member_user is not None else {"group": group}
    member = WorkspaceMember.objects.select_for_update().filter(workspace=workspace, **lookup).first()
    if member is None:
        member = WorkspaceMember(workspace=workspace, **lookup)
    elif member.role == Role.ADMIN and role != Role.ADMIN:
        _keep_an_admin(workspace, leaving=member)
    previous = member.role if member.pk else None
    member.role = role
    member.save()
    audit_record("member.set", user=user, workspace=workspace, target=member.principal,
                 details={"role": Role(role).label.lower(),
                          "previous": Role(previous).label.lower() if previous else None})
    return member


@transaction.atomic
def member_remove(*, member: WorkspaceMember, user=None) -> None:
    """Take a user's or group's role away; the last admin of a workspace stays."""
    member = WorkspaceMember.objects.select_for_update().filter(pk=member.pk).first()
    if member is None:
        return
    if member.role == Role.ADMIN:
        _keep_an_admin(member.workspace, leaving=member)
    member.delete()
    audit_record("member.remove", user=user, workspace=member.workspace, target=member.principal,
                 details={"role": Role(member.role).label.lower()})


def _keep_an_admin(workspace: Workspace, *, leaving: WorkspaceMember) -> None:
    others = WorkspaceMember.objects.filter(workspace=workspace, role=Role.ADMIN).exclude(pk=leaving.pk)
    if not others.exists():
        raise Conflict("A workspace keeps at least one admin member: make someone else admin first.")


ROLE_NAMES = {role.label.lower(): role for role in Role}


def role_from_name(value) -> Role:
    """``reader``/``planner``/``applier``/``admin`` (or the number) as a Role."""
    if isinstance(value, str) and value.strip().lower() in ROLE_NAMES:
        return ROLE_NAMES[value.strip().lower()]
    try:
        return Role(int(value))
    except (TypeError, ValueError):
        raise DomainError(f"Unknown role {value!r}: use reader, planner, applier or admin.",
                          errors={"role": ["Use reader, planner, applier or admin."]}) from None
