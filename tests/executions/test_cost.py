"""Cost estimation after each plan, from the plan JSON and a pricing catalog (issue 13, part 4)."""

import json

import pytest

from executions import cost
from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run

Status = WorkspaceTask.Status


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    """The run is in the test's transaction, which the heartbeat thread's own connection cannot
    see: a beat during a long run (hooks with timeouts, a loaded machine) would find no row and
    give the run up. Beat less often than these runs last."""
    settings.IAC_HEARTBEAT_SECONDS = 120


def code(resources: dict) -> str:
    return json.dumps({"resource": {"terraform_data": resources}})


@pytest.fixture
def custom_catalog(tmp_path, settings):
    path = tmp_path / "prices.json"
    path.write_text(json.dumps({"date": "2026-12-01", "prices": {
        "terraform_data": {"attribute": "input.size", "monthly": {"small": 10, "large": 25.5}},
        "aws_instance": {"attribute": "instance_type", "hourly": {"t3.micro": 1}},  # overrides the shipped price
    }}))
    settings.IAC_PRICING_FILE = str(path)
    return path


def test_a_plan_priced_in_a_custom_catalog_shows_before_after_and_difference(
        workspace, save_code, run_now, custom_catalog, admin_client_logged):
    save_code(workspace, code({"web": {"input": {"size": "small"}}, "db": {"input": {"size": "small"}}}))
    first = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert first.cost_estimate["before"] == 0 and first.cost_estimate["after"] == 20
    assert run_now(task_confirm(task=first)).status == Status.APPLIED

    save_code(workspace, code({"web": {"input": {"size": "large"}}, "db": {"input": {"size": "small"}},
                               "cache": {"input": {"size": "huge"}}, "misc": {"input": "x"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    estimate = plan.cost_estimate
    assert (estimate["before"], estimate["after"], estimate["diff"]) == (20, 35.5, 15.5)
    rows = {r["address"]: r for r in estimate["resources"]}
    assert rows["terraform_data.web"] == {"address": "terraform_data.web", "type": "terraform_data",
                                          "action": "update", "before": 10, "after": 25.5, "diff": 15.5}
    assert rows["terraform_data.db"]["diff"] == 0
    # never silently 0: what has no price is listed, with the reason
    not_priced = {r["address"]: r["reason"] for r in estimate["not_priced"]}
    assert not_priced == {"terraform_data.cache": "no price for input.size = huge",
                          "terraform_data.misc": "input.size has no value (or is known only after apply)"}
    page = admin_client_logged.get(f"/workspaces/{workspace.name}/runs/{plan.pk}/").content.decode()
    assert "+15.50 USD/mo" in page and "terraform_data.cache" in page and 'id="not-priced"' in page
    api = admin_client_logged.get(f"/api/v1/tasks/{plan.pk}").json()
    assert api["cost_estimate"]["diff"] == 15.5


def test_the_shipped_catalog_names_its_sources_and_date_and_prices_common_types(settings):
    settings.IAC_PRICING_FILE = ""
    catalog = cost.load_catalog()
    assert catalog["date"] and {"aws", "azure", "gcp"} <= set(catalog["sources"])
    plan = {"resource_changes": [
        {"address": "aws_instance.web", "type": "aws_instance", "mode": "managed",
         "change": {"actions": ["create"], "before": None, "after": {"instance_type": "t3.micro"}}},
        {"address": "google_compute_instance.vm", "type": "google_compute_instance", "mode": "managed",
         "change": {"actions": ["delete"], "before": {"machine_type": "e2-micro"}, "after": None}},
        {"address": "aws_s3_bucket.logs", "type": "aws_s3_bucket", "mode": "managed",
         "change": {"actions": ["create"], "before": None, "after": {"bucket": "x"}}},
        {"address": "data.aws_ami.x", "type": "aws_ami", "mode": "data", "change": {"actions": ["read"]}},
    ]}
    estimate = cost.estimate_from_catalog(plan, catalog)
    rows = {r["address"]: r for r in estimate["resources"]}
    assert rows["aws_instance.web"]["after"] == round(0.0104 * 730, 2)
    assert rows["google_compute_instance.vm"]["diff"] == -round(0.0084 * 730, 2)
    assert estimate["not_priced"] == [{"address": "aws_s3_bucket.logs", "type": "aws_s3_bucket",
                                       "reason": "usage-based pricing"}]


def test_the_operators_file_overrides_the_shipped_price(custom_catalog):
    plan = {"resource_changes": [{"address": "aws_instance.a", "type": "aws_instance", "mode": "managed",
                                  "change": {"actions": ["create"], "before": None,
                                             "after": {"instance_type": "t3.micro"}}}]}
    assert cost.estimate_from_catalog(plan)["after"] == 730


def test_infracost_is_used_instead_when_configured(tmp_path, settings):
    fake = tmp_path / "infracost"
    fake.write_text("#!/bin/sh\ncat <<'JSON'\n" + json.dumps({
        "currency": "USD", "totalMonthlyCost": "30.5", "pastTotalMonthlyCost": "10",
        "projects": [{"breakdown": {"resources": [{"name": "aws_instance.a", "resourceType": "aws_instance",
                                                   "monthlyCost": "30.5"}]},
                      "pastBreakdown": {"resources": [{"name": "aws_instance.a", "monthlyCost": "10"}]}}]})
                    + "\nJSON\n")
    fake.chmod(0o755)
    settings.INFRACOST_BIN = str(fake)
    estimate = cost.estimate({}, plan_json_path=tmp_path / "plan.json")
    assert estimate["source"] == "infracost" and estimate["diff"] == 20.5
    assert estimate["resources"][0]["before"] == 10
