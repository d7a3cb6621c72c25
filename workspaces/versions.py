"""Versions of a workspace's code and of its Terraform state.

Code: save (validated first), history, detail, compare any two, rollback.
State: history, detail, compare two versions resource by resource, rollback, upload,
download. The views (``views_versions``) and the API (``api_versions``) are thin
callers of these functions.

Sensitive values never leave this module unmasked: attribute paths a state lists in an
instance's ``sensitive_attributes``, outputs marked sensitive, and any string that holds
the value of one of the workspace's sensitive variables all show as "(sensitive)".
"""

import gc
import json
import logging
from contextlib import contextmanager
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, Window
from django.db.models.functions import RowNumber

from executions.models import WorkspaceTask
from iacplatform.errors import Conflict, DomainError, NotFound
from workspaces.codecheck import AUTO, check_code
from workspaces.diffs import DEFAULT_CONTEXT, TextDiff, text_diff
from workspaces.models import StateVersion, Variable, Workspace, WorkspaceCodeVersion
from workspaces.services import (
    InvalidState,
    code_version_save,
    latest_state,
    parse_state,
    state_version_create,
)

state_log = logging.getLogger("workspaces.state")
code_log = logging.getLogger("workspaces.code")

SENSITIVE = "(sensitive)"
RECENT_RUNS_PER_VERSION = 5
MESSAGE_MAX_LENGTH = WorkspaceCodeVersion._meta.get_field("message").max_length
DOWNLOAD_PERMISSION = "workspaces.view_stateversion"


class Forbidden(DomainError):
    status = 403


def parse_number(value, *, what: str = "version number", minimum: int = 1, field_name: str = "number") -> int:
    """A version number or serial from a URL or query string, or a 400 that says why."""
    text = str(value).strip() if value is not None else ""
    if not text.lstrip("+").isdigit() or int(text) < minimum:
        raise DomainError(
            f"{value!r} is not a valid {what}: use a whole number of at least {minimum}.",
            errors={field_name: [f"Use a whole number ≥ {minimum}."]},
        )
    number = int(text)
    if number > 2**63 - 1:
        raise DomainError(f"{value!r} is not a valid {what}: it is too large.",
                          errors={field_name: ["Too large."]})
    return number


def _refuse_while_running(workspace: Workspace, action: str) -> None:
    running = (
        WorkspaceTask.objects.filter(workspace=workspace, status=WorkspaceTask.Status.RUNNING)
        .values_list("pk", flat=True)
        .first()
    )
    if running is not None:
        raise Conflict(f"Run #{running} is running on workspace {workspace.name}; {action} once it has finished.")


def workspace_secrets(workspace: Workspace) -> list[str]:
    """The plaintext values of the workspace's sensitive variables (to mask, never to show)."""
    values = []
    for var in Variable.objects.filter(workspace=workspace, sensitive=True):
        try:
            value = var.get_value()
        except Exception:  # an unreadable secret cannot leak either
            continue
        if value:
            values.append(value)
    return sorted(set(values), key=len, reverse=True)


def redact(text: str, secrets: list[str]) -> str:
    """Mask secrets inside a string (short secrets only when they are the whole string)."""
    for secret in secrets:
        if text == secret:
            return SENSITIVE
        if len(secret) >= 4 and secret in text:
            text = text.replace(secret, SENSITIVE)
    return text


# ======================================================================================
# Code
# ======================================================================================
def code_version_list(*, workspace: Workspace):
    """The history, newest first, without the code itself (a page of it is cheap)."""
    return (
        WorkspaceCodeVersion.objects.filter(workspace=workspace)
        .select_related("author")
        .defer("code", "provider_config")
        .order_by("-number")
    )


def code_versions_with_runs(versions) -> list[WorkspaceCodeVersion]:
    """Attach ``run_count`` and ``recent_runs`` (the last few runs that used it) to each version."""
    versions = list(versions)
    ids = [v.pk for v in versions]
    counts = dict(
        WorkspaceTask.objects.filter(code_version_id__in=ids)
        .values("code_version_id").annotate(n=Count("id")).values_list("code_version_id", "n")
    )
    recent: dict[int, list[dict]] = {}
    rows = (
        WorkspaceTask.objects.filter(code_version_id__in=ids)
        .annotate(rank=Window(RowNumber(), partition_by=[F("code_version_id")], order_by=F("id").desc()))
        .filter(rank__lte=RECENT_RUNS_PER_VERSION)
        .values("id", "code_version_id", "status", "task_type")
        .order_by("code_version_id", "-id")
    )
    for row in rows:
        recent.setdefault(row["code_version_id"], []).append(row)
    for version in versions:
        version.run_count = counts.get(version.pk, 0)
        version.recent_runs = recent.get(version.pk, [])
    return versions


