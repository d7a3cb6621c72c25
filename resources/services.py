"""Changing managed resources: versions, rollback, snapshots, dependencies, import, deploy.

Every function here is the one way in for the pages, the API and any command. Writes are
atomic and serialised per workspace (a row lock on the workspace), so version numbers,
snapshots and imports never interleave. History is never rewritten: update, rollback,
delete, restore and snapshot restore all append a version.
"""

import logging
from dataclasses import asdict, dataclass, field

from django.db import IntegrityError, transaction
from django.db.models import Max, OuterRef, Subquery
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError, NotFound
from resources import fragments
from resources.fragments import Address, InvalidCode, parse_fragment
from resources.models import ResourceCodeVersion, ResourceDependency, WorkspaceResource, WorkspaceResourcesSnapshot
from workspaces.models import Workspace
from workspaces.runs import runs
from resources.aggregation import resource_version_map
from resources.importer import ImportParseError, hcl_to_json
from resources.importer import parse_files
from resources.workspace_code import plan_code_merge

logger = logging.getLogger("resources")
ChangeType = ResourceCodeVersion.ChangeType
MAX_TAGS = 20
MAX_TAG_LENGTH = 50


# --- helpers --------------------------------------------------------------------------------
def _lock_workspace(workspace) -> Workspace:
    return Workspace.objects.select_for_update().get(pk=workspace.pk)


def _lock_resource(resource) -> WorkspaceResource:
    return (WorkspaceResource.objects.select_for_update(of=("self",))
            .select_related("current_version", "workspace").get(pk=resource.pk))


def _user(user):
    return user if getattr(user, "is_authenticated", False) else None


def clean_tags(tags) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, (list, tuple)):
        raise DomainError("Tags must be a list of words.", errors={"tags": ["must be a list"]})
    cleaned: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise DomainError(f"Tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters.",
                              errors={"tags": ["too long"]})
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise DomainError(f"At most {MAX_TAGS} tags.", errors={"tags": ["too many"]})
    return cleaned


def _append_version(*, resource: WorkspaceResource, code: dict, change_type: str, summary: str,
                    user=None) -> ResourceCodeVersion:
    """Add a version and make it the resource's latest/current one (resource row locked)."""
    number = (resource.versions.aggregate(n=Max("version"))["n"] or 0) + 1
    ResourceCodeVersion.objects.filter(resource=resource, is_latest=True).update(is_latest=False)
    version = ResourceCodeVersion.objects.create(
        resource=resource, version=number, code=code, checksum=fragments.checksum(code),
        change_type=change_type, change_summary=summary[:500], is_latest=True, author=_user(user),
    )
    resource.current_version = version
    resource.save(update_fields=["current_version", "is_active", "deleted_at", "updated_at"])
    return version


def _fragment(code) -> tuple[Address, dict]:
    """A fragment from a dict, its JSON text, or one HCL block (text not starting with "{")."""
    if isinstance(code, str) and code.strip() and not code.lstrip().startswith(("{", "[")):
        try:
            code = hcl_to_json(code, name="code")
        except ImportParseError as exc:
            raise InvalidCode(exc.message) from None
    return parse_fragment(code)


def _current_checksum(resource: WorkspaceResource) -> str | None:
    return resource.current_version.checksum if resource.current_version_id else None


# --- resources ------------------------------------------------------------------------------
@transaction.atomic
def resource_create(*, workspace, code, resource_id: str | None = None, description: str = "",
                    tags=None, user=None) -> WorkspaceResource:
    address, fragment = _fragment(code)
    if resource_id and Address.parse(resource_id).text != address.text:
        raise InvalidCode(f"The code defines {address.text}, not {resource_id}.", field="resource_id")
    tags = clean_tags(tags)
    workspace = _lock_workspace(workspace)
    existing = WorkspaceResource.objects.filter(workspace=workspace, resource_id=address.text).first()
    if existing is not None:
        state = "exists" if existing.is_active else "exists but is deleted (restore it)"
        raise Conflict(f"{address.text} already {state} in {workspace.name} (resource #{existing.pk}); "
                       "change its code to make a new version.", errors={"resource_id": ["already exists"]})
    try:
        with transaction.atomic():
            resource = WorkspaceResource.objects.create(
                workspace=workspace, resource_id=address.text, kind=address.kind, resource_type=address.type,
                name=address.name, description=description, tags=tags, created_by=_user(user),
            )
    except IntegrityError:
        raise Conflict(f"{address.text} already exists in {workspace.name}.") from None
    _append_version(resource=resource, code=fragment, change_type=ChangeType.CREATE, summary="Created", user=user)
    logger.info("resource %s created in %s", address.text, workspace.name)
    return resource


