"""The "smart source" of the executor: a workspace's main.tf.json built from its resources.

Contract used by ``executions.executor.config``:
- ``aggregate_main_tf(workspace)`` → the Terraform JSON document built from the workspace's
  active resources, or ``None`` when the workspace has no managed resources (then the
  executor uses the workspace's current code version). When the current code version is
  Terraform JSON, the document is that code deep-merged with every active resource's latest
  code (variables, outputs, locals… of the code survive); when it is HCL, the document holds
  only the resources (the executor writes the HCL next to it as main.tf).
  Several resources of one type all survive; one address defined twice (by two sources) is
  a ``Conflict`` naming both. ``ResourceDependency`` edges between active resources are
  added to ``depends_on`` next to whatever ``depends_on`` the code already has. Keys are
  sorted at every level, so equal inputs give equal documents (and checksums).
- ``aggregate_with_origins(workspace)`` → ``(document, origins)``: the same document and, for
  every block and top-level section of it, where it came from (``Origin``); the effective
  configuration page shows them.
- ``resource_version_map(workspace)`` → ``{resource_id: version_number}`` of the active
  resources, recorded on a plan so its apply can be refused as stale when one changed.
"""

import copy
from dataclasses import dataclass

from iacplatform.errors import Conflict, DomainError
from resources.fragments import Address, InvalidCode, block_address, body_of, iter_json_blocks, loads_json
from resources.models import ResourceDependency, WorkspaceResource
from workspaces.models import Workspace, WorkspaceCodeVersion

RESOURCE_KEYWORDS = ("resource", "data", "module")


@dataclass(frozen=True)
class Origin:
    """Where a part of the aggregated document comes from."""

    label: str  # the part: an address (terraform_data.web), a section (variable, locals) or depends_on
    source: str  # "code", "resource" or "dependency"
    text: str  # for an operator: "code version 3", "managed resource terraform_data.web v2"
    number: int | None = None  # the code version number, or the resource's version
    resource_pk: int | None = None


def aggregate_main_tf(workspace) -> dict | None:
    return aggregate_with_origins(workspace)[0]


def aggregate_with_origins(workspace) -> tuple[dict | None, list[Origin]]:
    resources = list(
        WorkspaceResource.objects.filter(workspace=workspace, is_active=True)
        .select_related("current_version")
        .order_by("resource_id")
    )
    if not resources:
        return None, []
    doc: dict = {}
    origins: dict[str, str] = {}
    parts: list[Origin] = []
    code_version = _current_code_version(workspace)
    if code_version is not None and code_version.code_format == "json" and code_version.code.strip():
        origin = f"the workspace code (version {code_version.number})"
        try:
            base = loads_json(code_version.code)
            blocks = list(iter_json_blocks(base, where=origin))
        except InvalidCode as exc:
            raise DomainError(f"Cannot merge {origin} with the managed resources: {exc.message}") from None
        for keyword, labels, body in blocks:
            address = block_address(keyword, labels)
            if address is not None:
                _place(doc, origins, address, body, origin)
                parts.append(Origin(address.text, "code", f"code version {code_version.number}", code_version.number))
        for keyword, section in base.items():
            if keyword not in RESOURCE_KEYWORDS:
                doc[keyword] = copy.deepcopy(section)
                parts.append(Origin(keyword, "code", f"code version {code_version.number}", code_version.number))
    for resource in resources:
        if resource.current_version is None:
            raise DomainError(f"Resource {resource.resource_id} has no code version.")
        body = body_of(resource.current_version.code)
        version = resource.current_version.version
        _place(doc, origins, Address.parse(resource.resource_id), body,
               f"resource {resource.resource_id} (version {version})")
        parts.append(Origin(resource.resource_id, "resource", f"managed resource {resource.resource_id} v{version}",
                            version, resource.pk))
    for source, targets in _add_dependencies(doc, workspace).items():
        parts.append(Origin(f"{source}.depends_on", "dependency",
                            "resource dependencies: " + ", ".join(targets)))
    return _sorted(doc), parts


def resource_version_map(workspace) -> dict:
    return dict(
        WorkspaceResource.objects.filter(workspace=workspace, is_active=True)
        .order_by("resource_id")
        .values_list("resource_id", "current_version__version")
    )


def _current_code_version(workspace):
    """Read from the database: the caller's workspace object may predate the last code save."""
    current = Workspace.objects.filter(pk=workspace.pk).values("current_code_version_id")
    return WorkspaceCodeVersion.objects.filter(pk__in=current).first()


def _slot(doc: dict, address: Address) -> dict:
    """The dict that holds ``address``'s body under its name."""
    if address.kind == "module":
        return doc.setdefault("module", {})
    return doc.setdefault(address.kind, {}).setdefault(address.type, {})


def _place(doc: dict, origins: dict, address: Address, body: dict, origin: str) -> None:
    slot = _slot(doc, address)
    if address.name in slot:
        raise Conflict(
            f"{address.text} is defined twice: in {origins[address.text]} and in {origin}. "
            "Remove one of them (delete the resource, or the block from the workspace code).",
            errors={"resources": [address.text]},
        )
    slot[address.name] = copy.deepcopy(body)
    origins[address.text] = origin


def _add_dependencies(doc: dict, workspace) -> dict[str, list[str]]:
    """Add the edges to ``depends_on``; returns {resource: [the targets added]}."""
    edges = (
        ResourceDependency.objects.filter(
            resource__workspace=workspace, resource__is_active=True, depends_on__is_active=True
        )
        .order_by("resource__resource_id", "depends_on__resource_id")
        .values_list("resource__resource_id", "depends_on__resource_id")
    )
    added: dict[str, list[str]] = {}
    for source, target in edges:
        body = _slot(doc, Address.parse(source))[Address.parse(source).name]
        existing = body.get("depends_on") or []
        if isinstance(existing, str):
            existing = [existing]
        if target not in existing:
            existing = [*existing, target]
            added.setdefault(source, []).append(target)
        body["depends_on"] = existing
    return added


def _sorted(value):
    if isinstance(value, dict):
        return {key: _sorted(value[key]) for key in sorted(value)}
    if isinstance(value, list):
        return [_sorted(item) for item in value]
    return value