def code_version_get(*, workspace: Workspace, number: int) -> WorkspaceCodeVersion:
    version = (
        WorkspaceCodeVersion.objects.select_related("author").filter(workspace=workspace, number=number).first()
    )
    if version is None:
        raise NotFound(f"Workspace {workspace.name} has no code version {number}.")
    return version


def code_version_numbers(*, workspace: Workspace) -> list[int]:
    return list(
        WorkspaceCodeVersion.objects.filter(workspace=workspace).order_by("-number").values_list("number", flat=True)
    )


def code_save(*, workspace: Workspace, code: str, code_format: str = AUTO, message: str = "",
              author=None) -> tuple[WorkspaceCodeVersion, bool]:
    """Validate and save the workspace's code. Returns (version, created).

    Invalid code raises ``InvalidCode`` (a 400 naming line and column) and saves nothing;
    unchanged code makes no version and returns the current one.
    """
    message = (message or "").strip()
    if len(message) > MESSAGE_MAX_LENGTH:
        raise DomainError(f"The message is longer than {MESSAGE_MAX_LENGTH} characters.",
                          errors={"message": [f"At most {MESSAGE_MAX_LENGTH} characters."]})
    detected = check_code(code, code_format)
    version, created = code_version_save(
        workspace=workspace, code=code, code_format=detected, message=message, author=author
    )
    if created:
        code_log.info("code version saved workspace=%s number=%s user=%s",
                      workspace.name, version.number, getattr(author, "username", None))
    return version, created


def code_version_rollback(*, workspace: Workspace, number: int, author=None) -> tuple[WorkspaceCodeVersion, bool]:
    """Make an old version current again as a new version (history is never rewritten).

    Returns (version, created); rolling back to what is already current creates nothing.
    """
    target = code_version_get(workspace=workspace, number=number)
    version, created = code_version_save(
        workspace=workspace, code=target.code, code_format=target.code_format,
        provider_config=target.provider_config, message=f"Rollback to version {number}", author=author,
    )
    if created:
        code_log.info("code rollback workspace=%s to=%s new=%s user=%s",
                      workspace.name, number, version.number, getattr(author, "username", None))
    return version, created


@dataclass
class CodeComparison:
    old: WorkspaceCodeVersion
    new: WorkspaceCodeVersion
    diff: TextDiff
    provider_diff: TextDiff | None = None


def code_compare(*, workspace: Workspace, from_number: int, to_number: int,
                 context: int | None = DEFAULT_CONTEXT) -> CodeComparison:
    found = {
        v.number: v
        for v in WorkspaceCodeVersion.objects.select_related("author").filter(
            workspace=workspace, number__in=[from_number, to_number]
        )
    }
    for number in (from_number, to_number):
        if number not in found:
            raise NotFound(f"Workspace {workspace.name} has no code version {number}.")
    old, new = found[from_number], found[to_number]
    provider_diff = None
    if old.provider_config != new.provider_config:
        provider_diff = text_diff(
            json.dumps(old.provider_config, indent=2, sort_keys=True),
            json.dumps(new.provider_config, indent=2, sort_keys=True),
            context=context,
        )
    return CodeComparison(old, new, text_diff(old.code, new.code, context=context), provider_diff)


# ======================================================================================
# State
# ======================================================================================
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