@transaction.atomic
def resource_update(*, resource, code=None, description: str | None = None, tags=None,
                    change_summary: str = "", user=None) -> tuple[WorkspaceResource, ResourceCodeVersion | None]:
    """Change a resource. A new version only when the code changed; returns (resource, new version or None)."""
    resource = _lock_resource(resource)
    if not resource.is_active:
        raise Conflict(f"{resource.resource_id} is deleted; restore it before changing it.")
    version = None
    if code is not None:
        address, fragment = _fragment(code)
        if address.text != resource.resource_id:
            raise InvalidCode(
                f"The code defines {address.text} but this resource is {resource.resource_id}. The address of a "
                "resource cannot change: create a new resource (and a moved block) instead."
            )
        if fragments.checksum(fragment) != _current_checksum(resource):
            summary = change_summary.strip() or fragments.change_summary(
                resource.current_version.code if resource.current_version_id else None, fragment)
            version = _append_version(resource=resource, code=fragment, change_type=ChangeType.UPDATE,
                                      summary=summary, user=user)
    fields = []
    if description is not None and description != resource.description:
        resource.description = description
        fields.append("description")
    if tags is not None:
        cleaned = clean_tags(tags)
        if cleaned != resource.tags:
            resource.tags = cleaned
            fields.append("tags")
    if fields:
        resource.save(update_fields=[*fields, "updated_at"])
    return resource, version


@transaction.atomic
def resource_delete(*, resource, user=None) -> WorkspaceResource:
    """Soft delete: the resource leaves main.tf.json (the next apply destroys it); history stays."""
    resource = _lock_resource(resource)
    if not resource.is_active:
        raise Conflict(f"{resource.resource_id} is already deleted.")
    resource.is_active = False
    resource.deleted_at = timezone.now()
    _append_version(resource=resource, code=resource.current_version.code, change_type=ChangeType.DELETE,
                    summary="Deleted", user=user)
    return resource


@transaction.atomic
def resource_restore(*, resource, user=None) -> WorkspaceResource:
    resource = _lock_resource(resource)
    if resource.is_active:
        raise Conflict(f"{resource.resource_id} is not deleted.")
    resource.is_active = True
    resource.deleted_at = None
    _append_version(resource=resource, code=resource.current_version.code, change_type=ChangeType.RESTORE,
                    summary="Restored", user=user)
    return resource


# --- versions -------------------------------------------------------------------------------
@transaction.atomic
def version_rollback(*, resource, version: int, user=None) -> tuple[WorkspaceResource, ResourceCodeVersion | None]:
    """Make the code of ``version`` current again, as a new version. None when it already is."""
    resource = _lock_resource(resource)
    if not resource.is_active:
        raise Conflict(f"{resource.resource_id} is deleted; restore it before rolling it back.")
    target = ResourceCodeVersion.objects.filter(resource=resource, version=version).first()
    if target is None:
        raise NotFound(f"{resource.resource_id} has no version {version}.")
    if target.checksum == _current_checksum(resource):
        return resource, None
    new = _append_version(resource=resource, code=target.code, change_type=ChangeType.ROLLBACK,
                          summary=f"Rolled back to version {target.version}", user=user)
    return resource, new


# --- snapshots ------------------------------------------------------------------------------
@transaction.atomic
def snapshot_create(*, workspace, name: str, description: str = "", user=None) -> WorkspaceResourcesSnapshot:
    name = (name or "").strip()
    if not name:
        raise DomainError("A snapshot needs a name.", errors={"name": ["required"]})
    if len(name) > 100:
        raise DomainError("A snapshot name has at most 100 characters.", errors={"name": ["too long"]})
    workspace = _lock_workspace(workspace)
    if WorkspaceResourcesSnapshot.objects.filter(workspace=workspace, name=name).exists():
        raise Conflict(f"A snapshot named {name!r} already exists in {workspace.name}.",
                       errors={"name": ["already exists"]})

    return WorkspaceResourcesSnapshot.objects.create(
        workspace=workspace, name=name, description=description,
        resource_versions=resource_version_map(workspace), author=_user(user),
    )


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
        elif targets[address].checksum != _current_checksum(resource):
            changes.append(SnapshotChange(address, "update", current, wanted[address], resource.pk))
        else:
            changes.append(SnapshotChange(address, "unchanged", current, wanted[address], resource.pk))
    return changes


