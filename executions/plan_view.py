"""The plan as the run page shows it: grouped, filtered, and only as much of it as a page can hold.

A plan of thousands of resources must not become a page of megabytes. The page shows:

- the resources by action (create, update, replace, delete, read, then the unchanged ones,
  collapsed), and inside an action by module and type, each group with its count;
- only the resources matching ``q`` (a substring of the address, any case);
- at most ``GROUP_ROWS`` resources of an open group, and at most ``PAGE_ROWS`` on the page:
  groups past that budget start collapsed and load their rows when opened (``plan_rows``);
- a resource's attribute changes inline when the plan is small (``INLINE_LIMIT``), otherwise
  on demand, one resource at a time (``plan_resource``).

The change summary is already masked (``executions.executor.plan_summary``); ``plan_resource``
masks again with the workspace's current secrets, since it serves one resource on its own.
"""

import json
from dataclasses import dataclass
from urllib.parse import urlencode

from django.db import models
from django.db.models.expressions import RawSQL
from django.shortcuts import get_object_or_404

from executions.models import WorkspaceTask
from workspaces.secrets import SENSITIVE, redact_tree, workspace_secrets

ACTION_ORDER = ["create", "update", "replace", "delete", "read", "no-op"]
ACTION_LABELS = {
    "create": ("will be created", "+"),
    "update": ("will be updated in-place", "~"),
    "replace": ("must be replaced", "-/+"),
    "delete": ("will be destroyed", "-"),
    "read": ("will be read", "<="),
    "no-op": ("unchanged", " "),
}
MARKERS = {"(sensitive)", "(known after apply)"}
INLINE_LIMIT = 25   # up to this many changed resources, their attributes are on the page itself
GROUP_ROWS = 20     # rows of an open module/type group on the page (then "show more")
MORE_ROWS = 200     # rows each "show more" adds
PAGE_ROWS = 100     # rows on the page in all; groups past it start collapsed
MAX_GROUPS = 100    # module/type groups listed per action; a filter finds the others
MAX_Q = 200


@dataclass(frozen=True)
class PlanQuery:
    """What the reader asked of the plan: a filter, and one group opened at some offset."""

    q: str = ""
    group: str = ""
    offset: int = 0

    @classmethod
    def from_params(cls, params) -> "PlanQuery":
        try:
            offset = max(int(params.get("offset") or 0), 0)
        except (TypeError, ValueError):
            offset = 0
        return cls(q=(params.get("q") or "").strip()[:MAX_Q], group=(params.get("group") or "")[:600], offset=offset)


def q_param(q: str) -> str:
    """The filter as the start of a query string (``q=web&``), for the links that keep it."""
    return urlencode({"q": q}) + "&" if q else ""


def render_value(value) -> str:
    """A plan value as an operator reads it: markers bare, strings quoted, the rest as JSON."""
    if value is None:
        return "null"
    if isinstance(value, str):
        return value if value in MARKERS else json.dumps(value)
    return json.dumps(value, sort_keys=True)


def render_attributes(resource: dict) -> list[dict]:
    return [
        {
            "name": a.get("name", ""),
            "before": render_value(a.get("before")),
            "after": render_value(a.get("after")),
            "sensitive": bool(a.get("sensitive")),
        }
        for a in resource.get("changed_attributes", [])
    ]


def group_key(action: str, module: str | None, rtype: str) -> str:
    return f"{action}|{module or ''}|{rtype}"


def _entries(summary: dict):
    """(action, resource) of every resource the summary knows, unchanged ones last."""
    for r in summary.get("resources", []) or []:
        yield r.get("action", ""), r
    for r in summary.get("unchanged", []) or []:
        yield "no-op", r


def _grouped(summary: dict, q: str) -> tuple[dict, int]:
    """{action: {group key: [resources]}} of the resources matching ``q``, in plan order."""
    needle = q.lower()
    actions: dict[str, dict[str, list]] = {a: {} for a in ACTION_ORDER}
    total = 0
    for action, r in _entries(summary):
        if action not in actions:
            continue
        total += 1
        if needle and needle not in r.get("address", "").lower():
            continue
        key = group_key(action, r.get("module"), r.get("type", ""))
        actions[action].setdefault(key, []).append(r)
    return actions, total


def _rows(resources: list, action: str, inline: bool, offset: int, limit: int, open_rows: bool,
          resource_url: str) -> list[dict]:
    symbol = ACTION_LABELS[action][1]
    rows = []
    for r in resources[offset:offset + limit]:
        address = r.get("address", "")
        row = {"address": address, "action": action, "symbol": symbol}
        if action == "no-op":
            pass
        elif inline:
            row["attributes"] = render_attributes(r)
            row["open"] = open_rows
        else:
            row["url"] = f"{resource_url}?{urlencode({'address': address})}"
        rows.append(row)
    return rows


def _group(key: str, index: int, resources: list, *, action: str, inline: bool, rows: int, resource_url: str,
           offset: int = 0, open_rows: bool = False) -> dict:
    """One module/type group with ``rows`` of its resources from ``offset`` (none: collapsed)."""
    first = resources[0]
    shown = _rows(resources, action, inline, offset, rows, open_rows, resource_url)
    end = offset + len(shown)
    return {
        "key": key, "id": f"plan-{action}-{index}", "module": first.get("module") or "", "type": first.get("type", ""),
        "count": len(resources), "open": bool(shown), "rows": shown, "offset": offset,
        "first": offset + 1, "last": end, "next_offset": end if shown and end < len(resources) else None,
        "remaining": len(resources) - end,
    }


