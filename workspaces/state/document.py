"""A terraform.tfstate document: parsing, checks, and the addresses of what it holds."""

import gc
import json
from contextlib import contextmanager

from iacplatform.errors import DomainError


class InvalidState(DomainError):
    pass


def parse_state(content: str | bytes) -> dict:
    """Parse and check a terraform.tfstate document (format version, serial, lineage)."""
    try:
        data = json.loads(content)
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidState(f"The state is not valid JSON: {exc}") from None
    if not isinstance(data, dict):
        raise InvalidState("The state must be a JSON object.")
    if data.get("version") != 4:
        raise InvalidState(f"Unsupported state format version {data.get('version')!r}; Terraform writes version 4.")
    serial = data.get("serial")
    if not isinstance(serial, int) or isinstance(serial, bool) or serial < 0:
        raise InvalidState("The state has no valid 'serial' (a non-negative integer).")
    lineage = data.get("lineage")
    if not isinstance(lineage, str) or not lineage:
        raise InvalidState("The state has no 'lineage'.")
    if not isinstance(data.get("resources", []), list):
        raise InvalidState("The state's 'resources' must be a list.")
    return data


def check_resources(data: dict) -> None:
    for i, resource in enumerate(data.get("resources") or []):
        if not isinstance(resource, dict):
            raise InvalidState(f"resources[{i}] is not an object.")
        for key in ("type", "name"):
            if not isinstance(resource.get(key), str) or not resource.get(key):
                raise InvalidState(f"resources[{i}] has no '{key}'.")
        if not isinstance(resource.get("instances", []), list):
            raise InvalidState(f"resources[{i}] ({resource_address(resource)}): 'instances' must be a list.")
    if not isinstance(data.get("outputs", {}), dict):
        raise InvalidState("The state's 'outputs' must be an object.")


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


# "Resources" of a workspace, the one definition every page and the API use (the list, the
# overview, state versions): the instances of managed resources in the state, as Terraform
# counts them ("Resources: 3 added"): each instance of a count/for_each counts, data sources
# do not. Stored with each state version (StateVersion.resource_count).
RESOURCE_COUNT_HELP = ("Resource instances in the latest state: each instance of a count or for_each counts; "
                       "data sources do not.")


def resource_instance_count(data: dict) -> int:
    """The workspace's resource count for a state document (see RESOURCE_COUNT_HELP).

    A managed resource recorded without instances counts as one.
    """
    return sum(len(r.get("instances") or []) or 1
               for r in data.get("resources") or [] if r.get("mode") == "managed")


def resource_address(resource: dict) -> str:
    prefix = f"{resource['module']}." if resource.get("module") else ""
    mode = "data." if resource.get("mode") == "data" else ""
    return f"{prefix}{mode}{resource.get('type')}.{resource.get('name')}"


def instance_address(base: str, instance: dict) -> str:
    key = instance.get("index_key")
    if key is None:
        return base
    if isinstance(key, str):
        return f"{base}[{json.dumps(key)}]"
    return f"{base}[{key}]"


def provider_name(provider: str) -> str:
    # 'provider["registry.terraform.io/hashicorp/aws"].west' -> 'hashicorp/aws (west)'
    if not provider:
        return ""
    inner = provider.split('"')[1] if '"' in provider else provider
    short = inner.removeprefix("registry.terraform.io/").removeprefix("terraform.io/")
    alias = provider.rsplit("].", 1)[1] if "]." in provider else ""
    return f"{short} ({alias})" if alias else short


def load_state(version) -> dict:
    """A stored version's content as a dict (the collector paused: see ``_gc_paused``)."""
    try:
        with _gc_paused():
            return json.loads(version.content)
    except ValueError:
        raise InvalidState(f"State serial {version.serial} is not readable JSON.") from None
