"""Changing workspaces: create, lock/unlock, variables, code versions, state versions."""

import hashlib
import json
import uuid

from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError
from workspaces.models import StateVersion, Variable, Workspace, WorkspaceCodeVersion, sha256_hex


# --- workspaces -------------------------------------------------------------------------
@transaction.atomic
def workspace_create(*, name: str, description: str = "", auto_apply: bool = False,
                     terraform_version: str = "", user=None) -> Workspace:
    workspace = Workspace(name=name, description=description, auto_apply=auto_apply,
                          terraform_version=terraform_version)
    workspace.full_clean()
    try:
        with transaction.atomic():
            workspace.save()
    except IntegrityError:  # created by someone else between the check and the insert
        raise Conflict(f"A workspace named {name!r} already exists.") from None
    return workspace


def workspace_lock(*, workspace: Workspace, reason: str, user=None) -> Workspace:
    """Lock a workspace: it refuses new runs until unlocked. Locking twice keeps the first reason."""
    updated = Workspace.objects.filter(pk=workspace.pk, locked=False).update(
        locked=True, lock_reason=reason, locked_by=user, locked_at=timezone.now(), updated_at=timezone.now()
    )
    workspace.refresh_from_db()
    if not updated and reason and reason not in workspace.lock_reason:
        # Already locked (e.g. by an operator); a system lock must still be recorded.
        Workspace.objects.filter(pk=workspace.pk).update(lock_reason=f"{workspace.lock_reason}\n{reason}".strip())
        workspace.refresh_from_db()
    return workspace


def workspace_unlock(*, workspace: Workspace, user=None) -> Workspace:
    Workspace.objects.filter(pk=workspace.pk).update(
        locked=False, lock_reason="", locked_by=None, locked_at=None, updated_at=timezone.now()
    )
    workspace.refresh_from_db()
    return workspace


SETTINGS_FIELDS = (
    "description", "execution_mode", "auto_apply", "terraform_version", "provider_config",
    "aws_role_arn", "aws_session_name", "aws_external_id", "aws_region", "timeouts",
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
    for field, value in changes.items():
        setattr(workspace, field, value)
    if not isinstance(workspace.provider_config, dict):
        raise DomainError("The provider configuration must be a JSON object.",
                          errors={"provider_config": ["Must be a JSON object."]})
    try:
        workspace.full_clean()
    except ValidationError as exc:
        raise _validation_error(exc) from None
    workspace.updated_at = timezone.now()
    workspace.save(update_fields=[*changes, "updated_at"])
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace, user=None) -> None:
    """Delete a workspace with its runs, variables and versions. Refused while a run is active."""
    from executions.models import WorkspaceTask

    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    active = WorkspaceTask.objects.filter(
        workspace=workspace,
        status__in=[WorkspaceTask.Status.PENDING, WorkspaceTask.Status.QUEUED, WorkspaceTask.Status.RUNNING],
    ).order_by("id").values_list("id", flat=True).first()
    if active is not None:
        raise Conflict(f"Run #{active} is still active: cancel it (or let it finish) before deleting the workspace.")
    # Apply tasks protect their plan tasks: remove them first, then everything else cascades.
    WorkspaceTask.objects.filter(workspace=workspace, plan_task__isnull=False).delete()
    workspace.delete()


@transaction.atomic
def variable_delete(*, variable: Variable, user=None) -> None:
    Variable.objects.filter(pk=variable.pk).delete()


# --- variables --------------------------------------------------------------------------
def variable_set(*, workspace: Workspace, key: str, value: str | None, category: str = Variable.Category.TERRAFORM,
                 hcl: bool = False, sensitive: bool = False, description: str = "") -> Variable:
    """Create or update a variable. ``value=None`` keeps a stored (sensitive) value."""
    var = Variable.objects.filter(workspace=workspace, category=category, key=key).first()
    if var is None:
        var = Variable(workspace=workspace, category=category, key=key)
        if value is None:
            value = ""
    was_sensitive = var.sensitive
    old_plain = var.get_value() if var.pk and value is None else None
    var.hcl, var.sensitive, var.description = hcl, sensitive, description
    if value is not None:
        var.set_value(value)
    elif was_sensitive != sensitive:
        var.set_value(old_plain)
    var.full_clean()
    var.save()
    return var


def variables_checksum(workspace: Workspace) -> str:
    """What a plan was made with: changes whenever any variable (or its value) changes."""
    parts = [
        [v.category, v.key, v.hcl, v.sensitive, v.get_value()]
        for v in Variable.objects.filter(workspace=workspace).order_by("category", "key")
    ]
    return sha256_hex(json.dumps(parts, sort_keys=True))


# --- code versions ----------------------------------------------------------------------
def code_checksum(code: str, code_format: str, provider_config: dict) -> str:
    return sha256_hex(json.dumps([code_format, code, provider_config], sort_keys=True))


