"""The run page's live log over Server-Sent Events (the 1 s htmx poll is the fallback).

``run_log_stream`` answers ``text/event-stream``: it looks for new chunks every
``POLL_SECONDS`` and sends

- ``lines``: ``{"from": seq, "to": seq, "html": …}``, the same fragment as the poll answer
  (the new lines, and the next poller out of band), with ``id:`` = the last seq, so the
  browser's automatic reconnect resumes after it (``Last-Event-ID``);
- ``run``: ``{"status", "stage"}`` when the run moved on (the page refreshes its header);
- ``end``: the log is final; the page closes the stream.

A stream lasts at most ``IAC_LOG_STREAM_SECONDS`` (a thread per open page on a WSGI server);
the browser then reconnects. It works under runserver and any WSGI server that streams.
"""

import json
import time

from django.conf import settings
from django.http import StreamingHttpResponse
from django.template.loader import render_to_string
from django.urls import reverse
from django.views.decorators.http import require_GET

from executions import selectors
from workspaces.access import workspace_for
from workspaces.models import Role

POLL_SECONDS = 0.15
KEEPALIVE_SECONDS = 10  # a comment now and then: proxies keep the connection, a gone client is noticed
RETRY_MS = 500  # how soon the browser reconnects after the stream closes


def _seq(value) -> int:
    try:
        return max(int(value), 0)
    except (TypeError, ValueError):
        return 0


def _event(name: str, data: dict, seq: int | None = None) -> str:
    head = f"id: {seq}\n" if seq is not None else ""
    return f"{head}event: {name}\ndata: {json.dumps(data)}\n\n"


@require_GET
def run_log_stream_view(request, name, task_id):
    workspace = workspace_for(request.user, name, Role.READER)
    task = selectors.run_get(workspace=workspace, task_id=task_id, with_related=False)
    # The browser's reconnect says where it stopped; a first connection says what the page shows.
    after = _seq(request.headers.get("Last-Event-ID") or request.GET.get("after"))
    shown = (request.GET.get("status", ""), request.GET.get("task_stage", ""))
    events = _events(workspace, task, after=after, shown=shown, seconds=settings.IAC_LOG_STREAM_SECONDS)
    response = StreamingHttpResponse(events, content_type="text/event-stream")
    response["Cache-Control"] = "no-cache"
    response["X-Accel-Buffering"] = "no"  # nginx: pass each event on at once
    return response


def _events(workspace, task, *, after: int, shown: tuple[str, str], seconds: float):
    logs_url = reverse("run_logs", args=[workspace.name, task.pk])
    line, stage = selectors.log_position(task=task, seq=after)
    deadline = time.monotonic() + seconds
    last_sent = time.monotonic()
    yield f"retry: {RETRY_MS}\n\n"
    while True:
        task.refresh_from_db(fields=["status", "stage", "started_at", "finished_at", "updated_at"])
        log = selectors.log_page(task=task, after=after, line=line, stage=stage)
        final = selectors.log_is_final(task, log)
        if log.last_seq != after or final:
            context = {"workspace": workspace, "task": task, "log": log, "log_final": final, "oob": True,
                       "logs_url": logs_url}
            html = render_to_string("executions/run_detail.html#log-poll", context)
            yield _event("lines", {"from": after, "to": log.last_seq, "html": html}, seq=log.last_seq)
            after, line, stage = log.last_seq, log.last_line, log.last_stage
            last_sent = time.monotonic()
        if (task.status, task.stage) != shown or final:
            shown = (task.status, task.stage)
            yield _event("run", {"status": task.status, "stage": task.stage})
        if final:
            yield _event("end", {"seq": after})
            return
        now = time.monotonic()
        if now >= deadline:
            return
        if now - last_sent >= KEEPALIVE_SECONDS:
            yield ": keepalive\n\n"
            last_sent = now
        time.sleep(POLL_SECONDS)
