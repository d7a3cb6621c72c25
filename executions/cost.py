"""Cost estimation of a plan: monthly cost before and after, and the difference, per resource.

From the plan JSON (``resource_changes``: every managed resource of the configuration, no-op
ones included, with its ``before`` and ``after`` values) and a pricing catalog: the one shipped
in ``executions/pricing/catalog.json`` (sources and date named in it) plus the operator's own
file (``IAC_PRICING_FILE``, same format; its entries add to or replace the shipped ones). When
``INFRACOST_BIN`` is set, ``infracost breakdown`` on the plan JSON is used instead.

A catalog entry prices one resource type, monthly:
    {"monthly": 12.5}                                       a flat price per resource
    {"hourly": 0.045}                                       × hours_per_month (730)
    {"attribute": "instance_type", "hourly": {"t3.micro": 0.0104, ...}}   by an attribute's value
    {"attribute": "input.size", "monthly": {"small": 10, ...}}            (a dotted path)
    {"attribute": "size", "monthly_per_unit": 0.08}         × the attribute's number (GB, …)
    {"usage_based": true}                                   not priced: the price depends on usage
A resource whose type or attribute value has no price is listed under ``not_priced`` with
the reason: never counted as 0 silently.

The estimate (``WorkspaceTask.cost_estimate``, ``input.cost`` of the policies):
    {"source": "catalog" | "infracost", "currency": "USD", "catalog_date": str,
     "before": float, "after": float, "diff": float,
     "resources": [{"address", "type", "action", "before", "after", "diff"}],
     "not_priced": [{"address", "type", "reason"}]}
"""

import json
import subprocess
from functools import lru_cache
from pathlib import Path

from django.conf import settings

CATALOG = Path(__file__).resolve().parent / "pricing" / "catalog.json"
HOURS_PER_MONTH = 730


class CostError(Exception):
    """The estimate could not be made (a bad catalog file, infracost failing)."""


@lru_cache(maxsize=8)
def _read_catalog(path: str, mtime: float) -> dict:
    try:
        doc = json.loads(Path(path).read_text())
    except (OSError, ValueError) as exc:
        raise CostError(f"pricing catalog {path} cannot be read: {exc}") from exc
    if not isinstance(doc, dict) or not isinstance(doc.get("prices"), dict):
        raise CostError(f"pricing catalog {path} has no \"prices\" object")
    return doc


def load_catalog() -> dict:
    """The shipped catalog with the operator's file (IAC_PRICING_FILE) laid over it."""
    shipped = _read_catalog(str(CATALOG), CATALOG.stat().st_mtime)
    catalog = {**shipped, "prices": dict(shipped["prices"])}
    extra = getattr(settings, "IAC_PRICING_FILE", "")
    if extra:
        path = Path(extra)
        if not path.exists():
            raise CostError(f"IAC_PRICING_FILE {extra} does not exist")
        own = _read_catalog(str(path), path.stat().st_mtime)
        catalog["prices"].update(own["prices"])
        catalog["date"] = f"{shipped.get('date', '?')} + {path.name}" + (f" ({own['date']})" if own.get("date") else "")
        if own.get("currency"):
            catalog["currency"] = own["currency"]
    return catalog


def _value_at(values: dict, path: str):
    current = values
    for part in path.split("."):
        if not isinstance(current, dict) or part not in current:
            return None
        current = current[part]
    return current


def price_of(entry: dict, values: dict, *, hours: float) -> tuple[float | None, str]:
    """Monthly price of one resource with ``values`` (before or after), or (None, reason)."""
    if entry.get("usage_based"):
        return None, "usage-based pricing"
    attribute = entry.get("attribute")
    if "monthly_per_unit" in entry:
        amount = _value_at(values, attribute) if attribute else None
        if not isinstance(amount, (int, float)) or isinstance(amount, bool):
            return None, f"{attribute} is not a known number"
        return float(entry["monthly_per_unit"]) * amount, ""
    for key, factor in (("monthly", 1.0), ("hourly", hours)):
        if key not in entry:
            continue
        table = entry[key]
        if not isinstance(table, dict):
            return float(table) * factor, ""
        value = _value_at(values, attribute) if attribute else None
        if value is None:
            return None, f"{attribute} has no value (or is known only after apply)"
        if str(value) not in table:
            return None, f"no price for {attribute} = {value}"
        return float(table[str(value)]) * factor, ""
    return None, "the catalog entry has no price"