@contextmanager
def _gc_paused():
    """Parsing a multi-megabyte state allocates ~10⁵ containers; the cyclic collector would
    run many times meanwhile for nothing (none of them is garbage). Pausing it halves the
    parse time of a 5 MB state."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def _load(version: StateVersion) -> dict:
    try:
        with _gc_paused():
            return json.loads(version.content)
    except ValueError:
        raise InvalidState(f"State serial {version.serial} is not readable JSON.") from None


def _resource_address(resource: dict) -> str:
    prefix = f"{resource['module']}." if resource.get("module") else ""
    mode = "data." if resource.get("mode") == "data" else ""
    return f"{prefix}{mode}{resource.get('type')}.{resource.get('name')}"


def _instance_address(base: str, instance: dict) -> str:
    key = instance.get("index_key")
    if key is None:
        return base
    if isinstance(key, str):
        return f"{base}[{json.dumps(key)}]"
    return f"{base}[{key}]"


def _provider_name(provider: str) -> str:
    # 'provider["registry.terraform.io/hashicorp/aws"].west' -> 'hashicorp/aws (west)'
    if not provider:
        return ""
    inner = provider.split('"')[1] if '"' in provider else provider
    short = inner.removeprefix("registry.terraform.io/").removeprefix("terraform.io/")
    alias = provider.rsplit("].", 1)[1] if "]." in provider else ""
    return f"{short} ({alias})" if alias else short


# --- masking ---------------------------------------------------------------------------
class _Mask:
    """Stands for a sensitive value while comparing (never equal to a real value)."""

    def __repr__(self):
        return SENSITIVE


MASK = _Mask()
_ABSENT = object()


def _step_key(step):
    if not isinstance(step, dict):
        return _ABSENT
    value = step.get("value")
    if step.get("type") == "index" and isinstance(value, dict) and "value" in value:
        value = value["value"]
    return value if isinstance(value, (str, int)) and not isinstance(value, bool) else _ABSENT


def _is_wrapper(node) -> bool:
    """Dynamic-typed attributes (terraform_data's input/output) are stored as {value, type}."""
    return isinstance(node, dict) and len(node) == 2 and "value" in node and "type" in node


def _resolve(node, steps) -> bool:
    for step in steps:
        if _is_wrapper(node) and not (isinstance(step, str) and step in ("value", "type")):
            node = node["value"]
        if isinstance(node, dict) and isinstance(step, str) and step in node:
            node = node[step]
        elif isinstance(node, list) and isinstance(step, int) and 0 <= step < len(node):
            node = node[step]
        else:
            return False
    return True


def _sensitive_trie(instance: dict) -> dict | bool:
    """The instance's sensitive attribute paths as a nested dict (True marks a masked node).

    A path we cannot follow masks its whole top-level attribute; a format we do not
    understand masks every attribute: better hidden than leaked.
    """
    attributes = instance.get("attributes") or {}
    raw_paths = instance.get("sensitive_attributes") or []
    if not isinstance(raw_paths, list):
        return True
    trie: dict = {}
    for raw in raw_paths:
        steps = [_step_key(step) for step in raw] if isinstance(raw, list) else [_ABSENT]
        if not steps:
            continue
        if any(step is _ABSENT for step in steps):
            if isinstance(steps[0], str) and steps[0] in attributes:
                steps = steps[:1]
            else:
                return True
        elif not _resolve(attributes, steps):
            steps = steps[:1]
        node = trie
        for step in steps[:-1]:
            child = node.get(step)
            if child is True:
                break
            node = node.setdefault(step, {})
        else:
            node[steps[-1]] = True
    return trie


def _masked(node, trie, secrets):
    """A copy of ``node`` with sensitive parts replaced by MASK and secrets redacted."""
    if trie is True:
        return MASK
    if isinstance(node, dict):
        wrapper = _is_wrapper(node)
        out = {}
        for key, value in node.items():
            sub = trie.get(key) if trie else None
            if sub is None and wrapper and key == "value":
                sub = trie
            out[key] = _masked(value, sub, secrets)
        return out
    if isinstance(node, list):
        return [_masked(value, trie.get(i) if trie else None, secrets) for i, value in enumerate(node)]
    if isinstance(node, str) and secrets:
        redacted = redact(node, secrets)
        return MASK if redacted == SENSITIVE else redacted
    return node


def plain(value):
    """A masked tree as plain JSON values (MASK becomes "(sensitive)")."""
    if value is MASK:
        return SENSITIVE
    if isinstance(value, dict):
        if _is_wrapper(value):
            return plain(value["value"])
        return {k: plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [plain(v) for v in value]
    return value


def _contains_mask(value) -> bool:
    if value is MASK:
        return True
    if isinstance(value, dict):
        return any(_contains_mask(v) for v in value.values())
    if isinstance(value, list):
        return any(_contains_mask(v) for v in value)
    return False


def _strings_in(node, found: set) -> None:
    if isinstance(node, str):
        if node:
            found.add(node)
    elif isinstance(node, dict):
        for value in node.values():
            _strings_in(value, found)
    elif isinstance(node, list):
        for value in node:
            _strings_in(value, found)


def _leaves_under(node, trie, found: set) -> None:
    """Collect the strings under sensitive paths (walks the paths, not the whole tree)."""
    if trie is True:
        _strings_in(node, found)
        return
    if not trie:
        return
    if _is_wrapper(node) and "value" not in trie and "type" not in trie:
        node = node["value"]
    for key, sub in trie.items():
        if isinstance(node, dict) and key in node:
            _leaves_under(node[key], sub, found)
        elif isinstance(node, list) and isinstance(key, int) and 0 <= key < len(node):
            _leaves_under(node[key], sub, found)


def _instance_masking(instance: dict, secrets: list[str]) -> tuple[dict | bool, list[str]]:
    """(sensitive trie, secrets to redact) for one instance.

    A sensitive value can also appear unmarked elsewhere in the same instance (Terraform
    records terraform_data's ``input`` as sensitive but not its ``output`` copy), so every
    value found under a sensitive path is redacted wherever it appears in the instance.
    """
    trie = _sensitive_trie(instance)
    if trie is True or not trie:
        return trie, secrets
    local: set = set()
    _leaves_under(instance.get("attributes") or {}, trie, local)
    if local:
        secrets = sorted(set(secrets) | local, key=len, reverse=True)
    return trie, secrets


def state_secret_strings(state: dict) -> list[str]:
    """Every string a state holds under a sensitive path, and its sensitive outputs' values.

    The executor redacts them from run logs: terraform prints a resource's previous
    values, which may be secrets the workspace's variables no longer hold.
    """
    found: set = set()
    for resource in state.get("resources") or []:
        for instance in resource.get("instances") or []:
            trie = _sensitive_trie(instance)
            if trie:
                _leaves_under(instance.get("attributes") or {}, trie, found)
    for output in (state.get("outputs") or {}).values():
        if output.get("sensitive"):
            _strings_in(output.get("value"), found)
    return sorted((s for s in found if len(s) >= 3), key=len, reverse=True)


def _mask_instance(instance: dict, secrets: list[str]):
    """An instance's attributes with MASKs in place."""
    trie, secrets = _instance_masking(instance, secrets)
    return _masked(instance.get("attributes") or {}, trie, secrets)


def masked_attributes(instance: dict, secrets: list[str]) -> dict:
    """An instance's attributes, safe to show."""
    return plain(_mask_instance(instance, secrets))


# --- detail ----------------------------------------------------------------------------
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
            address=_resource_address(resource), mode=resource.get("mode", "managed"),
            type=resource.get("type", ""), name=resource.get("name", ""), module=resource.get("module"),
            provider=_provider_name(resource.get("provider", "")), instance_count=len(instances),
            raw_instances=instances,
        ))
    rows.sort(key=lambda r: r.address)
    return rows


