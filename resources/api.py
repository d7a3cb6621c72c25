"""JSON API for managed resources (thin callers of ``resources.services`` / ``selectors``).

The seed's 18 endpoints, under /api/v1/workspaces/{name}/:
resources list (with ``ids=`` for get-by-ids) / get / add / update / delete / import /
deploy; versions list / get / compare / rollback; snapshots create / list / get / restore /
delete; dependencies get / set. Plus restore of a deleted resource.

Ids and version numbers are taken as text and checked here, so a malformed one answers
400 with the reason; a well-formed one that does not exist in *this* workspace answers 404.
"""

from ninja import Query, Router, Status

from iacplatform.errors import DomainError
from iacplatform.inputs import parse_number
from resources import selectors, services
from resources.api_schemas import (
    MAX_PAGE, CompareOut, DependenciesIn, DependenciesOut, DeployIn, DeployOut, ImportIn, ImportOut, Paging,
    ResourceDetailOut, ResourceFilters, ResourceIn, ResourcePage, ResourceSaveOut, ResourceUpdateIn, RestoreOut,
    RollbackOut, SnapshotDetailOut, SnapshotIn, SnapshotOut, VersionDetailOut, VersionOut
)
from workspaces.diffs import DEFAULT_CONTEXT
from workspaces.access import workspace_for
from workspaces.models import Role

router = Router(tags=["resources"])


# --- helpers --------------------------------------------------------------------------------
def _int(value, field_name: str, what: str) -> int:
    return parse_number(value, what=what, field_name=field_name)  # ASCII digits only ("³".isdigit() is True)


def _paging(paging: Paging) -> slice:
    if not 1 <= paging.limit <= MAX_PAGE:
        raise DomainError(f"limit must be between 1 and {MAX_PAGE}.", errors={"limit": [f"1–{MAX_PAGE}"]})
    if paging.offset < 0:
        raise DomainError("offset must not be negative.", errors={"offset": ["≥ 0"]})
    return slice(paging.offset, paging.offset + paging.limit)


def _resource(request, name: str, resource_pk: str, need: int = Role.READER):
    workspace = workspace_for(request.user, name, need)
    return selectors.resource_get(workspace=workspace, pk=_int(resource_pk, "resource_pk", "resource id"))


def _resource_out(resource) -> dict:
    return {
        "id": resource.pk, "resource_id": resource.resource_id, "kind": resource.kind,
        "type": resource.resource_type, "name": resource.name, "is_active": resource.is_active,
        "version": resource.version_number, "description": resource.description, "tags": resource.tags,
        "created_at": resource.created_at, "updated_at": resource.updated_at, "deleted_at": resource.deleted_at,
    }


def _resource_detail(resource) -> dict:
    version = resource.current_version
    return {**_resource_out(resource), "code": version.code if version else {},
            "checksum": version.checksum if version else None,
            "change_type": version.change_type if version else None,
            "change_summary": version.change_summary if version else ""}


def _version_out(version) -> dict:
    return {"version": version.version, "change_type": version.change_type,
            "change_summary": version.change_summary, "checksum": version.checksum,
            "is_latest": version.is_latest, "author": version.author.get_username() if version.author_id else None,
            "created_at": version.created_at}


def _snapshot_out(snapshot) -> dict:
    return {"id": snapshot.pk, "name": snapshot.name, "description": snapshot.description,
            "resource_versions": snapshot.resource_versions, "resource_count": snapshot.resource_count,
            "author": snapshot.author.get_username() if snapshot.author_id else None,
            "created_at": snapshot.created_at}


def _changes_out(changes) -> list[dict]:
    return [{"address": c.address, "action": c.action, "current_version": c.current_version,
             "target_version": c.target_version} for c in changes]


def _ref(resource) -> dict:
    return {"id": resource.pk, "resource_id": resource.resource_id, "is_active": resource.is_active}


def _fresh(resource):
    return selectors.resource_get(workspace=resource.workspace, pk=resource.pk)


# --- resources ------------------------------------------------------------------------------
@router.post("/workspaces/{name}/resources/import", response={200: ImportOut}, summary="Import Terraform code")
def import_resources(request, name: str, payload: ImportIn):
    """Import .tf / .tf.json files: resource, data and module blocks become resources (version 1);
    variables, outputs, locals, terraform settings go to the workspace code, providers to its
    provider config; files under a subdirectory (``modules/web/main.tf``) travel with the code.

    All or nothing. A parse error answers 400 naming the file, line and column. Duplicates
    (an address that already exists with other content) answer 409 listing them unless
    ``on_duplicate`` is ``skip`` or ``new_version``.
    """
    workspace = workspace_for(request.user, name, Role.PLANNER)
    files: dict[str, str] = {}
    for item in payload.files:
        if item.name in files:
            raise DomainError(f"File {item.name} is given twice.", errors={"files": [f"duplicate: {item.name}"]})
        files[item.name] = item.content
    report = services.resources_import(workspace=workspace, files=files, on_duplicate=payload.on_duplicate,
                                       message=payload.message, user=request.user)
    return report.as_dict()


