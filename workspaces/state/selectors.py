"""Reading states: history, one version's resources and outputs (masked), the overview."""

import json
from dataclasses import dataclass, field

from iacplatform.errors import NotFound
from workspaces.models import StateVersion, Workspace
from workspaces.secrets import SENSITIVE, _masked, masked_attributes, plain, workspace_secrets
from workspaces.state.document import (
    RESOURCE_COUNT_HELP,
    instance_address,
    load_state,
    provider_name,
    resource_address,
)


def latest_state(workspace: Workspace, *, content: bool = True) -> StateVersion | None:
    """The workspace's current state version; ``content=False`` leaves the (encrypted, possibly
    megabytes of) content unread, for what needs only its serial, lineage or outputs."""
    versions = StateVersion.objects.filter(workspace=workspace)
    if not content:
        versions = versions.defer("content")
    return versions.order_by("-serial").first()


def state_version_list(*, workspace: Workspace):
    return (
        StateVersion.objects.filter(workspace=workspace)
        .select_related("task", "created_by")
        .defer("content")
        .order_by("-serial")
    )


def state_version_serials(*, workspace: Workspace) -> list[int]:
    return list(StateVersion.objects.filter(workspace=workspace).order_by("-serial").values_list("serial", flat=True))


def state_current_serial(*, workspace: Workspace) -> int | None:
    return StateVersion.objects.filter(workspace=workspace).order_by("-serial").values_list("serial", flat=True).first()


def state_version_get(*, workspace: Workspace, serial: int, content: bool = False) -> StateVersion:
    qs = StateVersion.objects.select_related("task", "created_by").filter(workspace=workspace, serial=serial)
    if not content:
        qs = qs.defer("content")
    version = qs.first()
    if version is None:
        raise NotFound(f"Workspace {workspace.name} has no state version with serial {serial}.")
    return version


@dataclass
class StateResource:
    address: str
    mode: str
    type: str
    name: str
    module: str | None
    provider: str
    instance_count: int
    raw_instances: list = field(default_factory=list, repr=False)  # unmasked: never show
    instances: list = field(default_factory=list)  # [(address, masked attributes JSON)] once masked


def state_resources(data: dict) -> list[StateResource]:
    """The resources of a state, by address (their attributes not yet masked)."""
    rows = []
    for resource in data.get("resources") or []:
        if not isinstance(resource, dict):
            continue
        instances = [inst for inst in resource.get("instances") or [] if isinstance(inst, dict)]
        rows.append(StateResource(
            address=resource_address(resource), mode=resource.get("mode", "managed"),
            type=resource.get("type", ""), name=resource.get("name", ""), module=resource.get("module"),
            provider=provider_name(resource.get("provider", "")), instance_count=len(instances),
            raw_instances=instances,
        ))
    rows.sort(key=lambda r: r.address)
    return rows


def mask_instances(rows, secrets: list[str]) -> None:
    """Fill ``instances`` with (address, masked attributes as indented JSON), only for the rows shown."""
    for row in rows:
        row.instances = [
            (instance_address(row.address, inst),
             json.dumps(masked_attributes(inst, secrets), indent=2, sort_keys=True, ensure_ascii=False))
            for inst in row.raw_instances
        ]


def state_outputs(data: dict, secrets: list[str]) -> list[dict]:
    out = []
    for name, output in sorted((data.get("outputs") or {}).items()):
        sensitive = bool(output.get("sensitive"))
        value = SENSITIVE if sensitive else plain(_masked(output.get("value"), None, secrets))
        out.append({"name": name, "type": output.get("type"), "value": value, "sensitive": sensitive})
    return out


@dataclass
class StateDetail:
    version: StateVersion
    terraform_version: str
    resources: list[StateResource]
    outputs: list[dict]
    secrets: list[str] = field(default_factory=list, repr=False)

    def mask(self, rows) -> None:
        mask_instances(rows, self.secrets)


def state_detail(*, workspace: Workspace, serial: int) -> StateDetail:
    """A state version's resources (mask the ones you show with ``detail.mask(rows)``) and outputs."""
    version = state_version_get(workspace=workspace, serial=serial, content=True)
    data = load_state(version)
    secrets = workspace_secrets(workspace)
    return StateDetail(
        version=version,
        terraform_version=str(data.get("terraform_version", "")),
        resources=state_resources(data),
        outputs=state_outputs(data, secrets),
        secrets=secrets,
    )


def state_overview(*, workspace: Workspace, limit: int = 50) -> dict:
    """The latest state with its managed resources (address, type) and masked outputs."""
    state = latest_state(workspace)
    resources = []
    if state is not None:
        try:
            data = json.loads(state.content)
        except ValueError:
            data = {}
        for r in data.get("resources", []) or []:
            resources.append({"address": resource_address(r), "type": r.get("type"), "data": r.get("mode") == "data",
                              "instances": len(r.get("instances", []) or [])})
    # The card's number is the workspace's resource count, the same as the list's (one
    # definition: document.resource_instance_count), not the number of rows below it.
    return {"state": state, "resources": resources[:limit], "resource_total": len(resources),
            "resource_count": state.resource_count if state is not None else 0,
            "resource_count_help": RESOURCE_COUNT_HELP,
            "outputs": sorted((state.outputs or {}).items()) if state else []}