@transaction.atomic
def code_version_save(*, workspace: Workspace, code: str, code_format: str = WorkspaceCodeVersion.Format.JSON,
                      provider_config: dict | None = None, message: str = "", author=None
                      ) -> tuple[WorkspaceCodeVersion, bool]:
    """Make ``code`` the workspace's current code. Returns (version, created).

    Unchanged content (same checksum as the current version) makes no new version.
    Validation of the code itself is the caller's job (see ``workspaces.codecheck``).
    """
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if provider_config is None:
        provider_config = workspace.provider_config or {}
    checksum = code_checksum(code, code_format, provider_config)
    current = workspace.current_code_version
    if current is not None and current.checksum == checksum:
        return current, False
    number = (workspace.code_versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = WorkspaceCodeVersion.objects.create(
        workspace=workspace, number=number, code=code, code_format=code_format,
        provider_config=provider_config, checksum=checksum, message=message, author=author,
    )
    Workspace.objects.filter(pk=workspace.pk).update(current_code_version=version, updated_at=timezone.now())
    return version, True


# --- state versions ---------------------------------------------------------------------
class InvalidState(DomainError):
    pass


def parse_state(content: str | bytes) -> dict:
    """Parse and check a terraform.tfstate document (format version, serial, lineage)."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidState(f"The state is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidState("The state must be a JSON object.")
    if data.get("version") != 4:
        raise InvalidState(f"Unsupported state format version {data.get('version')!r}; Terraform writes version 4.")
    serial = data.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise InvalidState("The state has no valid 'serial' (a non-negative integer).")
    lineage = data.get("lineage")
    if not isinstance(lineage, str) or not lineage:
        raise InvalidState("The state has no 'lineage'.")
    if not isinstance(data.get("resources", []), list):
        raise InvalidState("The state's 'resources' must be a list.")
    return data


def mask_outputs(outputs: dict) -> dict:
    return {
        name: {"value": "(sensitive)" if out.get("sensitive") else out.get("value"),
               "type": out.get("type"), "sensitive": bool(out.get("sensitive"))}
        for name, out in (outputs or {}).items()
    }


def latest_state(workspace: Workspace) -> StateVersion | None:
    return StateVersion.objects.filter(workspace=workspace).order_by("-serial").first()


def state_version_create(*, workspace: Workspace, content: str, task=None, user=None, source: str = "apply",
                         force: bool = False, renumber: bool = False, sequential: bool = False) -> StateVersion:
    """Store a state as a new version.

    - default (upload): a serial not newer than the current one, or another lineage, is
      refused unless ``force`` (a forced state still gets the next serial);
    - ``renumber`` (rollback): older content comes back as current + 1, same lineage;
    - ``sequential`` (what an apply wrote): the lineage must match and the serial must not
      have gone backwards; the version is numbered current + 1 (1 for the first state), so
      state version N has serial N. The content is rewritten with that serial, which the
      next terraform run continues from.
    """
    data = parse_state(content)
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        current = latest_state(workspace)
        if current is not None and not force and data["lineage"] != current.lineage and not renumber:
            raise Conflict(
                f"Lineage {data['lineage']} differs from the workspace's state lineage {current.lineage}: "
                "this state belongs to another workspace or was re-initialised. Force it to replace the history."
            )
        if sequential:
            if current is not None and not force and data["serial"] < current.serial:
                raise Conflict(
                    f"Serial went backwards: terraform wrote serial {data['serial']}, the workspace is at "
                    f"{current.serial}."
                )
            serial = current.serial + 1 if current is not None else 1
        elif renumber:
            serial = current.serial + 1 if current is not None else max(data["serial"], 1)
            if current is not None and not force:
                data["lineage"] = current.lineage
        else:
            if current is not None and not force and data["serial"] <= current.serial:
                raise Conflict(
                    f"Serial {data['serial']} is not newer than the current serial {current.serial}. "
                    "Force it to store it anyway (it gets the next serial)."
                )
            serial = data["serial"]
            if current is not None and serial <= current.serial:
                serial = current.serial + 1
        if serial != data["serial"] or (renumber and current is not None):
            data["serial"] = serial
            content = json.dumps(data, indent=2) + "\n"
        raw = content.encode() if isinstance(content, str) else content
        try:
            return StateVersion.objects.create(
                workspace=workspace,
                serial=serial,
                lineage=data["lineage"],
                checksum=hashlib.sha256(raw).hexdigest(),
                md5=hashlib.md5(raw).hexdigest(),
                size=len(raw),
                resource_count=sum(
                    len(r.get("instances", [])) or 1 for r in data.get("resources", []) if r.get("mode") == "managed"
                ),
                outputs=mask_outputs(data.get("outputs", {})),
                content=raw.decode(),
                task=task,
                created_by=user,
                source=source,
            )
        except IntegrityError:
            raise Conflict(f"State serial {serial} already exists for this workspace.") from None


def new_lineage() -> str:
    return str(uuid.uuid4())
