"""JSON API for code versions and state versions (thin callers of ``workspaces.versions``).

Version numbers and serials are taken as text and checked here, so a bad one answers
400 with the reason (not a bare routing 404); a well-formed one that does not exist in
*this* workspace answers 404.
"""

import json
from datetime import datetime
from typing import Any

from django.http import HttpResponse
from ninja import Query, Router, Schema, Status

from iacplatform import inputs
from iacplatform.inputs import Offset
from iacplatform.errors import DomainError
from workspaces.code import selectors as code_selectors
from workspaces.code import services as code_services
from workspaces.diffs import DEFAULT_CONTEXT
from workspaces.access import workspace_for
from workspaces.models import Role
from workspaces.state import compare as state_compare_mod
from workspaces.state import document as state_document
from workspaces.state import selectors as state_selectors
from workspaces.state import services as state_services

router = Router(tags=["versions"])

MAX_PAGE = 200


# --- schemas ---------------------------------------------------------------------------
class CodeVersionOut(Schema):
    number: int
    code_format: str
    checksum: str
    message: str
    author: str | None
    created_at: datetime
    current: bool
    run_count: int
    recent_runs: list[int]


class CodeVersionDetailOut(CodeVersionOut):
    code: str
    provider_config: dict


class CodeVersionPage(Schema):
    count: int
    items: list[CodeVersionOut]


class CodeSaveIn(Schema):
    code: str
    code_format: str = "auto"
    message: str = ""


class CodeSaveOut(Schema):
    created: bool
    version: CodeVersionOut


class DiffLineOut(Schema):
    kind: str  # eq, ins, del, fold
    old: int | None = None
    new: int | None = None
    text: str | None = None
    count: int | None = None


class CodeCompareOut(Schema):
    from_version: int
    to_version: int
    identical: bool
    added: int
    removed: int
    lines: list[DiffLineOut]
    provider_config_lines: list[DiffLineOut] | None = None


class StateVersionOut(Schema):
    serial: int
    lineage: str
    checksum: str
    md5: str
    size: int
    resource_count: int
    source: str
    source_detail: str = ""
    task_id: int | None
    created_by: str | None
    created_at: datetime
    current: bool


class StateVersionPage(Schema):
    count: int
    items: list[StateVersionOut]


class StateResourceOut(Schema):
    address: str
    mode: str
    type: str
    name: str
    module: str | None
    provider: str
    instance_count: int


class StateOutputOut(Schema):
    name: str
    type: Any = None
    value: Any = None
    sensitive: bool


class StateVersionDetailOut(StateVersionOut):
    terraform_version: str
    resources: list[StateResourceOut]
    outputs: list[StateOutputOut]


class AttributeChangeOut(Schema):
    name: str
    before: Any = None
    after: Any = None
    sensitive: bool
    before_absent: bool
    after_absent: bool


class ResourceChangeOut(Schema):
    address: str
    type: str
    action: str  # added, removed, changed
    attributes: list[AttributeChangeOut]


class OutputChangeOut(Schema):
    name: str
    action: str
    before: Any = None
    after: Any = None
    sensitive: bool


class StateCompareSummary(Schema):
    added: int
    changed: int
    removed: int
    unchanged: int


class StateCompareOut(Schema):
    from_serial: int
    to_serial: int
    summary: StateCompareSummary
    resources: list[ResourceChangeOut]
    outputs: list[OutputChangeOut]


class Paging(Schema):
    limit: int = 50
    offset: Offset = 0


# --- helpers ---------------------------------------------------------------------------
def _paging(paging: Paging) -> slice:
    if not 1 <= paging.limit <= MAX_PAGE:
        raise DomainError(f"limit must be between 1 and {MAX_PAGE}.", errors={"limit": [f"1–{MAX_PAGE}"]})
    if paging.offset < 0:
        raise DomainError("offset must not be negative.", errors={"offset": ["≥ 0"]})
    return slice(paging.offset, paging.offset + paging.limit)


