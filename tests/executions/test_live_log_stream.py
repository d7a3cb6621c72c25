"""The run page's live log over Server-Sent Events: new lines as they are stored, resumed after
the last seq the browser saw, ended when the log is final, bounded, guarded like the run page."""

import json

import pytest
from django.utils import timezone

from executions.models import TaskLog, WorkspaceTask
from tests.executions.test_run_pages import add_logs, make_task, url
from workspaces.models import Role

pytestmark = pytest.mark.django_db
Status = WorkspaceTask.Status


def parse(chunks) -> list[dict]:
    """Server-Sent Events as dicts (``id``, ``event``, ``data`` parsed as JSON); comments skipped."""
    events = []
    for block in b"".join(chunks).decode().split("\n\n"):
        fields = dict(line.split(": ", 1) for line in block.split("\n") if line and not line.startswith(":"))
        if "data" in fields:
            fields["data"] = json.loads(fields["data"])
        if fields:
            events.append(fields)
    return events


def finished_task(workspace):
    task = make_task(workspace, Status.PLANNED_NO_CHANGES, task_type="plan", stage="planning")
    add_logs(task, ("planning", "Planning...\nline two"), ("planning", "line three"), ("complete", "Run complete."))
    return task


def test_a_final_log_is_sent_whole_then_the_stream_ends(auth_client, workspace):
    task = finished_task(workspace)
    response = auth_client.get(url("run_log_stream", workspace, task))
    assert response.status_code == 200 and response["Content-Type"] == "text/event-stream"
    assert response["Cache-Control"] == "no-cache"
    events = parse(response.streaming_content)
    assert events[0] == {"retry": "500"}
    lines, run, end = events[1:]
    assert lines["event"] == "lines" and lines["id"] == "3"
    assert lines["data"]["from"] == 0 and lines["data"]["to"] == 3
    html = lines["data"]["html"]
    assert 'id="L1"' in html and 'id="L3"' in html and "line three" in html and "Run complete." in html
    assert 'id="log-poller"' in html and 'data-final="1"' in html and "hx-get" not in html  # the poller is inert
    assert run == {"event": "run", "data": {"status": "planned_no_changes", "stage": "planning"}}
    assert end["event"] == "end"


def test_a_reconnect_resumes_after_the_last_event_id(auth_client, workspace):
    task = finished_task(workspace)
    response = auth_client.get(url("run_log_stream", workspace, task, after=0), HTTP_LAST_EVENT_ID="1")
    lines = [e for e in parse(response.streaming_content) if e.get("event") == "lines"]
    assert len(lines) == 1 and lines[0]["data"]["from"] == 1 and lines[0]["data"]["to"] == 3
    html = lines[0]["data"]["html"]
    assert "line two" not in html and 'id="L3"' in html and "line three" in html  # numbered on from line 2
    assert "Planning" not in html  # the stage's section header was sent before


def test_a_bad_last_event_id_starts_from_the_beginning(auth_client, workspace):
    task = finished_task(workspace)
    response = auth_client.get(url("run_log_stream", workspace, task), HTTP_LAST_EVENT_ID="not-a-number")
    assert response.status_code == 200
    lines = [e for e in parse(response.streaming_content) if e.get("event") == "lines"]
    assert lines[0]["data"]["from"] == 0 and 'id="L1"' in lines[0]["data"]["html"]


def test_new_lines_are_sent_as_they_are_stored_and_the_stream_ends_with_the_run(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, task_type="plan", stage="planning")
    response = auth_client.get(url("run_log_stream", workspace, task, status="running", task_stage="planning"))
    events = iter(response.streaming_content)
    assert next(events) == b"retry: 500\n\n"
    add_logs(task, ("planning", "first line"))
    first = parse([next(events)])[0]
    assert first["id"] == "1" and "first line" in first["data"]["html"] and 'data-final' not in first["data"]["html"]
    add_logs(task, ("planning", "second line"))
    second = parse([next(events)])[0]
    assert second["data"]["from"] == 1 and 'id="L2"' in second["data"]["html"]
    WorkspaceTask.objects.filter(pk=task.pk).update(status=Status.PLANNED_NO_CHANGES, finished_at=timezone.now())
    add_logs(task, ("complete", "Run complete."))
    rest = parse(events)
    assert [e["event"] for e in rest] == ["lines", "run", "end"]
    assert rest[1]["data"]["status"] == "planned_no_changes"


def test_a_stream_is_bounded_and_a_quiet_running_log_sends_nothing(auth_client, workspace, settings):
    settings.IAC_LOG_STREAM_SECONDS = 1
    task = make_task(workspace, Status.RUNNING, task_type="plan", stage="planning")
    response = auth_client.get(url("run_log_stream", workspace, task, status="running", task_stage="planning"))
    assert parse(response.streaming_content) == [{"retry": "500"}]  # closed after ~1 s: the browser reconnects


def test_the_run_page_offers_the_stream_unless_it_is_turned_off(auth_client, workspace, settings):
    task = make_task(workspace, Status.RUNNING, task_type="plan", stage="planning")
    page = auth_client.get(url("run_detail", workspace, task)).content.decode()
    assert f'data-stream-url="{url("run_log_stream", workspace, task)}"' in page
    assert 'data-seq="0"' in page and "live-log.js" in page and 'hx-trigger="every 1s"' in page  # the fallback
    settings.IAC_LOG_STREAM_SECONDS = 0
    page = auth_client.get(url("run_detail", workspace, task)).content.decode()
    assert "data-stream-url" not in page and 'hx-trigger="every 1s"' in page


def test_the_stream_is_guarded_like_the_run_page(client, member, workspace):
    task = finished_task(workspace)
    stream = url("run_log_stream", workspace, task)
    assert client.get(stream).status_code == 302  # anonymous: to the login
    client.force_login(member(workspace, None, username="outsider"))
    assert client.get(stream).status_code == 404
    client.force_login(member(workspace, Role.READER, username="reader"))
    response = client.get(stream)
    assert response.status_code == 200 and any(e.get("event") == "end" for e in parse(response.streaming_content))
    assert client.post(stream).status_code == 405
    assert TaskLog.objects.filter(task=task).count() == 3