@transaction.atomic
def snapshot_restore(*, snapshot, user=None) -> list[SnapshotChange]:
    """All or nothing: bring back exactly the snapshot's set of resources and versions."""
    _lock_workspace(snapshot.workspace)
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
            _append_version(resource=resource, code=resource.current_version.code, change_type=ChangeType.DELETE,
                            summary=f"Deleted by restoring {label}", user=user)
            continue
        target = versions[(resource.pk, change.target_version)]
        resource.is_active, resource.deleted_at = True, None
        _append_version(resource=resource, code=target.code, change_type=ChangeType.RESTORE,
                        summary=f"Restored version {target.version} from {label}", user=user)
    logger.info("snapshot %s restored in workspace %s", snapshot.pk, snapshot.workspace_id)
    return changes


@transaction.atomic
def snapshot_delete(*, snapshot, user=None) -> None:
    WorkspaceResourcesSnapshot.objects.filter(pk=snapshot.pk).delete()


# --- dependencies ---------------------------------------------------------------------------
def _resolve_in_workspace(workspace, refs) -> list[WorkspaceResource]:
    """Resources of ``workspace`` named by id or address; unknown ones are a 404 naming them."""
    ids, addresses = set(), set()
    for ref in refs:
        if isinstance(ref, bool):
            raise DomainError(f"{ref!r} is not a resource id or address.", errors={"depends_on": ["invalid"]})
        if isinstance(ref, int) or (isinstance(ref, str) and ref.strip().isdigit()):
            ids.add(int(ref))
        elif isinstance(ref, str) and ref.strip():
            addresses.add(Address.parse(ref).text)
        else:
            raise DomainError(f"{ref!r} is not a resource id or address.", errors={"depends_on": ["invalid"]})
    found = list(WorkspaceResource.objects.filter(workspace=workspace, pk__in=ids)) if ids else []
    found += list(WorkspaceResource.objects.filter(workspace=workspace, resource_id__in=addresses)) if addresses else []
    missing = sorted(map(str, ids - {r.pk for r in found})) + sorted(addresses - {r.resource_id for r in found})
    if missing:
        raise NotFound(f"No resource {', '.join(missing)} in workspace {workspace.name}.",
                       errors={"depends_on": [f"unknown: {m}" for m in missing]})
    unique = {r.pk: r for r in found}
    return sorted(unique.values(), key=lambda r: r.resource_id)


def find_cycle(edges: dict[int, set[int]], start: int, goal: int) -> list[int] | None:
    """A path start → … → goal following ``edges``, or None."""
    stack = [(start, [start])]
    seen = set()
    while stack:
        node, path = stack.pop()
        if node == goal:
            return path
        if node in seen:
            continue
        seen.add(node)
        for nxt in sorted(edges.get(node, ()), reverse=True):
            stack.append((nxt, [*path, nxt]))
    return None


@transaction.atomic
def dependencies_set(*, resource, depends_on, user=None) -> list[WorkspaceResource]:
    """Replace what ``resource`` depends on. Cycles are refused with the cycle named."""
    workspace = _lock_workspace(resource.workspace)
    resource = _lock_resource(resource)
    if not resource.is_active:
        raise Conflict(f"{resource.resource_id} is deleted; restore it before changing its dependencies.")
    if not isinstance(depends_on, (list, tuple, set)):
        raise DomainError("depends_on must be a list of resource ids or addresses.",
                          errors={"depends_on": ["must be a list"]})
    targets = _resolve_in_workspace(workspace, list(depends_on))
    for target in targets:
        if target.pk == resource.pk:
            raise DomainError(f"{resource.resource_id} cannot depend on itself.",
                              errors={"depends_on": ["self-dependency"]})
        if not target.is_active:
            raise DomainError(f"{target.resource_id} is deleted; restore it before depending on it.",
                              errors={"depends_on": [f"deleted: {target.resource_id}"]})
    edges: dict[int, set[int]] = {}
    for src, dst in ResourceDependency.objects.filter(resource__workspace=workspace).exclude(
            resource=resource).values_list("resource_id", "depends_on_id"):
        edges.setdefault(src, set()).add(dst)
    names = dict(WorkspaceResource.objects.filter(workspace=workspace).values_list("pk", "resource_id"))
    for target in targets:
        path = find_cycle(edges, target.pk, resource.pk)
        if path is not None:
            cycle = " → ".join(names[pk] for pk in [resource.pk, *path])
            raise DomainError(f"That would make a dependency cycle: {cycle}.",
                              errors={"depends_on": [f"cycle: {cycle}"]})
    wanted = {t.pk for t in targets}
    ResourceDependency.objects.filter(resource=resource).exclude(depends_on_id__in=wanted).delete()
    have = set(ResourceDependency.objects.filter(resource=resource).values_list("depends_on_id", flat=True))
    ResourceDependency.objects.bulk_create(
        [ResourceDependency(resource=resource, depends_on_id=pk) for pk in sorted(wanted - have)]
    )
    WorkspaceResource.objects.filter(pk=resource.pk).update(updated_at=timezone.now())
    return targets