def _code_out(version, workspace) -> dict:
    out = {
        "number": version.number, "code_format": version.code_format, "checksum": version.checksum,
        "message": version.message, "author": version.author.get_username() if version.author_id else None,
        "created_at": version.created_at, "current": version.pk == workspace.current_code_version_id,
        "run_count": getattr(version, "run_count", 0),
        "recent_runs": [run["id"] for run in getattr(version, "recent_runs", [])],
    }
    return out


def _state_out(version, current_serial) -> dict:
    return {
        "serial": version.serial, "lineage": version.lineage, "checksum": version.checksum, "md5": version.md5,
        "size": version.size, "resource_count": version.resource_count, "source": version.source,
        "source_detail": version.source_detail, "task_id": version.task_id,
        "created_by": version.created_by.get_username() if version.created_by_id else None,
        "created_at": version.created_at, "current": version.serial == current_serial,
    }


def _serial(value, field_name="serial") -> int:
    return inputs.parse_number(value, what="serial", minimum=0, field_name=field_name)


def _number(value, field_name="number") -> int:
    return inputs.parse_number(value, what="version number", minimum=1, field_name=field_name)


# --- code versions ---------------------------------------------------------------------
@router.get("/workspaces/{name}/code-versions", response=CodeVersionPage, summary="List code versions")
def list_code_versions(request, name: str, paging: Query[Paging]):
    """The workspace's code versions, newest first (without the code; fetch one version for it)."""
    workspace = workspace_for(request.user, name, Role.READER)
    qs = code_selectors.code_version_list(workspace=workspace)
    items = code_selectors.code_versions_with_runs(qs[_paging(paging)])
    return {"count": qs.count(), "items": [_code_out(v, workspace) for v in items]}


@router.post("/workspaces/{name}/code-versions", response={200: CodeSaveOut, 201: CodeSaveOut},
             summary="Save the workspace's code")
def save_code(request, name: str, payload: CodeSaveIn):
    """Validate and save the code (HCL or Terraform JSON; ``code_format`` auto, hcl or json).

    201 with the new version; 200 with ``created: false`` when the code is unchanged;
    400 naming the line and column when the code does not parse (nothing is saved).
    """
    workspace = workspace_for(request.user, name, Role.PLANNER)
    version, created = code_services.code_save(
        workspace=workspace, code=payload.code, code_format=payload.code_format, message=payload.message,
        author=request.user,
    )
    workspace.refresh_from_db(fields=["current_code_version"])
    version = code_selectors.code_versions_with_runs([version])[0]
    return Status(201 if created else 200, {"created": created, "version": _code_out(version, workspace)})


@router.get("/workspaces/{name}/code-versions/compare", response=CodeCompareOut, summary="Compare two code versions")
def compare_code_versions(request, name: str, from_: str = Query(..., alias="from"), to: str = Query(...),
                          context: int = DEFAULT_CONTEXT):
    """A line diff (diff-match-patch) from version ``from`` to version ``to``.

    ``lines`` are unified rows: ``eq``/``ins``/``del`` with old and new line numbers, and
    ``fold`` rows standing for ``count`` unchanged lines (``context`` lines are kept around
    each change; a negative ``context`` keeps every line).
    """
    workspace = workspace_for(request.user, name, Role.READER)
    comparison = code_selectors.code_compare(
        workspace=workspace, from_number=_number(from_, "from"), to_number=_number(to, "to"),
        context=None if context < 0 else context,
    )
    return {
        "from_version": comparison.old.number, "to_version": comparison.new.number,
        "identical": comparison.diff.identical and comparison.provider_diff is None,
        "added": comparison.diff.added, "removed": comparison.diff.removed,
        "lines": comparison.diff.as_json(),
        "provider_config_lines": comparison.provider_diff.as_json() if comparison.provider_diff else None,
    }


