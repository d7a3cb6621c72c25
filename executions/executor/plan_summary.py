"""What a plan will change, from ``terraform show -json``, with sensitive values masked
(by the rules of ``workspaces.secrets``)."""

from workspaces.secrets import REDACTED, SENSITIVE, mask_plan_change, redact_tree


def _action(actions: list[str]) -> str:
    if actions == ["no-op"]:
        return "no-op"
    if "create" in actions and "delete" in actions:
        return "replace"
    for name in ("create", "update", "delete", "read"):
        if name in actions:
            return name
    return "no-op"


def changed_attributes(change: dict) -> list[dict]:
    before, after = mask_plan_change(change)
    if not isinstance(before, dict) or not isinstance(after, dict):
        return []
    rows = []
    for name in sorted(set(before) | set(after)):
        b, a = before.get(name), after.get(name)
        if b == a:
            continue
        sensitive = SENSITIVE in (b, a)
        rows.append({"name": name, "before": b, "after": a, "sensitive": sensitive})
    return rows


def summarize_plan(plan: dict, secrets: list[str] | None = None) -> dict:
    counts = {"add": 0, "change": 0, "destroy": 0, "replace": 0}
    resources, unchanged = [], []
    for rc in plan.get("resource_changes", []) or []:
        change = rc.get("change", {})
        action = _action(change.get("actions", []))
        if action == "create":
            counts["add"] += 1
        elif action == "update":
            counts["change"] += 1
        elif action == "delete":
            counts["destroy"] += 1
        elif action == "replace":
            counts["add"] += 1
            counts["destroy"] += 1
            counts["replace"] += 1
        if action == "no-op":
            # Only where it is: a big plan's page lists the unchanged resources, collapsed.
            unchanged.append({"address": rc.get("address", ""), "type": rc.get("type", ""),
                              "module": rc.get("module_address")})
            continue
        resources.append({
            "address": rc.get("address", ""),
            "type": rc.get("type", ""),
            "name": rc.get("name", ""),
            "module": rc.get("module_address"),
            "action": action,
            "changed_attributes": changed_attributes(change),
        })
    outputs = []
    for name, change in sorted((plan.get("output_changes") or {}).items()):
        action = _action(change.get("actions", []))
        if action == "no-op":
            continue
        outputs.append({"name": name, "action": action,
                        "sensitive": bool(change.get("after_sensitive") or change.get("before_sensitive"))})
    summary = {**counts, "resources": resources, "unchanged": unchanged, "outputs": outputs}
    return redact_tree(summary, secrets or [], REDACTED)


def summarize_drift(plan: dict, secrets: list[str] | None = None) -> dict:
    """What changed outside terraform, from ``show -json`` of a ``plan -refresh-only``:
    ``{"drift": True, "resources": [{address, type, name, module, action, changed_attributes}]}``."""
    resources = []
    for rc in plan.get("resource_drift", []) or []:
        change = rc.get("change", {})
        action = _action(change.get("actions", []))
        if action == "no-op":
            continue
        resources.append({
            "address": rc.get("address", ""),
            "type": rc.get("type", ""),
            "name": rc.get("name", ""),
            "module": rc.get("module_address"),
            "action": action,
            "changed_attributes": changed_attributes(change),
        })
    summary = {"drift": bool(resources), "add": 0, "change": 0, "destroy": 0, "replace": 0,
               "resources": resources, "outputs": []}
    return redact_tree(summary, secrets or [], REDACTED)
