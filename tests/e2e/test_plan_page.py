"""A 1,500-resource plan in a real browser: grouped by action and module/type with the unchanged
resources collapsed; the address filter narrows it as one types; opening a resource loads its
attribute changes, and opening a collapsed group loads its rows."""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.executions.plan_fixtures import big_plan_task
from workspaces.models import Workspace

pytestmark = pytest.mark.e2e


def test_a_big_plan_is_grouped_filtered_and_loads_details_on_demand(logged_in):
    page = logged_in
    workspace = Workspace.objects.create(name="big-plan")
    task = big_plan_task(workspace, 1500)
    page.goto(f"/workspaces/big-plan/runs/{task.pk}/")

    plan = page.locator("#run-plan")
    expect(page.locator("#plan-counts")).to_have_text(re.compile(r"\+240\s*~160\s*-160"))
    expect(plan.locator("#plan-section-create h3")).to_have_text(re.compile(r"160 will be created"))
    expect(plan.locator("#plan-section-delete h3")).to_have_text(re.compile(r"80 will be destroyed"))
    unchanged = plan.locator("#plan-section-no-op")
    expect(unchanged).to_contain_text("1020 unchanged")
    expect(unchanged).not_to_have_attribute("open", "")
    first_group = plan.locator("#plan-create-0")
    expect(first_group.locator("> summary")).to_contain_text(re.compile(r"module\.svc_00\s*·\s*terraform_data\s*16"))
    rows_before = plan.locator(".plan-resource").count()
    assert 0 < rows_before <= 150

    # opening a resource loads its attribute changes
    resource = plan.locator("details.plan-resource", has_text="module.svc_00.terraform_data.item[0]").first
    resource.locator("> summary").click()
    expect(resource.locator(".attr-table")).to_contain_text('"v1-0"')
    expect(resource.locator("tr", has_text="output")).to_contain_text("(known after apply)")

    # a collapsed group loads its rows when opened
    collapsed = plan.locator("#plan-update-9")
    collapsed.locator("> summary").click()
    expect(collapsed.locator(".plan-resource").first).to_contain_text("module.svc_09.terraform_data.item[2]")
    shot(page, "plan-page")

    # filtering by address narrows the page as one types, and the address keeps the filter
    page.fill("#plan-q", "svc_07.terraform_data.item[1")
    expect(page.locator("#plan-matches")).to_contain_text("58 of 1500 resources match")
    addresses = plan.locator(".plan-resource .address")
    expect(addresses.first).to_contain_text("svc_07")
    texts = addresses.all_inner_texts()
    assert texts and len(texts) < rows_before and all("svc_07.terraform_data.item[1" in t for t in texts), texts
    expect(page).to_have_url(re.compile(r"\?q=svc_07\.terraform_data\.item%5B1$"))
    shot(page, "plan-page-filtered")

    # the filtered page reloads as it was (no JavaScript needed for ?q=)
    page.reload()
    expect(page.locator("#plan-q")).to_have_value("svc_07.terraform_data.item[1")
    expect(page.locator("#plan-matches")).to_contain_text("58 of 1500")