def estimate_from_catalog(plan_doc: dict, catalog: dict | None = None) -> dict:
    catalog = catalog or load_catalog()
    prices, hours = catalog["prices"], float(catalog.get("hours_per_month", HOURS_PER_MONTH))
    rows, not_priced = [], []
    for change in plan_doc.get("resource_changes") or []:
        if change.get("mode", "managed") != "managed":
            continue
        address, rtype = change.get("address", ""), change.get("type", "")
        detail = change.get("change") or {}
        actions = detail.get("actions") or ["no-op"]
        entry = prices.get(rtype)
        if entry is None:
            not_priced.append({"address": address, "type": rtype, "reason": "no price in the catalog"})
            continue
        before_values, after_values = detail.get("before"), detail.get("after")
        if actions == ["delete"]:
            after_values = None
        before = after = 0.0
        problem = ""
        if before_values is not None:
            before, problem = price_of(entry, before_values, hours=hours)
        if not problem and after_values is not None:
            after, problem = price_of(entry, after_values, hours=hours)
        if problem:
            not_priced.append({"address": address, "type": rtype, "reason": problem})
            continue
        rows.append({"address": address, "type": rtype, "action": "replace" if len(actions) > 1 else actions[0],
                     "before": round(before, 2), "after": round(after, 2), "diff": round(after - before, 2)})
    before_total = round(sum(r["before"] for r in rows), 2)
    after_total = round(sum(r["after"] for r in rows), 2)
    return {"source": "catalog", "currency": catalog.get("currency", "USD"), "catalog_date": catalog.get("date", ""),
            "before": before_total, "after": after_total, "diff": round(after_total - before_total, 2),
            "resources": rows, "not_priced": not_priced}


def estimate_with_infracost(plan_json_path: Path, *, timeout: int = 300) -> dict:
    """``infracost breakdown --path plan.json --format json``, in the estimate's shape."""
    try:
        done = subprocess.run([settings.INFRACOST_BIN, "breakdown", "--path", str(plan_json_path), "--format", "json",
                               "--no-color"], capture_output=True, timeout=timeout, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise CostError(f"infracost could not run: {exc}") from exc
    if done.returncode != 0:
        raise CostError(f"infracost failed (exit {done.returncode}): {done.stderr.decode(errors='replace')[:300]}")
    try:
        doc = json.loads(done.stdout)
    except ValueError as exc:
        raise CostError(f"infracost printed no JSON: {exc}") from exc

    def money(value) -> float:
        try:
            return round(float(value), 2)
        except (TypeError, ValueError):
            return 0.0

    rows, not_priced = [], []
    for project in doc.get("projects") or []:
        past = {r.get("name"): r for r in ((project.get("pastBreakdown") or {}).get("resources") or [])}
        for resource in (project.get("breakdown") or {}).get("resources") or []:
            name = resource.get("name", "")
            before = money((past.get(name) or {}).get("monthlyCost"))
            after = money(resource.get("monthlyCost"))
            rows.append({"address": name, "type": resource.get("resourceType", ""), "action": "",
                         "before": before, "after": after, "diff": round(after - before, 2)})
        for skipped in (project.get("summary") or {}).get("unsupportedResourceCounts") or {}:
            not_priced.append({"address": "", "type": skipped, "reason": "not supported by infracost"})
    before, after = money(doc.get("pastTotalMonthlyCost")), money(doc.get("totalMonthlyCost"))
    return {"source": "infracost", "currency": doc.get("currency", "USD"), "catalog_date": doc.get("timeGenerated", ""),
            "before": before, "after": after, "diff": round(after - before, 2), "resources": rows,
            "not_priced": not_priced}


def estimate(plan_doc: dict, *, plan_json_path: Path | None = None) -> dict:
    if getattr(settings, "INFRACOST_BIN", "") and plan_json_path is not None:
        return estimate_with_infracost(plan_json_path)
    return estimate_from_catalog(plan_doc)
