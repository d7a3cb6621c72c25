"""Storing states: the one way a state becomes a version (apply, upload, rollback, recovery)."""

import hashlib
import json
import logging

from django.conf import settings
from django.db import IntegrityError, transaction

from iacplatform.errors import Conflict, Forbidden
from workspaces.access import role_of
from workspaces.audit import audit_record
from workspaces.models import Role, StateVersion, Workspace
from workspaces.runs import runs
from workspaces.secrets import mask_outputs
from workspaces.state.document import InvalidState, check_resources, parse_state, resource_instance_count
from workspaces.state.selectors import latest_state, state_version_get

state_log = logging.getLogger("workspaces.state")


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
        current = latest_state(workspace, content=False)
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
                resource_count=resource_instance_count(data),
                outputs=mask_outputs(data.get("outputs", {})),
                content=raw.decode(),
                task=task,
                created_by=user,
                source=source,
            )
        except IntegrityError:
            raise Conflict(f"State serial {serial} already exists for this workspace.") from None


def _refuse_while_running(workspace: Workspace, action: str) -> None:
    running = runs().running_run_id(workspace)
    if running is not None:
        raise Conflict(f"Run #{running} is running on workspace {workspace.name}; {action} once it has finished.")


def state_rollback(*, workspace: Workspace, serial: int, user=None) -> StateVersion:
    """Store the content of state ``serial`` as a new version (serial = current + 1, same lineage).

    Refused while a run of the workspace is running (its apply would save over it).
    """
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        _refuse_while_running(workspace, "roll the state back")
        target = state_version_get(workspace=workspace, serial=serial, content=True)
        current = latest_state(workspace)
        if current is not None and current.serial == target.serial:
            raise Conflict(f"Serial {serial} is already the current state; there is nothing to roll back.")
        version = state_version_create(
            workspace=workspace, content=target.content, user=user, source="rollback", renumber=True
        )
        audit_record("state.rollback", user=user, workspace=workspace, target=f"state serial {version.serial}",
                     details={"from_serial": serial, "new_serial": version.serial})
    state_log.info("state rollback user=%s workspace=%s from_serial=%s new_serial=%s",
                   getattr(user, "username", None), workspace.name, serial, version.serial)
    return version


def state_upload_max_bytes() -> int:
    return int(getattr(settings, "IAC_STATE_UPLOAD_MAX_BYTES", 64 * 1024 * 1024))


def state_upload(*, workspace: Workspace, content: str | bytes, user=None, force: bool = False) -> StateVersion:
    """Store an uploaded terraform.tfstate as a new version (migration from another backend).

    The file must be a Terraform state (format 4, serial, lineage). Another lineage or a
    serial not newer than the current one is refused unless ``force``; a forced state
    lower than the current serial is stored with the next serial (history stays ordered).
    """
    limit = state_upload_max_bytes()
    if len(content) > limit:
        raise InvalidState(f"The file is larger than {limit // (1024 * 1024)} MB.")
    if isinstance(content, bytes):
        try:
            content = content.decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidState("The file is not UTF-8 text; a terraform.tfstate is JSON.") from None
    if not content.strip():
        raise InvalidState("The file is empty.")
    data = parse_state(content)
    check_resources(data)
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        _refuse_while_running(workspace, "upload the state")
        version = state_version_create(workspace=workspace, content=content, user=user, source="upload", force=force)
        audit_record("state.upload", user=user, workspace=workspace, target=f"state serial {version.serial}",
                     details={"serial": version.serial, "lineage": version.lineage, "forced": force,
                              "size": version.size, "checksum": version.checksum})
    state_log.info("state upload user=%s workspace=%s serial=%s lineage=%s forced=%s size=%s",
                   getattr(user, "username", None), workspace.name, version.serial, version.lineage,
                   force, version.size)
    return version


def can_download_state(user, workspace: Workspace) -> bool:
    """The raw state holds every secret in clear text: it takes the workspace's admin role."""
    role = role_of(user, workspace)
    return bool(role and role >= Role.ADMIN)


def state_download(*, workspace: Workspace, serial: int, user) -> tuple[str, str]:
    """(file name, raw content) of a state version; permission-checked and logged."""
    if not can_download_state(user, workspace):
        state_log.warning("state download refused user=%s workspace=%s serial=%s",
                          getattr(user, "username", None), workspace.name, serial)
        audit_record("state.download_refused", user=user, workspace=workspace, target=f"state serial {serial}")
        raise Forbidden(
            "Downloading a raw state needs the admin role in the workspace: "
            "it holds sensitive values in clear text."
        )
    version = state_version_get(workspace=workspace, serial=serial, content=True)
    state_log.info("state download user=%s workspace=%s serial=%s", user.get_username(), workspace.name, serial)
    audit_record("state.download", user=user, workspace=workspace, target=f"state serial {serial}",
                 details={"serial": serial, "checksum": version.checksum})
    return f"{workspace.name}-serial-{serial}.tfstate", version.content