def mask_instances(rows, secrets: list[str]) -> None:
    """Fill ``instances`` with (address, masked attributes as indented JSON), only for the rows shown."""
    for row in rows:
        row.instances = [
            (_instance_address(row.address, inst),
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
    data = _load(version)
    secrets = workspace_secrets(workspace)
    return StateDetail(
        version=version,
        terraform_version=str(data.get("terraform_version", "")),
        resources=state_resources(data),
        outputs=state_outputs(data, secrets),
        secrets=secrets,
    )


# --- compare ---------------------------------------------------------------------------
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
        base = _resource_address(resource)
        for instance in resource.get("instances") or []:
            if isinstance(instance, dict):
                out[_instance_address(base, instance)] = (resource.get("type", ""), instance)
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
    old_data = _load(old_version)
    new_data = old_data if from_serial == to_serial else _load(new_version)
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


# --- rollback, upload, download --------------------------------------------------------
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
    state_log.info("state rollback user=%s workspace=%s from_serial=%s new_serial=%s",
                   getattr(user, "username", None), workspace.name, serial, version.serial)
    return version


def _check_resources(data: dict) -> None:
    for i, resource in enumerate(data.get("resources") or []):
        if not isinstance(resource, dict):
            raise InvalidState(f"resources[{i}] is not an object.")
        for key in ("type", "name"):
            if not isinstance(resource.get(key), str) or not resource.get(key):
                raise InvalidState(f"resources[{i}] has no '{key}'.")
        if not isinstance(resource.get("instances", []), list):
            raise InvalidState(f"resources[{i}] ({_resource_address(resource)}): 'instances' must be a list.")
    if not isinstance(data.get("outputs", {}), dict):
        raise InvalidState("The state's 'outputs' must be an object.")


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
    _check_resources(data)
    with transaction.atomic():
        Workspace.objects.select_for_update().filter(pk=workspace.pk).first()
        _refuse_while_running(workspace, "upload the state")
        version = state_version_create(workspace=workspace, content=content, user=user, source="upload", force=force)
    state_log.info("state upload user=%s workspace=%s serial=%s lineage=%s forced=%s size=%s",
                   getattr(user, "username", None), workspace.name, version.serial, version.lineage,
                   force, version.size)
    return version


def can_download_state(user) -> bool:
    """The raw state holds every secret in clear text: it takes a permission to read it."""
    return bool(user and user.is_active and user.has_perm(DOWNLOAD_PERMISSION))


def state_download(*, workspace: Workspace, serial: int, user) -> tuple[str, str]:
    """(file name, raw content) of a state version; permission-checked and logged."""
    if not can_download_state(user):
        state_log.warning("state download refused user=%s workspace=%s serial=%s",
                          getattr(user, "username", None), workspace.name, serial)
        raise Forbidden(
            "Downloading a raw state needs the 'Can view state version' permission: "
            "it holds sensitive values in clear text."
        )
    version = state_version_get(workspace=workspace, serial=serial, content=True)
    state_log.info("state download user=%s workspace=%s serial=%s", user.get_username(), workspace.name, serial)
    return f"{workspace.name}-serial-{serial}.tfstate", version.content