# --- targeted plans -------------------------------------------------------------------------
def resources_deploy(*, workspace, resource_ids, kind: str = "plan", message: str = "", user=None):
    """Queue a plan of the selected resources only (``-target`` per address), through the normal queue."""
    if not isinstance(resource_ids, (list, tuple, set)) or not resource_ids:
        raise DomainError("Select at least one resource to plan.", errors={"resource_ids": ["required"]})
    ids = set()
    for raw in resource_ids:
        if isinstance(raw, bool) or not str(raw).strip().isdigit():
            raise DomainError(f"{raw!r} is not a resource id.", errors={"resource_ids": [f"invalid: {raw!r}"]})
        ids.add(int(raw))
    resources = list(WorkspaceResource.objects.filter(workspace=workspace, pk__in=ids).order_by("resource_id"))
    missing = sorted(ids - {r.pk for r in resources})
    if missing:
        raise NotFound(f"No resource with id {', '.join(map(str, missing))} in workspace {workspace.name}.",
                       errors={"resource_ids": [f"unknown: {pk}" for pk in missing]})
    deleted = [r.resource_id for r in resources if not r.is_active]
    if deleted:
        raise DomainError(f"{', '.join(deleted)} {'is' if len(deleted) == 1 else 'are'} deleted: "
                          "a deleted resource cannot be targeted (plan the whole workspace to destroy it).",
                          errors={"resource_ids": [f"deleted: {a}" for a in deleted]})
    targets = [r.resource_id for r in resources]
    message = message.strip() or f"Targeted plan: {', '.join(targets)}"
    return runs().queue_plan(workspace=workspace, kind=kind, targets=targets, message=message[:500], user=_user(user))


# --- import ---------------------------------------------------------------------------------
ON_DUPLICATE = ("fail", "skip", "new_version")


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    code_version: int | None = None
    code_added: list[str] = field(default_factory=list)
    code_replaced: list[str] = field(default_factory=list)
    code_unchanged: list[str] = field(default_factory=list)
    code_skipped: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    module_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def resource_count(self) -> int:
        return len(self.created) + len(self.updated) + len(self.restored)

    @property
    def new_versions(self) -> int:
        return len(self.updated) + len(self.restored)


def resources_import(*, workspace, files: dict[str, str], on_duplicate: str = "fail", message: str = "",
                     user=None) -> ImportReport:
    """Import Terraform files: resource/data/module blocks become resources (version 1), the
    rest goes to the workspace's code and provider config. All or nothing.

    ``on_duplicate`` says what to do with an address (or variable, output…) that already
    exists with other content: "fail" (the default: nothing is imported, the duplicates
    are listed), "skip" (keep what exists; reported), "new_version" (a new version of the
    resource, restoring it if it was deleted; the code block is replaced).
    """
    if on_duplicate not in ON_DUPLICATE:
        raise DomainError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}.",
                          errors={"on_duplicate": ["invalid choice"]})
    parsed = parse_files(files)  # slow part first, outside the transaction
    return _import_parsed(workspace=workspace, parsed=parsed, on_duplicate=on_duplicate, message=message, user=user)


