"""Issue 16 in a real browser: a plan and its apply are one run; a stale plan looks stale.

Real Terraform and a real django-q2 worker for the applies; the stale plan is made stale by
saving new code while it waits, as an operator would.
"""

import json
import re

from django.utils import timezone
from playwright.sync_api import expect

from executions.models import WorkspaceTask
from tests.e2e.conftest import shot
from tests.e2e.test_runs import RUN_TIMEOUT, start_run
from workspaces.code.services import code_version_save
from workspaces.models import Workspace
from workspaces.services import variables_checksum

Status = WorkspaceTask.Status


def _code(marker) -> str:
    """One resource re-created at every apply; its provisioner fails while ``marker`` exists."""
    return json.dumps({"resource": {"terraform_data": {"step": {
        "triggers_replace": "${timestamp()}",
        "provisioner": {"local-exec": {"command": f"if [ -e {marker} ]; then echo 'boom: told to fail' >&2; exit 1; fi"}},
    }}}})


def _confirm_and_wait(page, status_text: str):
    expect(page.locator("#confirm-button")).to_be_enabled(timeout=RUN_TIMEOUT)
    page.click("#confirm-button")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    expect(page.locator("#run-status")).to_contain_text(status_text, timeout=RUN_TIMEOUT)


def test_a_plan_and_apply_whose_apply_errors_is_one_red_run(logged_in, live_worker, tmp_path):
    page = logged_in
    marker = tmp_path / "fail-now"
    ws = Workspace.objects.create(name="e2e-one-run")
    code_version_save(workspace=ws, code=_code(marker))

    # a finished plan & apply: one run, both phases with their own status and duration
    plan_id = start_run(page, ws.name, "Applies fine")
    _confirm_and_wait(page, "Applied")
    page.goto(f"/workspaces/{ws.name}/runs/{plan_id}/")
    phases = page.locator("#run-phases")
    expect(phases.locator("[data-phase=plan] .badge")).to_contain_text("Confirmed")
    expect(phases.locator("[data-phase=apply] .badge")).to_contain_text("Applied")
    expect(phases.locator("[data-phase=waiting]")).to_contain_text("Waited for confirmation")
    expect(page.locator("#run-status")).to_contain_text("Applied")
    shot(page, "run-page")

    # the next run's apply errors
    marker.write_text("fail")
    start_run(page, ws.name, "Apply will error")
    _confirm_and_wait(page, "Apply errored")
    expect(page.locator("#run-status")).to_have_class(re.compile("status-failed"))

    page.goto(f"/workspaces/{ws.name}/runs/")
    rows = page.locator(".run-table tbody tr")
    expect(rows).to_have_count(2)  # two runs, not four tasks
    errored = rows.first
    expect(errored).to_contain_text("Apply will error")
    expect(errored.locator(".run-status")).to_contain_text("Apply errored")
    expect(errored.locator(".run-status")).to_have_class(re.compile("status-failed"))
    expect(errored).not_to_contain_text("Confirmed")
    expect(rows.nth(1).locator(".run-status")).to_contain_text("Applied")
    expect(page.locator(".filter-all .count")).to_have_text("2")
    expect(page.locator(".filter-errored .count")).to_have_text("1")
    shot(page, "runs-list-one-row-per-run")


def test_a_stale_plans_confirm_is_disabled_with_the_reason(logged_in, tmp_path):
    page = logged_in
    ws = Workspace.objects.create(name="e2e-stale")
    version, _ = code_version_save(workspace=ws, code='{"resource": {"terraform_data": {"a": {"input": "v1"}}}}')
    ws.refresh_from_db()
    plan = WorkspaceTask.objects.create(
        workspace=ws, task_type="plan_and_apply", status=Status.PLANNED, stage="awaiting_confirmation",
        code_version=version, plan_file=b"plan", has_changes=True, started_at=timezone.now(), message="old plan",
        targets=["terraform_data.a"],
        change_summary={"add": 1, "change": 0, "destroy": 0, "replace": 0, "resources": [], "outputs": []},
        context={"code_version": version.number, "variables_checksum": variables_checksum(ws),
                 "state_serial": None, "resource_versions": {}},
    )
    page.goto(f"/workspaces/{ws.name}/runs/{plan.pk}/")
    expect(page.locator("#confirm-button")).to_be_enabled()
    expect(page.locator("#stale-reason")).to_have_count(0)

    code_version_save(workspace=ws, code='{"resource": {"terraform_data": {"a": {"input": "v2"}}}}')
    page.reload()
    expect(page.locator("#confirm-button")).to_be_disabled()
    expect(page.locator("#stale-reason")).to_contain_text("the code changed since the plan")
    shot(page, "run-page-stale-plan")

    page.click("#plan-again-button")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    new_id = int(re.search(r"/runs/(\d+)/$", page.url).group(1))
    assert new_id != plan.pk
    expect(page.locator(".flash-success")).to_contain_text(f"Run #{new_id} queued")
    plan.refresh_from_db()
    new = WorkspaceTask.objects.get(pk=new_id)
    assert plan.status == Status.DISCARDED and new.targets == ["terraform_data.a"] and new.status == Status.QUEUED
