"""Issue 16, bug 5: a queued run cancelled before it started stops "Streaming…" at once.

Its log could only end by the time fallback (3 s of quiet after the end), so the page said
"Streaming…" — about a run that never ran — until then, or until a reload.
"""

import json

import pytest
from django.urls import reverse
from django.utils import timezone

from executions.models import WorkspaceTask
from executions.services import task_cancel, task_queue_run
from tests.executions.conftest import tf_json

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


@pytest.fixture
def cancelled_queued(workspace, save_code):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = task_queue_run(workspace=workspace, kind="plan")
    assert task.status == WorkspaceTask.Status.QUEUED
    return task_cancel(task=task)


def test_the_page_of_a_cancelled_queued_run_does_not_stream(auth_client, workspace, cancelled_queued):
    task = cancelled_queued
    html = auth_client.get(reverse("run_detail", args=["demo", task.pk])).content.decode()
    poller = html[html.index('<div id="log-poller"'):]
    poller = poller[:poller.index("</div>") + 6]
    assert "Streaming" not in poller and "hx-get" not in poller


def test_the_poll_that_sees_the_cancel_stops_polling_and_refreshes(auth_client, workspace, cancelled_queued):
    task = cancelled_queued
    logs = reverse("run_logs", args=["demo", task.pk])
    response = auth_client.get(logs, {"after": 0, "line": 0, "stage": "", "status": "queued",
                                      "task_stage": "preparing"}, **HX)
    assert response.status_code == 286  # htmx: stop polling
    assert "Streaming" not in response.content.decode() and "hx-get" not in response.content.decode()
    assert json.loads(response["HX-Trigger"])["run-updated"]["status"] == "cancelled"


def test_a_run_that_ended_but_may_still_print_does_not_say_streaming(auth_client, workspace, save_code):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = task_queue_run(workspace=workspace, kind="plan")
    WorkspaceTask.objects.filter(pk=task.pk).update(status="failed", stage="done", started_at=task.created_at,
                                                      finished_at=timezone.now())
    html = auth_client.get(reverse("run_detail", args=["demo", task.pk])).content.decode()
    poller = html[html.index('<div id="log-poller"'):]
    assert "Streaming" not in poller[:poller.index("</div></div>")]