@router.get("/workspaces/{name}/code-versions/{number}", response=CodeVersionDetailOut, summary="Get a code version")
def get_code_version(request, name: str, number: str):
    workspace = workspace_for(request.user, name, Role.READER)
    version = code_selectors.code_version_get(workspace=workspace, number=_number(number))
    version = code_selectors.code_versions_with_runs([version])[0]
    return {**_code_out(version, workspace), "code": version.code, "provider_config": version.provider_config}


@router.post("/workspaces/{name}/code-versions/{number}/rollback", response={200: CodeSaveOut, 201: CodeSaveOut},
             summary="Roll the code back to a version")
def rollback_code_version(request, name: str, number: str):
    """Make a new version with the code of version ``number`` (history is never rewritten).

    201 with the new version; 200 with ``created: false`` when that code is already current.
    """
    workspace = workspace_for(request.user, name, Role.PLANNER)
    version, created = code_services.code_version_rollback(workspace=workspace, number=_number(number),
                                                      author=request.user)
    workspace.refresh_from_db(fields=["current_code_version"])
    version = code_selectors.code_versions_with_runs([version])[0]
    return Status(201 if created else 200, {"created": created, "version": _code_out(version, workspace)})


# --- state versions --------------------------------------------------------------------
@router.get("/workspaces/{name}/state-versions", response=StateVersionPage, summary="List state versions")
def list_state_versions(request, name: str, paging: Query[Paging]):
    """The workspace's state versions, newest first (metadata only)."""
    workspace = workspace_for(request.user, name, Role.READER)
    qs = state_selectors.state_version_list(workspace=workspace)
    current = state_selectors.state_current_serial(workspace=workspace)
    return {"count": qs.count(), "items": [_state_out(v, current) for v in qs[_paging(paging)]]}


_UPLOAD_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "multipart/form-data": {"schema": {
                "type": "object", "required": ["file"],
                "properties": {"file": {"type": "string", "format": "binary"}, "force": {"type": "boolean"}},
            }},
            "application/json": {"schema": {
                "oneOf": [
                    {"type": "object", "required": ["state"], "properties": {
                        "state": {"description": "The terraform.tfstate document (object or JSON text)"},
                        "force": {"type": "boolean"}}},
                    {"type": "object", "required": ["version", "serial", "lineage"],
                     "description": "The terraform.tfstate document itself (force with ?force=true)"},
                ],
            }},
        },
    }
}


def _upload_content(request) -> tuple[str | bytes, bool | None]:
    limit = state_services.state_upload_max_bytes()
    content_type = request.content_type or ""
    if content_type.startswith("multipart/form-data"):
        upload = request.FILES.get("file")
        if upload is None:
            raise DomainError("Send the state as the multipart field 'file'.", errors={"file": ["Required."]})
        if upload.size > limit:
            raise DomainError(f"The file is larger than {limit // (1024 * 1024)} MB.", status=413)
        force = request.POST.get("force")
        return upload.read(), None if force is None else force.lower() in ("1", "true", "yes", "on")
    try:
        length = int(request.META.get("CONTENT_LENGTH") or 0)
    except ValueError:
        length = 0
    if length > limit:
        raise DomainError(f"The state is larger than {limit // (1024 * 1024)} MB.", status=413)
    raw = request.body if hasattr(request, "_body") else request.read()
    if not raw.strip():
        raise DomainError("The request has no body: send a terraform.tfstate (JSON or multipart 'file').")
    try:
        body = json.loads(raw)
    except (ValueError, UnicodeDecodeError) as exc:
        raise state_document.InvalidState(f"The request body is not valid JSON: {exc}") from None
    if isinstance(body, dict) and "state" in body:
        state, force = body["state"], body.get("force")
        if not isinstance(force, (bool, type(None))):
            raise DomainError("'force' must be true or false.", errors={"force": ["Must be a boolean."]})
        return (state if isinstance(state, str) else json.dumps(state, indent=2)), force
    return raw, None


@router.post("/workspaces/{name}/state-versions/upload", response={201: StateVersionOut},
             summary="Upload a terraform.tfstate as a new state version", openapi_extra=_UPLOAD_BODY)