@transaction.atomic
def _import_parsed(*, workspace, parsed, on_duplicate, message, user) -> ImportReport:
    workspace = _lock_workspace(workspace)
    report = ImportReport(warnings=list(parsed.warnings), module_files=sorted(parsed.module_files))
    existing = {r.resource_id: r for r in WorkspaceResource.objects.filter(workspace=workspace)
                .select_related("current_version")}
    code_merge = plan_code_merge(workspace=workspace, parsed=parsed, on_duplicate=on_duplicate)
    new_blocks, changed = [], []
    for block in parsed.resource_blocks:
        address = block.address
        fragment = address.wrap(block.body)
        try:
            address, fragment = parse_fragment(fragment)
        except InvalidCode as exc:
            raise InvalidCode(f"{block.where}: {exc.message}") from None
        if address.text in code_merge.code_addresses:
            # The workspace code defines this block itself: a managed copy would define it twice.
            movable = code_merge.mode != "hcl"
            take = on_duplicate == "new_version" and movable
            report.duplicates.append({
                "address": address.text, "where": block.where,
                "existing": f"defined in {code_merge.code_addresses[address.text]}",
                "action": "none" if on_duplicate == "fail" else ("moved out of the code" if take else "skipped"),
            })
            if not take:
                report.skipped.append(address.text)
                if on_duplicate == "new_version":
                    report.warnings.append(f"{address.text} stays in the HCL code; remove it there to manage it "
                                           "as a resource.")
                continue
            code_merge.take_over(address.text)
        resource = existing.get(address.text)
        if resource is None:
            new_blocks.append((block, address, fragment))
            continue
        same = fragments.checksum(fragment) == _current_checksum(resource)
        if resource.is_active and same:
            report.unchanged.append(address.text)
            continue
        where = (f"exists (version {resource.version_number})" if resource.is_active
                 else f"exists but is deleted (version {resource.version_number})")
        report.duplicates.append({"address": address.text, "where": block.where, "existing": where,
                                  "action": {"fail": "none", "skip": "skipped"}.get(on_duplicate, "new version")})
        if on_duplicate == "skip":
            report.skipped.append(address.text)
        elif on_duplicate == "new_version":
            changed.append((resource, fragment, same))
    for dup in code_merge.duplicates:
        report.duplicates.append(dup)
    if on_duplicate == "fail" and report.duplicates:
        listed = "; ".join(f"{d['address']} ({d['where']}: {d['existing']})" for d in report.duplicates)
        raise Conflict(
            f"Nothing was imported: {len(report.duplicates)} duplicate(s): {listed}. "
            "Choose to skip them or to make new versions.",
            errors={"duplicates": [d["address"] for d in report.duplicates]},
        )

    _bulk_create_resources(workspace, new_blocks, user)
    report.created = [address.text for _, address, _ in new_blocks]
    for resource, fragment, same in changed:
        resource = _lock_resource(resource)
        if not resource.is_active:
            resource.is_active, resource.deleted_at = True, None
            _append_version(resource=resource, code=fragment, change_type=ChangeType.RESTORE,
                            summary="Restored by import", user=user)
            report.restored.append(resource.resource_id)
        elif not same:
            _append_version(resource=resource, code=fragment, change_type=ChangeType.UPDATE,
                            summary="Updated by import: " + fragments.change_summary(resource.current_version.code,
                                                                                   fragment), user=user)
            report.updated.append(resource.resource_id)

    report.code_added, report.code_replaced = code_merge.added, code_merge.replaced
    report.code_unchanged, report.code_skipped = code_merge.unchanged, code_merge.skipped
    report.providers = code_merge.providers
    report.warnings += code_merge.warnings
    version = code_merge.save(workspace=workspace, message=message or "Imported Terraform code", user=_user(user))
    report.code_version = version.number if version is not None else None
    logger.info("import into %s: %d created, %d updated, %d restored, %d unchanged, %d skipped",
                workspace.name, len(report.created), len(report.updated), len(report.restored),
                len(report.unchanged), len(report.skipped))
    return report


def _bulk_create_resources(workspace, new_blocks, user) -> None:
    if not new_blocks:
        return
    author = _user(user)
    resources = WorkspaceResource.objects.bulk_create([
        WorkspaceResource(workspace=workspace, resource_id=address.text, kind=address.kind,
                          resource_type=address.type, name=address.name, created_by=author,
                          description=f"Imported from {block.where}")
        for block, address, _ in new_blocks
    ], batch_size=500)
    if any(r.pk is None for r in resources):  # a backend that does not return ids
        by_address = dict(WorkspaceResource.objects.filter(
            workspace=workspace, resource_id__in=[r.resource_id for r in resources]).values_list("resource_id", "pk"))
        for r in resources:
            r.pk = r.id = by_address[r.resource_id]
    ResourceCodeVersion.objects.bulk_create([
        ResourceCodeVersion(resource=resource, version=1, code=fragment, checksum=fragments.checksum(fragment),
                            change_type=ChangeType.CREATE, change_summary="Imported", is_latest=True, author=author)
        for resource, (_, _, fragment) in zip(resources, new_blocks)
    ], batch_size=500)
    # One statement instead of a 1,000-branch CASE: each new resource points at its version 1.
    WorkspaceResource.objects.filter(pk__in=[r.pk for r in resources]).update(current_version=Subquery(
        ResourceCodeVersion.objects.filter(resource=OuterRef("pk"), is_latest=True).values("pk")[:1]))
