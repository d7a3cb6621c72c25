"""Every rule that keeps a secret out of a page, a log, an API answer or the admin.

One module, so that the log, the plan summary, the state pages and the admin agree:

- ``redact`` masks secret strings inside text: a secret is replaced wherever it occurs
  when it has at least ``MIN_SECRET_LENGTH`` characters, and a shorter one only when it
  is the whole value (masking every "ab" of a log would hide nothing and ruin it);
- a state instance's ``sensitive_attributes`` paths become a trie: the parts under it are
  masked, and any string found under a sensitive path is masked wherever else it appears
  in the same instance (Terraform marks terraform_data's ``input`` sensitive, not its
  ``output`` copy); a plan change's ``*_sensitive`` marks work the same way;
- what a sensitive variable holds (and the string literals of an HCL one) is redacted
  from logs and masked in pages.

``SENSITIVE`` is what pages and APIs show for a masked value, ``REDACTED`` what a log shows.
"""

import json
import re

SENSITIVE = "(sensitive)"
REDACTED = "***"
UNKNOWN = "(known after apply)"
MIN_SECRET_LENGTH = 4
HCL_STRING = re.compile(r'"((?:[^"\\]|\\.)+)"')


MIN_LINE_LENGTH = 8  # a line of a multi-line secret is masked on its own from this length


def ordered(secrets) -> list[str]:
    """Longest first, so that a secret containing another is replaced whole."""
    return sorted({s for s in secrets if s}, key=len, reverse=True)


def secret_forms(value: str) -> set[str]:
    """The ways a secret shows up in text: as is, JSON-escaped (quotes, backslashes, newlines
    as ``\\n``), and — for a multi-line value such as a PEM key, which a log splits into lines —
    each of its lines (stripped, from ``MIN_LINE_LENGTH`` characters), raw and JSON-escaped."""
    forms = {value}
    escaped = json.dumps(value)[1:-1]
    forms.add(escaped)
    if "\n" in value or "\r" in value:
        for line in value.splitlines():
            line = line.strip()
            if len(line) >= MIN_LINE_LENGTH:
                forms.add(line)
                forms.add(json.dumps(line)[1:-1])
    return {f for f in forms if f}


def redact(text: str, secrets: list[str], marker: str = SENSITIVE) -> str:
    """Mask secrets inside a string (short secrets only when they are the whole string)."""
    for secret in secrets:
        if text == secret:
            return marker
        if len(secret) >= MIN_SECRET_LENGTH and secret in text:
            text = text.replace(secret, marker)
    return text


def redact_tree(value, secrets: list[str], marker: str = SENSITIVE):
    """``redact`` applied to every string of a JSON-like value."""
    if not secrets:
        return value  # nothing to mask: no copy of a (possibly big) tree
    if isinstance(value, str):
        return redact(value, secrets, marker)
    if isinstance(value, dict):
        return {k: redact_tree(v, secrets, marker) for k, v in value.items()}
    if isinstance(value, list):
        return [redact_tree(v, secrets, marker) for v in value]
    return value


# --- variables -------------------------------------------------------------------------
def variable_secret_strings(variables) -> list[str]:
    """What sensitive variables hold: their values, and the string literals inside HCL ones."""
    found: set[str] = set()
    for var in variables:
        if not var.sensitive:
            continue
        try:
            value = var.get_value()
        except Exception:  # an unreadable secret cannot leak either
            continue
        if value:
            found.update(secret_forms(value))
        if value and var.hcl:
            found.update(s for s in HCL_STRING.findall(value) if len(s) >= MIN_SECRET_LENGTH)
    return ordered(found)


def workspace_secrets(workspace) -> list[str]:
    """The plaintext secrets of the workspace's sensitive variables (to mask, never to show)."""
    return variable_secret_strings(workspace.variables.filter(sensitive=True))


def variable_display_value(variable) -> str:
    """What a page or the admin may show of a variable's value."""
    return SENSITIVE if variable.sensitive else variable.value


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
    return ordered(form for s in found if len(s) >= 3 for form in secret_forms(s))


def _mask_instance(instance: dict, secrets: list[str]):
    """An instance's attributes with MASKs in place."""
    trie, secrets = _instance_masking(instance, secrets)
    return _masked(instance.get("attributes") or {}, trie, secrets)


def masked_attributes(instance: dict, secrets: list[str]) -> dict:
    """An instance's attributes, safe to show."""
    return plain(_mask_instance(instance, secrets))


def mask_outputs(outputs: dict) -> dict:
    """A state's outputs as stored beside a version: sensitive ones masked."""
    return {
        name: {"value": SENSITIVE if out.get("sensitive") else out.get("value"),
               "type": out.get("type"), "sensitive": bool(out.get("sensitive"))}
        for name, out in (outputs or {}).items()
    }


# --- plan changes ------------------------------------------------------------------------
def _marked(value, sensitive, unknown=False):
    """``value`` with every part marked sensitive (or unknown) replaced by a marker."""
    if sensitive is True:
        return SENSITIVE
    if unknown is True:
        return UNKNOWN
    if isinstance(value, dict):
        s = sensitive if isinstance(sensitive, dict) else {}
        u = unknown if isinstance(unknown, dict) else {}
        keys = set(value) | set(u)
        return {k: _marked(value.get(k), s.get(k, False), u.get(k, False)) for k in sorted(keys)}
    if isinstance(value, list):
        s = sensitive if isinstance(sensitive, list) else []
        u = unknown if isinstance(unknown, list) else []
        return [
            _marked(v, s[i] if i < len(s) else False, u[i] if i < len(u) else False) for i, v in enumerate(value)
        ]
    return value


def _strings_under(value, sensitive, found: set) -> None:
    """Collect the strings of ``value`` at the parts marked sensitive."""
    if sensitive is True:
        _strings_in(value, found)
    elif isinstance(value, dict) and isinstance(sensitive, dict):
        for k, v in value.items():
            _strings_under(v, sensitive.get(k, False), found)
    elif isinstance(value, list) and isinstance(sensitive, list):
        for v, s in zip(value, sensitive):
            _strings_under(v, s, found)


def mask_plan_change(change: dict) -> tuple[object, object]:
    """(before, after) of one ``resource_changes[].change`` with sensitive and unknown parts marked.

    A value found under a sensitive mark is masked wherever else it appears in the change.
    """
    before = change.get("before") or {}
    after = change.get("after") or {}
    leaked: set = set()
    _strings_under(before, change.get("before_sensitive") or {}, leaked)
    _strings_under(after, change.get("after_sensitive") or {}, leaked)
    before = _marked(before, change.get("before_sensitive") or {})
    after = _marked(after, change.get("after_sensitive") or {}, change.get("after_unknown") or {})
    if leaked:
        copies = ordered(leaked)
        before, after = redact_tree(before, copies), redact_tree(after, copies)
    return before, after
