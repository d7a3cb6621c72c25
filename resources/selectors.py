"""Reading managed resources: lists, versions, comparisons, snapshots, dependencies."""

from dataclasses import dataclass

from django.db.models import Count, Q

from iacplatform.errors import DomainError, NotFound
from resources import fragments
from resources.models import ResourceCodeVersion, ResourceDependency, WorkspaceResource, WorkspaceResourcesSnapshot
from workspaces.diffs import TextDiff, text_diff

STATUSES = ("active", "deleted", "all")
SORTS = {
    "address": ("resource_id",),
    "-address": ("-resource_id",),
    "type": ("resource_type", "resource_id"),
    "kind": ("kind", "resource_id"),
    "updated": ("-updated_at", "resource_id"),
    "created": ("-created_at", "resource_id"),
    "version": ("-current_version__version", "resource_id"),
}


def resource_list(*, workspace, search: str = "", status: str = "active", kind: str = "", sort: str = "address"):
    """Resources of a workspace for the list page and the API, without their code."""
    if status not in STATUSES:
        raise DomainError(f"Unknown status filter {status!r}: use {', '.join(STATUSES)}.",
                          errors={"status": ["invalid choice"]})
    if sort not in SORTS:
        raise DomainError(f"Unknown sort {sort!r}: use {', '.join(SORTS)}.", errors={"sort": ["invalid choice"]})
    if kind and kind not in WorkspaceResource.Kind.values:
        raise DomainError(f"Unknown kind {kind!r}: use {', '.join(WorkspaceResource.Kind.values)}.",
                          errors={"kind": ["invalid choice"]})
    qs = (WorkspaceResource.objects.filter(workspace=workspace)
          .select_related("current_version", "current_version__author")
          .defer("current_version__code"))
    if status == "active":
        qs = qs.filter(is_active=True)
    elif status == "deleted":
        qs = qs.filter(is_active=False)
    if kind:
        qs = qs.filter(kind=kind)
    search = (search or "").strip()
    if search:
        qs = qs.filter(Q(resource_id__icontains=search) | Q(description__icontains=search)
                       | Q(tags__icontains=search))
    return qs.order_by(*SORTS[sort])


def resource_get(*, workspace, pk) -> WorkspaceResource:
    resource = (WorkspaceResource.objects.filter(workspace=workspace, pk=pk)
                .select_related("current_version", "current_version__author", "workspace").first())
    if resource is None:
        raise NotFound(f"No resource #{pk} in workspace {workspace.name}.")
    return resource


def resources_get_by_ids(*, workspace, ids) -> list[WorkspaceResource]:
    wanted = set(ids)
    found = list(resource_list(workspace=workspace, status="all").filter(pk__in=wanted))
    missing = sorted(wanted - {r.pk for r in found})
    if missing:
        raise NotFound(f"No resource with id {', '.join(map(str, missing))} in workspace {workspace.name}.",
                       errors={"ids": [f"unknown: {pk}" for pk in missing]})
    return found


def version_list(*, resource):
    return ResourceCodeVersion.objects.filter(resource=resource).select_related("author").order_by("-version")


def version_get(*, resource, version) -> ResourceCodeVersion:
    found = ResourceCodeVersion.objects.filter(resource=resource, version=version).select_related("author").first()
    if found is None:
        raise NotFound(f"{resource.resource_id} has no version {version}.")
    return found


@dataclass
class VersionComparison:
    resource: WorkspaceResource
    old: ResourceCodeVersion
    new: ResourceCodeVersion
    diff: TextDiff


def version_compare(*, resource, from_version: int, to_version: int, context: int | None = 3) -> VersionComparison:
    old = version_get(resource=resource, version=from_version)
    new = version_get(resource=resource, version=to_version)
    diff = text_diff(fragments.pretty(old.code), fragments.pretty(new.code), context=context)
    return VersionComparison(resource=resource, old=old, new=new, diff=diff)


def snapshot_list(*, workspace):
    return WorkspaceResourcesSnapshot.objects.filter(workspace=workspace).select_related("author")


def snapshot_get(*, workspace, pk) -> WorkspaceResourcesSnapshot:
    snapshot = (WorkspaceResourcesSnapshot.objects.filter(workspace=workspace, pk=pk)
                .select_related("author", "workspace").first())
    if snapshot is None:
        raise NotFound(f"No snapshot #{pk} in workspace {workspace.name}.")
    return snapshot


@dataclass
class Dependencies:
    depends_on: list  # WorkspaceResource, explicit edges
    depended_by: list
    declared_in_code: list  # addresses from the code's own depends_on


def dependencies_get(*, resource) -> Dependencies:
    depends_on = [e.depends_on for e in ResourceDependency.objects.filter(resource=resource)
                  .select_related("depends_on").order_by("depends_on__resource_id")]
    depended_by = [e.resource for e in ResourceDependency.objects.filter(depends_on=resource)
                   .select_related("resource").order_by("resource__resource_id")]
    declared = []
    if resource.current_version_id:
        value = fragments.body_of(resource.current_version.code).get("depends_on") or []
        declared = [value] if isinstance(value, str) else [str(v) for v in value]
    return Dependencies(depends_on=depends_on, depended_by=depended_by, declared_in_code=declared)


def dependency_edges(*, workspace) -> list[ResourceDependency]:
    return list(ResourceDependency.objects.filter(resource__workspace=workspace)
                .select_related("resource", "depends_on")
                .order_by("resource__resource_id", "depends_on__resource_id"))


def resource_counts(*, workspace) -> dict:
    counts = WorkspaceResource.objects.filter(workspace=workspace).aggregate(
        active=Count("pk", filter=Q(is_active=True)), deleted=Count("pk", filter=Q(is_active=False)))
    return counts
