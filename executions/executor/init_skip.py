"""Whether ``terraform init`` has anything to do in a run's work dir.

init installs modules and providers and sets a backend up. A root module that declares none of
them — only resources and data sources of Terraform's built-in ``terraform`` provider
(``terraform_data``, ``terraform_remote_state``), variables, outputs, locals, ``moved`` — leaves
init nothing to do: it writes no file, and ``plan`` and ``apply`` run the same without it. A run
then skips it, which saves every such plan and apply a terraform start-up (~0.25 s).

The reading is conservative and cheap (no HCL parser: a line scan of block headers, a JSON
walk): any block or key it does not know, any other provider's type, a ``provider`` argument, a
stored lock file — and init runs. Should terraform still ask for init, the run runs it and goes on
(``TaskRun.terraform``).
"""

import json
import re
from pathlib import Path

from executions.executor.config import LOCK_FILE_NAME

BUILTIN_PREFIX = "terraform_"  # the resource types of the built-in provider "terraform"

# Block types a built-in-only configuration may hold, top-level or nested.
HCL_BLOCKS = frozenset({
    "resource", "data", "variable", "output", "locals", "moved", "terraform",
    "lifecycle", "provisioner", "connection", "precondition", "postcondition", "validation",
    "dynamic", "content",
})
JSON_TOP = frozenset({"resource", "data", "variable", "output", "locals", "moved", "terraform", "//"})
JSON_TERRAFORM = frozenset({"required_version", "//"})

_HEADER = re.compile(r'^[ \t]*([A-Za-z_][\w-]*)((?:[ \t]+(?:"[^"\n]*"|[A-Za-z_][\w-]*))*)[ \t]*\{', re.M)
_LABEL = re.compile(r'"([^"\n]*)"|([A-Za-z_][\w-]*)')
_PROVIDER_ARGUMENT = re.compile(r'^[ \t]*providers?[ \t]*=', re.M)
# Terraform's own diagnostics for a work dir that needs init (raised before anything is done).
_INIT_ASKED = re.compile(r'^(?:\u2502[ \t]*)?Error: (?:Module not installed|Backend initialization required|'
                         r'Inconsistent dependency lock file|Missing required provider|'
                         r'Required plugins are not installed)', re.M)


def init_needed(workdir: Path) -> str:
    """Why init must run in ``workdir`` (a short reason), or "" when it has nothing to do."""
    if (workdir / LOCK_FILE_NAME).exists():
        return "a provider lock file is kept for this workspace"
    if (workdir / ".terraform").exists():
        return "the work dir holds a .terraform directory"
    for path in sorted(workdir.iterdir()):
        if path.name.endswith(".tf.json"):
            reason = _json_reason(path.read_text(encoding="utf-8", errors="replace"))
        elif path.name.endswith(".tf"):
            reason = _hcl_reason(path.read_text(encoding="utf-8", errors="replace"))
        else:
            continue
        if reason:
            return f"{path.name}: {reason}"
    return ""


def asks_for_init(output: str) -> bool:
    """Does terraform's output say the work dir needs ``terraform init``?"""
    return bool(_INIT_ASKED.search(output))


def _hcl_reason(text: str) -> str:
    if _PROVIDER_ARGUMENT.search(text):
        return "a provider argument"
    for match in _HEADER.finditer(text):
        block = match.group(1)
        if block not in HCL_BLOCKS:
            return f"a {block} block"
        if block in ("resource", "data"):
            labels = [quoted or bare for quoted, bare in _LABEL.findall(match.group(2))]
            if not labels or not labels[0].startswith(BUILTIN_PREFIX):
                return f"{block} type {labels[0] if labels else '?'}"
    return ""


def _objects(value) -> list:
    """A JSON configuration value as its objects (Terraform's JSON syntax allows a list of them)."""
    items = value if isinstance(value, list) else [value]
    return [item for item in items if isinstance(item, dict)]


def _json_reason(text: str) -> str:
    try:
        doc = json.loads(text)
    except ValueError:
        return "not valid JSON"
    for top in _objects(doc):
        for key, value in top.items():
            if key not in JSON_TOP:
                return f"a {key} block"
            if key == "terraform" and any(set(block) - JSON_TERRAFORM for block in _objects(value)):
                return "terraform settings other than required_version"
            if key in ("resource", "data"):
                for types in _objects(value):
                    for kind, named in types.items():
                        if not kind.startswith(BUILTIN_PREFIX):
                            return f"{key} type {kind}"
                        for bodies in _objects(named):
                            for body in bodies.values():
                                if any("provider" in b for b in _objects(body)):
                                    return "a provider argument"
    return ""
