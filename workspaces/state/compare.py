"""Comparing two state versions resource by resource, sensitive values masked."""

import json
from dataclasses import dataclass, field

from iacplatform.errors import NotFound
from workspaces.models import StateVersion, Workspace
from workspaces.secrets import (
    _ABSENT, SENSITIVE, _contains_mask, _instance_masking, _is_wrapper, _masked, plain, workspace_secrets
)
from workspaces.state.document import instance_address, load_state, resource_address


@dataclass
class AttributeChange:
    name: str
    before: object  # plain JSON, masked; None when absent
    after: object
    sensitive: bool = False
    before_absent: bool = False
    after_absent: bool = False

    @staticmethod
    def _text(value, absent):
        if absent:
            return "(absent)"
        if value == SENSITIVE:
            return SENSITIVE
        text = json.dumps(value, ensure_ascii=False, sort_keys=True)
        return text if len(text) <= 500 else text[:500] + "…"

    @property
    def before_text(self) -> str:
        return self._text(self.before, self.before_absent)

    @property
    def after_text(self) -> str:
        return self._text(self.after, self.after_absent)


@dataclass
class ResourceChange:
    address: str
    type: str
    action: str  # "added", "removed", "changed"
    attributes: list[AttributeChange] = field(default_factory=list)


@dataclass
class OutputChange:
    name: str
    action: str
    before: object
    after: object
    sensitive: bool


@dataclass
class StateComparison:
    old: StateVersion
    new: StateVersion
    changes: list[ResourceChange]  # sorted by address
    unchanged: int
    outputs: list[OutputChange]

    @property
    def added(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.action == "added"]

    @property
    def removed(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.action == "removed"]

    @property
    def changed(self) -> list[ResourceChange]:
        return [c for c in self.changes if c.action == "changed"]

    @property
    def identical(self) -> bool:
        return not self.changes and not self.outputs


def _instances(data: dict) -> dict[str, tuple[str, dict]]:
    out = {}
    for resource in data.get("resources") or []:
        if not isinstance(resource, dict):
            continue
        base = resource_address(resource)
        for instance in resource.get("instances") or []:
            if isinstance(instance, dict):
                out[instance_address(base, instance)] = (resource.get("type", ""), instance)
    return out


_MAX_DEPTH = 6


def _sub_trie(trie, key):
    return trie if trie is True else (trie.get(key) if trie else None)


def _attribute_changes(old, new, old_mask: tuple, new_mask: tuple, path: str, out: list, depth: int = 0) -> None:
    """Append the changes between two attribute trees; ``*_mask`` is (sensitive trie, secrets).

    Masks are applied only where a change is reported, so a big unchanged subtree costs one
    equality check.
    """
    if old == new:
        return
    (old_trie, old_secrets), (new_trie, new_secrets) = old_mask, new_mask
    if old_trie is True or new_trie is True:
        out.append(AttributeChange(
            path or "(all attributes)", None if old is _ABSENT else SENSITIVE, None if new is _ABSENT else SENSITIVE,
            sensitive=True, before_absent=old is _ABSENT, after_absent=new is _ABSENT,
        ))
        return
    if _is_wrapper(old) and _is_wrapper(new) and old["type"] == new["type"]:
        _attribute_changes(old["value"], new["value"], old_mask, new_mask, path, out, depth)
        return
    if isinstance(old, dict) and isinstance(new, dict) and not _is_wrapper(old) and not _is_wrapper(new) \
            and depth < _MAX_DEPTH:
        for key in list(old) + [k for k in new if k not in old]:
            _attribute_changes(
                old.get(key, _ABSENT), new.get(key, _ABSENT),
                (_sub_trie(old_trie, key), old_secrets), (_sub_trie(new_trie, key), new_secrets),
                f"{path}.{key}" if path else str(key), out, depth + 1,
            )
        return
    old_shown = _ABSENT if old is _ABSENT else _masked(old, old_trie, old_secrets)
    new_shown = _ABSENT if new is _ABSENT else _masked(new, new_trie, new_secrets)
    out.append(AttributeChange(
        path or "(all attributes)",
        None if old is _ABSENT else plain(old_shown), None if new is _ABSENT else plain(new_shown),
        sensitive=_contains_mask(old_shown) or _contains_mask(new_shown),
        before_absent=old is _ABSENT, after_absent=new is _ABSENT,
    ))


def _instance_changes(old: dict, new: dict, secrets: list[str]) -> list[AttributeChange]:
    changes: list[AttributeChange] = []
    _attribute_changes(
        old.get("attributes") or {}, new.get("attributes") or {},
        _instance_masking(old, secrets), _instance_masking(new, secrets), "", changes,
    )
    return changes


def _output_changes(old: dict, new: dict, secrets: list[str]) -> list[OutputChange]:
    changes = []
    old_outputs, new_outputs = old.get("outputs") or {}, new.get("outputs") or {}
    for name in sorted(set(old_outputs) | set(new_outputs)):
        before, after = old_outputs.get(name), new_outputs.get(name)
        if before == after:
            continue
        sensitive = bool((before or {}).get("sensitive") or (after or {}).get("sensitive"))

        def show(output):
            if output is None:
                return None
            return SENSITIVE if sensitive else plain(_masked(output.get("value"), None, secrets))

        action = "added" if before is None else "removed" if after is None else "changed"
        changes.append(OutputChange(name, action, show(before), show(after), sensitive))
    return changes


def state_compare(*, workspace: Workspace, from_serial: int, to_serial: int) -> StateComparison:
    """Compare two state versions by resource instance address."""
    found = {v.serial: v for v in StateVersion.objects.filter(workspace=workspace, serial__in=[from_serial, to_serial])}
    for serial in (from_serial, to_serial):
        if serial not in found:
            raise NotFound(f"Workspace {workspace.name} has no state version with serial {serial}.")
    old_version, new_version = found[from_serial], found[to_serial]
    old_data = load_state(old_version)
    new_data = old_data if from_serial == to_serial else load_state(new_version)
    secrets = workspace_secrets(workspace)
    old_instances, new_instances = _instances(old_data), _instances(new_data)
    changes: list[ResourceChange] = []
    unchanged = 0
    for address, (rtype, instance) in old_instances.items():
        other = new_instances.get(address)
        if other is None:
            changes.append(ResourceChange(address, rtype, "removed"))
        elif other[1] == instance:
            unchanged += 1
        else:
            attributes = _instance_changes(instance, other[1], secrets)
            if not attributes:  # only bookkeeping (schema version, dependencies…) moved
                attributes = [AttributeChange("(metadata)", None, None)]
            changes.append(ResourceChange(address, other[0], "changed", attributes))
    for address, (rtype, _instance) in new_instances.items():
        if address not in old_instances:
            changes.append(ResourceChange(address, rtype, "added"))
    changes.sort(key=lambda c: c.address)
    return StateComparison(old_version, new_version, changes, unchanged,
                           _output_changes(old_data, new_data, secrets))
