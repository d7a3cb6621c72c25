"""Snapshots: a pinned version of every resource of a workspace, restored all-or-nothing."""

from dataclasses import dataclass

from django.db import transaction
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError
from resources.aggregation import resource_version_map
from resources.models import ResourceCodeVersion, WorkspaceResource, WorkspaceResourcesSnapshot
from resources.services.resources import (
    ChangeType, acting_user, append_version, current_checksum, lock_workspace, logger
)
from workspaces.audit import audit_record


@transaction.atomic
def snapshot_create(*, workspace, name: str, description: str = "", user=None) -> WorkspaceResourcesSnapshot:
    name = (name or "").strip()
    if not name:
        raise DomainError("A snapshot needs a name.", errors={"name": ["required"]})
    if len(name) > 100:
        raise DomainError("A snapshot name has at most 100 characters.", errors={"name": ["too long"]})
    workspace = lock_workspace(workspace)
    if WorkspaceResourcesSnapshot.objects.filter(workspace=workspace, name=name).exists():
        raise Conflict(f"A snapshot named {name!r} already exists in {workspace.name}.",
                       errors={"name": ["already exists"]})

    snapshot = WorkspaceResourcesSnapshot.objects.create(
        workspace=workspace, name=name, description=description,
        resource_versions=resource_version_map(workspace), author=acting_user(user),
    )
    audit_record("snapshot.create", user=acting_user(user), workspace=workspace, target=f"snapshot {name}",
                 details={"snapshot_id": snapshot.pk, "resources": len(snapshot.resource_versions)})
    return snapshot


@dataclass
class SnapshotChange:
    address: str
    action: str  # unchanged, update, reactivate, deactivate
    current_version: int | None
    target_version: int | None
    resource_pk: int | None = None


def snapshot_changes(snapshot: WorkspaceResourcesSnapshot, *, lock: bool = False) -> list[SnapshotChange]:
    """What restoring the snapshot would do, resource by resource. Raises if it cannot be restored."""
    qs = WorkspaceResource.objects.filter(workspace_id=snapshot.workspace_id).select_related("current_version")
    if lock:
        qs = qs.select_for_update(of=("self",))
    resources = {r.resource_id: r for r in qs}
    wanted = snapshot.resource_versions or {}
    problems = []
    targets: dict[str, ResourceCodeVersion] = {}
    rows = ResourceCodeVersion.objects.filter(
        resource__workspace_id=snapshot.workspace_id, resource__resource_id__in=list(wanted)
    ).select_related("resource")
    by_key = {(v.resource.resource_id, v.version): v for v in rows}
    for address, number in wanted.items():
        if address not in resources:
            problems.append(f"{address} no longer exists")
        elif (address, number) not in by_key:
            problems.append(f"{address} has no version {number}")
        else:
            targets[address] = by_key[(address, number)]
    if problems:
        raise Conflict(f"Snapshot {snapshot.name!r} cannot be restored: {'; '.join(problems)}. Nothing was changed.",
                       errors={"snapshot": problems})
    changes = []
    for address in sorted(set(wanted) | {a for a, r in resources.items() if r.is_active}):
        resource = resources[address]
        current = resource.current_version.version if resource.current_version_id else None
        if address not in wanted:
            changes.append(SnapshotChange(address, "deactivate", current, None, resource.pk))
        elif not resource.is_active:
            changes.append(SnapshotChange(address, "reactivate", current, wanted[address], resource.pk))
        elif targets[address].checksum != current_checksum(resource):
            changes.append(SnapshotChange(address, "update", current, wanted[address], resource.pk))
        else:
            changes.append(SnapshotChange(address, "unchanged", current, wanted[address], resource.pk))
    return changes


@transaction.atomic
def snapshot_restore(*, snapshot, user=None) -> list[SnapshotChange]:
    """All or nothing: bring back exactly the snapshot's set of resources and versions."""
    lock_workspace(snapshot.workspace)
    snapshot = WorkspaceResourcesSnapshot.objects.get(pk=snapshot.pk)
    changes = snapshot_changes(snapshot, lock=True)
    versions = {
        (v.resource_id, v.version): v
        for v in ResourceCodeVersion.objects.filter(
            resource_id__in=[c.resource_pk for c in changes if c.target_version is not None])
    }
    now = timezone.now()
    label = f"snapshot {snapshot.name!r}"
    for change in changes:
        if change.action == "unchanged":
            continue
        resource = WorkspaceResource.objects.select_related("current_version").get(pk=change.resource_pk)
        if change.action == "deactivate":
            resource.is_active, resource.deleted_at = False, now
            append_version(resource=resource, code=resource.current_version.code, change_type=ChangeType.DELETE,
                            summary=f"Deleted by restoring {label}", user=user,
                            source_text=resource.current_version.source_text)
            continue
        target = versions[(resource.pk, change.target_version)]
        resource.is_active, resource.deleted_at = True, None
        append_version(resource=resource, code=target.code, change_type=ChangeType.RESTORE,
                        summary=f"Restored version {target.version} from {label}", user=user,
                        source_text=target.source_text)
    logger.info("snapshot %s restored in workspace %s", snapshot.pk, snapshot.workspace_id)
    audit_record("snapshot.restore", user=acting_user(user), workspace=snapshot.workspace,
                 target=f"snapshot {snapshot.name}",
                 details={"snapshot_id": snapshot.pk, "changed": sum(c.action != "unchanged" for c in changes)})
    return changes


@transaction.atomic
def snapshot_delete(*, snapshot, user=None) -> None:
    deleted, _ = WorkspaceResourcesSnapshot.objects.filter(pk=snapshot.pk).delete()
    if deleted:
        audit_record("snapshot.delete", user=acting_user(user), workspace=snapshot.workspace,
                     target=f"snapshot {snapshot.name}", details={"snapshot_id": snapshot.pk})