def plan_view(summary: dict | None, query: PlanQuery = PlanQuery(), *, resource_url: str = "") -> dict | None:
    """The change summary grouped for the page; None when there is no plan yet.

    ``resource_url`` is where a resource's attribute changes are loaded from (``?address=``).
    """
    if not summary:
        return None
    actions, total = _grouped(summary, query.q)
    changed = sum(len(rs) for action, groups in actions.items() if action != "no-op" for rs in groups.values())
    inline = not query.q and changed <= INLINE_LIMIT
    sections = sum(1 for action, groups in actions.items() if action != "no-op" and groups)
    budget = PAGE_ROWS
    groups, matched = [], 0
    for action in ACTION_ORDER:
        by_key = actions[action]
        if not by_key:
            continue
        label, symbol = ACTION_LABELS[action]
        count = sum(len(rs) for rs in by_key.values())
        matched += count
        subgroups = []
        for index, (key, resources) in enumerate(by_key.items()):
            if index >= MAX_GROUPS and key != query.group:
                continue
            if key == query.group:
                offset = min(query.offset, max(len(resources) - 1, 0))
                subgroups.append(_group(key, index, resources, action=action, inline=inline, rows=GROUP_ROWS,
                                        offset=offset, resource_url=resource_url))
                continue
            # unchanged resources stay collapsed unless the reader is looking for some
            rows = 0 if action == "no-op" and not query.q else min(GROUP_ROWS, max(budget, 0))
            if inline and action != "no-op":
                rows = len(resources)
            # as before big plans: a few changed resources are shown open
            open_rows = sections == 1 and count <= 5 or count <= 3
            subgroup = _group(key, index, resources, action=action, inline=inline, rows=rows, open_rows=open_rows,
                              resource_url=resource_url)
            budget -= len(subgroup["rows"])
            subgroups.append(subgroup)
        groups.append({
            "action": action, "label": label, "symbol": symbol, "count": count, "subgroups": subgroups,
            "hidden_groups": max(len(by_key) - MAX_GROUPS, 0),
            "collapsed": action == "no-op" and not query.q and query.group not in by_key,
        })
    unchanged = len(summary.get("unchanged", []) or [])
    return {
        "add": summary.get("add", 0), "change": summary.get("change", 0),
        "destroy": summary.get("destroy", 0), "replace": summary.get("replace", 0),
        "unchanged": unchanged, "total": total, "matched": matched, "q": query.q, "inline": inline,
        "q_param": q_param(query.q),
        "groups": groups, "outputs": summary.get("outputs", []),
        "empty": not summary.get("resources") and not summary.get("outputs"),
        "filterable": total > INLINE_LIMIT or bool(query.q),
    }


def plan_rows(summary: dict | None, query: PlanQuery, *, resource_url: str = "", limit: int = MORE_ROWS) -> dict | None:
    """One module/type group's rows from ``query.offset`` (a collapsed group opened, "show more")."""
    if not summary or not query.group:
        return None
    action = query.group.split("|", 1)[0]
    actions, _ = _grouped(summary, query.q)
    resources = actions.get(action, {}).get(query.group)
    if not resources:
        return None
    index = list(actions[action]).index(query.group)
    group = _group(query.group, index, resources, action=action, inline=False, rows=limit,
                   offset=min(query.offset, len(resources) - 1), resource_url=resource_url)
    return {**group, "action": action, "symbol": ACTION_LABELS[action][1]}


# --- one resource, on demand ------------------------------------------------------------------
_FIND = "jsonb_path_query_first(change_summary, '$.resources[*] ? (@.address == $a)', jsonb_build_object('a', %s))"


def plan_resource(*, workspace, task_id: int, address: str) -> dict | None:
    """One resource's attribute changes in the plan of run ``task_id`` (an apply: its plan).

    404 for a run of another workspace; None when the plan has no such changed resource. Only
    that resource is read from the database (a JSON path query), not the whole summary.
    """
    task = get_object_or_404(WorkspaceTask.objects.only("id", "task_type", "plan_task_id", "workspace_id"),
                             workspace=workspace, pk=task_id)
    plan_id = task.plan_task_id if task.task_type == WorkspaceTask.TaskType.APPLY else task.pk
    found = (WorkspaceTask.objects.filter(pk=plan_id)
             .annotate(found=RawSQL(_FIND, [address], output_field=models.JSONField()))
             .values_list("found", flat=True).first())
    if isinstance(found, str):  # a JSON string from a driver that does not decode it
        found = json.loads(found)
    if not isinstance(found, dict):
        return None
    # Masked when the plan was summarized; masked again with today's secrets, as it is served alone.
    found = redact_tree(found, workspace_secrets(workspace), SENSITIVE)
    action = found.get("action", "")
    label, symbol = ACTION_LABELS.get(action, (action, ""))
    return {"address": found.get("address", address), "action": action, "label": label, "symbol": symbol,
            "module": found.get("module") or "", "type": found.get("type", ""),
            "attributes": render_attributes(found)}