@router.post("/workspaces/{name}/resources/deploy", response={201: DeployOut}, summary="Plan selected resources")
def deploy_resources(request, name: str, payload: DeployIn):
    """Queue a plan (or plan & apply) of the selected resources only: one ``-target`` per address
    (``module.<name>`` for modules), through the workspace's normal queue. 423 when locked."""
    workspace = workspace_for(request.user, name, Role.PLANNER)
    task = services.resources_deploy(workspace=workspace, resource_ids=payload.resource_ids, kind=payload.kind,
                                     message=payload.message, user=request.user)
    return Status(201, {"task_id": task.pk, "task_type": task.task_type, "status": task.status,
                        "targets": task.targets})


@router.get("/workspaces/{name}/resources", response=ResourcePage, summary="List resources")
def list_resources(request, name: str, filters: Query[ResourceFilters], paging: Query[Paging]):
    """Resources without their code. ``status``: active, deleted or all; ``sort``: address,
    -address, type, kind, updated, created, version; ``ids=1,2`` fetches exactly those."""
    workspace = workspace_for(request.user, name, Role.READER)
    if filters.ids.strip():
        ids = [_int(part, "ids", "resource id") for part in filters.ids.split(",") if part.strip()]
        items = selectors.resources_get_by_ids(workspace=workspace, ids=ids)
        return {"count": len(items), "items": [_resource_out(r) for r in items]}
    qs = selectors.resource_list(workspace=workspace, search=filters.search, status=filters.status,
                                 kind=filters.kind, sort=filters.sort)
    return {"count": qs.count(), "items": [_resource_out(r) for r in qs[_paging(paging)]]}


@router.post("/workspaces/{name}/resources", response={201: ResourceDetailOut}, summary="Add a resource")
def create_resource(request, name: str, payload: ResourceIn):
    """Add a resource from its Terraform JSON fragment; it gets version 1. 409 if the address exists."""
    workspace = workspace_for(request.user, name, Role.PLANNER)
    resource = services.resource_create(workspace=workspace, code=payload.code, resource_id=payload.resource_id,
                                        description=payload.description, tags=payload.tags, user=request.user)
    return Status(201, _resource_detail(_fresh(resource)))


@router.get("/workspaces/{name}/resources/{resource_pk}", response=ResourceDetailOut, summary="Get a resource")
def get_resource(request, name: str, resource_pk: str):
    return _resource_detail(_resource(request, name, resource_pk, Role.READER))


@router.put("/workspaces/{name}/resources/{resource_pk}", response=ResourceSaveOut, summary="Update a resource")
def update_resource(request, name: str, resource_pk: str, payload: ResourceUpdateIn):
    """New code makes a new version (only when it differs); description and tags change in place."""
    resource, version = services.resource_update(
        resource=_resource(request, name, resource_pk, Role.PLANNER), code=payload.code, description=payload.description,
        tags=payload.tags, change_summary=payload.change_summary, user=request.user)
    return {"version_created": version is not None, "resource": _resource_detail(_fresh(resource))}


@router.delete("/workspaces/{name}/resources/{resource_pk}", response=ResourceDetailOut, summary="Delete a resource")
def delete_resource(request, name: str, resource_pk: str):
    """Soft delete: the resource leaves main.tf.json (the next apply destroys it); history stays."""
    resource = services.resource_delete(resource=_resource(request, name, resource_pk, Role.PLANNER), user=request.user)
    return _resource_detail(_fresh(resource))


@router.post("/workspaces/{name}/resources/{resource_pk}/restore", response=ResourceDetailOut,
             summary="Restore a deleted resource")
def restore_resource(request, name: str, resource_pk: str):
    resource = services.resource_restore(resource=_resource(request, name, resource_pk, Role.PLANNER), user=request.user)
    return _resource_detail(_fresh(resource))


# --- versions -------------------------------------------------------------------------------
@router.get("/workspaces/{name}/resources/{resource_pk}/versions", response=list[VersionOut],
            summary="List a resource's versions")
def list_versions(request, name: str, resource_pk: str):
    return [_version_out(v) for v in selectors.version_list(resource=_resource(request, name, resource_pk, Role.READER))]


@router.get("/workspaces/{name}/resources/{resource_pk}/versions/compare", response=CompareOut,
            summary="Compare two versions")
def compare_versions(request, name: str, resource_pk: str, from_: str = Query(..., alias="from"),
                     to: str = Query(...), context: int = DEFAULT_CONTEXT):
    """A line diff (diff-match-patch) of the pretty-printed code, from version ``from`` to ``to``;
    ``fold`` rows stand for ``count`` unchanged lines (a negative ``context`` keeps every line)."""
    resource = _resource(request, name, resource_pk, Role.READER)
    comparison = selectors.version_compare(
        resource=resource, from_version=_int(from_, "from", "version number"),
        to_version=_int(to, "to", "version number"), context=None if context < 0 else context)
    return {"from_version": comparison.old.version, "to_version": comparison.new.version,
            "identical": comparison.diff.identical, "added": comparison.diff.added,
            "removed": comparison.diff.removed, "lines": comparison.diff.as_json()}


