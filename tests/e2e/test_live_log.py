"""The run page's live log in a real browser: new lines arrive over Server-Sent Events without a
reload (the poller stays idle), and the 1 s poll still brings them when EventSource is missing.
Lines are stored by the test as the executor stores them (TaskLog chunks); a run with a real worker
streaming its log is tests/e2e/test_runs.py."""

import re

import pytest
from django.utils import timezone
from playwright.sync_api import expect

from executions.models import WorkspaceTask
from tests.e2e.conftest import shot
from tests.executions.test_run_pages import add_logs, make_task
from workspaces.models import Workspace

pytestmark = pytest.mark.e2e
Status = WorkspaceTask.Status


def _running(name):
    workspace = Workspace.objects.create(name=name)
    task = make_task(workspace, Status.RUNNING, task_type="plan", stage="planning")
    add_logs(task, ("planning", "$ terraform plan -input=false"))
    return workspace, task


def _finish(task):
    WorkspaceTask.objects.filter(pk=task.pk).update(status=Status.PLANNED_NO_CHANGES, finished_at=timezone.now())
    add_logs(task, ("complete", "Run complete."))


def _poll_requests(page) -> list[str]:
    polls: list[str] = []
    page.on("request", lambda request: polls.append(request.url) if "/logs/?after=" in request.url else None)
    return polls


def _follow_a_run(page, workspace, task):
    page.goto(f"/workspaces/{workspace.name}/runs/{task.pk}/")
    expect(page.locator("#log-lines")).to_contain_text("$ terraform plan")
    add_logs(task, ("planning", "first live line"))
    expect(page.locator("#log-lines")).to_contain_text("first live line", timeout=10_000)
    add_logs(task, ("planning", "second live line\nthird live line"))
    expect(page.locator("#log-lines")).to_contain_text("third live line", timeout=10_000)
    shot(page, "run-page-live-log")
    _finish(task)
    expect(page.locator("#log-lines")).to_contain_text("Run complete.", timeout=10_000)
    expect(page.locator("#log-poller")).to_be_empty()  # final: nothing polls or streams any more
    expect(page.locator("#run-status")).to_contain_text(re.compile("No changes", re.I), timeout=10_000)
    numbers = page.locator("#log-lines .ln").all_inner_texts()
    assert numbers == ["1", "2", "3", "4"], "each line once, numbered in order"


def test_new_lines_arrive_over_the_stream_without_a_reload(logged_in, settings):
    settings.IAC_LOG_STREAM_SECONDS = 55  # one connection for the whole test (no reconnect gap to poll in)
    page = logged_in
    workspace, task = _running("live-sse")
    polls = _poll_requests(page)
    page.goto(f"/workspaces/{workspace.name}/runs/{task.pk}/")
    page.wait_for_function("window.iacLiveLog && window.iacLiveLog.streaming()")
    _follow_a_run(page, workspace, task)
    assert polls == [], "the poller stays idle while the stream is open"
    assert page.evaluate("window.iacLiveLog.streaming()") is False  # closed at the end


def test_a_reconnecting_stream_and_the_poll_never_double_a_line(logged_in, settings):
    """Streams closed after 1 s: the browser reconnects (Last-Event-ID), the poller runs in the gaps."""
    settings.IAC_LOG_STREAM_SECONDS = 1
    page = logged_in
    workspace, task = _running("live-reconnect")
    streams: list[str] = []
    page.on("request", lambda request: streams.append(request.url) if "/logs/stream/" in request.url else None)
    page.goto(f"/workspaces/{workspace.name}/runs/{task.pk}/")
    for number in range(1, 9):
        add_logs(task, ("planning", f"line {number}"))
        page.wait_for_timeout(400)
    expect(page.locator("#log-lines")).to_contain_text("line 8", timeout=10_000)
    _finish(task)
    expect(page.locator("#log-lines")).to_contain_text("Run complete.", timeout=10_000)
    numbers = page.locator("#log-lines .ln").all_inner_texts()
    assert numbers == [str(n) for n in range(1, 10)], "each line once, numbered in order"
    assert len(streams) >= 2, "the stream was reconnected"


def test_without_event_source_the_poll_brings_the_lines(logged_in):
    page = logged_in
    page.add_init_script("delete window.EventSource")
    workspace, task = _running("live-poll")
    polls = _poll_requests(page)
    _follow_a_run(page, workspace, task)
    assert polls, "the 1 s poll is the fallback"
