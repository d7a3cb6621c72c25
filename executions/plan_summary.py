"""What a plan will change, from ``terraform show -json``, with sensitive values masked."""

SENSITIVE = "(sensitive)"
UNKNOWN = "(known after apply)"


def _action(actions: list[str]) -> str:
    if actions == ["no-op"]:
        return "no-op"
    if "create" in actions and "delete" in actions:
        return "replace"
    for name in ("create", "update", "delete", "read"):
        if name in actions:
            return name
    return "no-op"


def _masked(value, sensitive, unknown=False):
    """``value`` with every part marked sensitive (or unknown) replaced by a marker."""
    if sensitive is True:
        return SENSITIVE
    if unknown is True:
        return UNKNOWN
    if isinstance(value, dict):
        s = sensitive if isinstance(sensitive, dict) else {}
        u = unknown if isinstance(unknown, dict) else {}
        keys = set(value) | set(u)
        return {k: _masked(value.get(k), s.get(k, False), u.get(k, False)) for k in sorted(keys)}
    if isinstance(value, list):
        s = sensitive if isinstance(sensitive, list) else []
        u = unknown if isinstance(unknown, list) else []
        return [
            _masked(v, s[i] if i < len(s) else False, u[i] if i < len(u) else False) for i, v in enumerate(value)
        ]
    return value


def _redact(value, secrets: list[str]):
    if isinstance(value, str):
        for secret in secrets:
            if secret and secret in value:
                value = value.replace(secret, "***")
        return value
    if isinstance(value, dict):
        return {k: _redact(v, secrets) for k, v in value.items()}
    if isinstance(value, list):
        return [_redact(v, secrets) for v in value]
    return value


def _strings_under(value, sensitive, found: set) -> None:
    """Collect the strings of ``value`` at the parts marked sensitive."""
    if sensitive is True:
        if isinstance(value, str) and value:
            found.add(value)
        elif isinstance(value, dict):
            for v in value.values():
                _strings_under(v, True, found)
        elif isinstance(value, list):
            for v in value:
                _strings_under(v, True, found)
    elif isinstance(value, dict) and isinstance(sensitive, dict):
        for k, v in value.items():
            _strings_under(v, sensitive.get(k, False), found)
    elif isinstance(value, list) and isinstance(sensitive, list):
        for v, s in zip(value, sensitive):
            _strings_under(v, s, found)


def _mask_copies(value, leaked: list[str]):
    """Mask the copies of sensitive strings that Terraform left unmarked (short ones only when whole)."""
    if isinstance(value, str):
        for secret in leaked:
            if value == secret:
                return SENSITIVE
            if len(secret) >= 4 and secret in value:
                value = value.replace(secret, SENSITIVE)
        return value
    if isinstance(value, dict):
        return {k: _mask_copies(v, leaked) for k, v in value.items()}
    if isinstance(value, list):
        return [_mask_copies(v, leaked) for v in value]
    return value


def changed_attributes(change: dict) -> list[dict]:
    before = change.get("before") or {}
    after = change.get("after") or {}
    # Terraform marks terraform_data's `input` sensitive but not its `output` copy: a value
    # found under a sensitive mark is masked wherever else it appears in the same change.
    leaked: set = set()
    _strings_under(before, change.get("before_sensitive") or {}, leaked)
    _strings_under(after, change.get("after_sensitive") or {}, leaked)
    before = _masked(before, change.get("before_sensitive") or {})
    after = _masked(after, change.get("after_sensitive") or {}, change.get("after_unknown") or {})
    if leaked:
        ordered = sorted(leaked, key=len, reverse=True)
        before, after = _mask_copies(before, ordered), _mask_copies(after, ordered)
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
    resources = []
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
        if action in ("no-op",):
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
    summary = {**counts, "resources": resources, "outputs": outputs}
    return _redact(summary, secrets or [])


def planned_addresses(plan: dict) -> list[str]:
    return sorted(
        rc["address"] for rc in plan.get("resource_changes", []) or []
        if _action(rc.get("change", {}).get("actions", [])) != "no-op"
    )