@router.get("/workspaces/{name}/resources/{resource_pk}/versions/{version}", response=VersionDetailOut,
            summary="Get a version")
def get_version(request, name: str, resource_pk: str, version: str):
    found = selectors.version_get(resource=_resource(request, name, resource_pk, Role.READER),
                                  version=_int(version, "version", "version number"))
    return {**_version_out(found), "code": found.code, "source_text": found.source_text}


@router.post("/workspaces/{name}/resources/{resource_pk}/versions/{version}/rollback",
             response={200: RollbackOut, 201: RollbackOut}, summary="Roll back to a version")
def rollback_version(request, name: str, resource_pk: str, version: str):
    """Make that version's code current again as a new version (201); 200 with
    ``version_created: false`` when it already is the current code."""
    resource, new = services.version_rollback(resource=_resource(request, name, resource_pk, Role.PLANNER),
                                              version=_int(version, "version", "version number"), user=request.user)
    return Status(201 if new else 200, {"version_created": new is not None, "resource": _resource_detail(_fresh(resource))})


# --- snapshots ------------------------------------------------------------------------------
def _snapshot(request, name: str, snapshot_pk: str, need: int = Role.READER):
    workspace = workspace_for(request.user, name, need)
    return selectors.snapshot_get(workspace=workspace, pk=_int(snapshot_pk, "snapshot_pk", "snapshot id"))


@router.post("/workspaces/{name}/snapshots", response={201: SnapshotOut}, summary="Create a snapshot")
def create_snapshot(request, name: str, payload: SnapshotIn):
    """Pin the current version of every active resource under a name (unique per workspace)."""
    snapshot = services.snapshot_create(workspace=workspace_for(request.user, name, Role.PLANNER), name=payload.name,
                                        description=payload.description, user=request.user)
    return Status(201, _snapshot_out(snapshot))


@router.get("/workspaces/{name}/snapshots", response=list[SnapshotOut], summary="List snapshots")
def list_snapshots(request, name: str, paging: Query[Paging]):
    return [_snapshot_out(s) for s in selectors.snapshot_list(workspace=workspace_for(request.user, name, Role.READER))[_paging(paging)]]


@router.get("/workspaces/{name}/snapshots/{snapshot_pk}", response=SnapshotDetailOut, summary="Get a snapshot")
def get_snapshot(request, name: str, snapshot_pk: str):
    """The snapshot and what restoring it now would change (``changes``)."""
    snapshot = _snapshot(request, name, snapshot_pk, Role.READER)
    try:
        changes, problem = services.snapshot_changes(snapshot), None
    except DomainError as exc:
        changes, problem = [], exc.message
    return {**_snapshot_out(snapshot), "restorable": problem is None, "problem": problem,
            "changes": _changes_out(changes)}


@router.post("/workspaces/{name}/snapshots/{snapshot_pk}/restore", response=RestoreOut, summary="Restore a snapshot")
def restore_snapshot(request, name: str, snapshot_pk: str):
    """All or nothing: re-activates resources deleted since, deletes ones added since, and makes
    a new version wherever the content differs from the snapshot's."""
    changes = services.snapshot_restore(snapshot=_snapshot(request, name, snapshot_pk, Role.PLANNER), user=request.user)
    return {"changes": _changes_out(changes)}


@router.delete("/workspaces/{name}/snapshots/{snapshot_pk}", response={204: None}, summary="Delete a snapshot")
def delete_snapshot(request, name: str, snapshot_pk: str):
    services.snapshot_delete(snapshot=_snapshot(request, name, snapshot_pk, Role.PLANNER), user=request.user)
    return Status(204, None)


# --- dependencies ---------------------------------------------------------------------------
def _dependencies_out(resource) -> dict:
    deps = selectors.dependencies_get(resource=resource)
    return {"depends_on": [_ref(r) for r in deps.depends_on], "depended_by": [_ref(r) for r in deps.depended_by],
            "declared_in_code": deps.declared_in_code}


@router.get("/workspaces/{name}/resources/{resource_pk}/dependencies", response=DependenciesOut,
            summary="Get a resource's dependencies")
def get_dependencies(request, name: str, resource_pk: str):
    """What it depends on (set here, and ``depends_on`` written in its code) and what depends on it."""
    return _dependencies_out(_resource(request, name, resource_pk, Role.READER))


@router.put("/workspaces/{name}/resources/{resource_pk}/dependencies", response=DependenciesOut,
            summary="Set a resource's dependencies")
def set_dependencies(request, name: str, resource_pk: str, payload: DependenciesIn):
    """Replace what the resource depends on (ids or addresses of this workspace). A cycle is
    refused with 400 naming it; an unknown resource is a 404."""
    resource = _resource(request, name, resource_pk, Role.PLANNER)
    services.dependencies_set(resource=resource, depends_on=payload.depends_on, user=request.user)
    return _dependencies_out(resource)
