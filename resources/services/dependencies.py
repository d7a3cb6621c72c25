"""Dependencies between resources (a DAG: a cycle is refused, naming it) and targeted plans."""

from django.db import transaction
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError, NotFound
from resources.fragments import Address
from resources.models import ResourceDependency, WorkspaceResource
from resources.services.resources import acting_user, lock_resource, lock_workspace
from workspaces.audit import audit_record
from workspaces.runs import runs


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
    workspace = lock_workspace(resource.workspace)
    resource = lock_resource(resource)
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
    audit_record("resource.dependencies", user=acting_user(user), workspace=workspace, target=resource.resource_id,
                 details={"resource_id": resource.pk, "depends_on": [t.resource_id for t in targets]})
    return targets


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
    return runs().queue_plan(workspace=workspace, kind=kind, targets=targets, message=message[:500], user=acting_user(user))
