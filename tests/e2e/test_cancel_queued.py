"""Issue 16, bug 5: a queued run cancelled from its page stops saying "Streaming…" by itself."""

import re

import pytest
from playwright.sync_api import expect

from executions.models import WorkspaceTask
from executions.services import task_cancel, task_queue_run
from workspaces.code.services import code_version_save
from workspaces.models import Workspace

pytestmark = [pytest.mark.e2e]


def test_cancelled_queued_run_stops_streaming_without_reload(logged_in):
    page = logged_in
    ws = Workspace.objects.create(name="e2e-queued")
    code_version_save(workspace=ws, code='{"resource": {"terraform_data": {"a": {}}}}', code_format="json")
    task = task_queue_run(workspace=ws, kind="plan")  # no worker: it stays queued
    page.goto(f"/workspaces/e2e-queued/runs/{task.pk}/")
    expect(page.locator("#log-poller")).to_contain_text("Waiting to start")
    page.click("#cancel-button")
    page.wait_for_url(re.compile(rf"/runs/{task.pk}/$"))
    assert WorkspaceTask.objects.get(pk=task.pk).status == WorkspaceTask.Status.CANCELLED
    expect(page.locator("#log-poller")).to_contain_text("No output.", timeout=1_000)  # at once, not in 3 s
    page.wait_for_timeout(2_000)
    expect(page.locator("#log-poller")).to_have_text("No output.")


def test_queued_run_cancelled_elsewhere_stops_waiting_without_reload(logged_in):
    page = logged_in
    ws = Workspace.objects.create(name="e2e-queued2")
    code_version_save(workspace=ws, code='{"resource": {"terraform_data": {"a": {}}}}', code_format="json")
    task = task_queue_run(workspace=ws, kind="plan")
    page.goto(f"/workspaces/e2e-queued2/runs/{task.pk}/")
    expect(page.locator("#log-poller")).to_contain_text("Waiting to start")
    page.wait_for_timeout(1500)
    task_cancel(task=task)
    expect(page.locator("#run-status")).to_contain_text("Cancelled", timeout=5_000)
    expect(page.locator("#log-poller")).to_have_text("No output.", timeout=1_000)