def upload_state_version(request, name: str, force: bool = False):
    """Store an existing state (migration from another backend) as a new version.

    Send it as multipart ``file`` or as JSON: ``{"state": {...}, "force": false}`` or the
    tfstate document itself. It must be a Terraform state (format 4, serial, lineage).
    Another lineage, or a serial not newer than the current one, answers 409 unless forced;
    a malformed state answers 400 and changes nothing. Refused (409) while a run is running.
    """
    workspace = workspace_for(request.user, name, Role.ADMIN)
    content, body_force = _upload_content(request)
    version = state_services.state_upload(workspace=workspace, content=content, user=request.user,
                                    force=force if body_force is None else body_force)
    return Status(201, _state_out(version, version.serial))


@router.get("/workspaces/{name}/state-versions/compare", response=StateCompareOut,
            summary="Compare two state versions by resource")
def compare_state_versions(request, name: str, from_: str = Query(..., alias="from"), to: str = Query(...)):
    """Resource instances added, removed and changed from serial ``from`` to serial ``to``,
    with the changed attributes of each; sensitive values are "(sensitive)"."""
    workspace = workspace_for(request.user, name, Role.READER)
    comparison = state_compare_mod.state_compare(workspace=workspace, from_serial=_serial(from_, "from"),
                                        to_serial=_serial(to, "to"))
    return {
        "from_serial": comparison.old.serial, "to_serial": comparison.new.serial,
        "summary": {"added": len(comparison.added), "changed": len(comparison.changed),
                    "removed": len(comparison.removed), "unchanged": comparison.unchanged},
        "resources": [
            {"address": c.address, "type": c.type, "action": c.action,
             "attributes": [vars(a) for a in c.attributes]}
            for c in comparison.changes
        ],
        "outputs": [vars(o) for o in comparison.outputs],
    }


@router.get("/workspaces/{name}/state-versions/{serial}", response=StateVersionDetailOut,
            summary="Get a state version")
def get_state_version(request, name: str, serial: str):
    """Metadata, resources by address and outputs (sensitive ones masked). The raw state is
    only available through ``/download``."""
    workspace = workspace_for(request.user, name, Role.READER)
    detail = state_selectors.state_detail(workspace=workspace, serial=_serial(serial))
    current = state_selectors.state_current_serial(workspace=workspace)
    return {
        **_state_out(detail.version, current),
        "terraform_version": detail.terraform_version,
        "resources": [
            {"address": r.address, "mode": r.mode, "type": r.type, "name": r.name, "module": r.module,
             "provider": r.provider, "instance_count": r.instance_count}
            for r in detail.resources
        ],
        "outputs": detail.outputs,
    }


@router.get("/workspaces/{name}/state-versions/{serial}/download", summary="Download a raw state",
            response={200: Any}, openapi_extra={"responses": {200: {
                "description": "The raw terraform.tfstate (holds sensitive values in clear text)",
                "content": {"application/json": {}}}}})
def download_state_version(request, name: str, serial: str):
    """The raw terraform.tfstate. Needs the ``workspaces.view_stateversion`` permission (403
    otherwise); every download is logged."""
    workspace = workspace_for(request.user, name, Role.ADMIN)
    filename, content = state_services.state_download(workspace=workspace, serial=_serial(serial), user=request.user)
    response = HttpResponse(content, content_type="application/json")
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    response["Cache-Control"] = "no-store"
    return response


@router.post("/workspaces/{name}/state-versions/{serial}/rollback", response={201: StateVersionOut},
             summary="Roll the state back to a version")
def rollback_state_version(request, name: str, serial: str):
    """Store the content of state ``serial`` as a new version (serial = current + 1, same
    lineage). 409 while a run of the workspace is running, or when it is already current."""
    workspace = workspace_for(request.user, name, Role.ADMIN)
    version = state_services.state_rollback(workspace=workspace, serial=_serial(serial), user=request.user)
    return Status(201, _state_out(version, version.serial))
