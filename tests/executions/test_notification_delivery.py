"""Notifications reach real receivers on localhost: an SMTP server (through Apprise), a signed
webhook, a receiver that fails before it succeeds, and one that never answers."""

import hashlib
import hmac
import json
import time
from datetime import timedelta

import pytest
from django.db import connection
from django.utils import timezone

from executions.delivery import backoff_seconds, deliveries_due, delivery_attempt
from executions.models import DeliveryAttempt, Notification, NotificationChannel, NotificationDelivery, WorkspaceTask
from executions.notifications import channel_create, notify_event
from executions.services import task_queue_run
from tests.executions.receivers import SilentReceiver, SmtpReceiver, WebhookReceiver
from workspaces.services import variable_set

Status = NotificationDelivery.Status
SECRET = "hook-secret-Zq81"


def _wait_until(moment):
    time.sleep(max((moment - timezone.now()).total_seconds(), 0) + 0.05)


def _send_due(now=None):
    """What the sweep and the workers do, in this process: every due delivery gets an attempt."""
    return [delivery_attempt(pk) for pk in deliveries_due(now=now, send=lambda pk: None)]


def _failing_run(workspace, save_code, run_now):
    """A plan that fails at once: a required variable has no value (category ``variable``)."""
    save_code(workspace, json.dumps({"variable": {"region": {"type": "string"}},
                                     "resource": {"terraform_data": {"a": {"input": "${var.region}"}}}}))
    return run_now(task_queue_run(workspace=workspace, kind="plan"))


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


def test_the_email_of_a_failed_run_reaches_an_smtp_server(workspace, superuser, save_code, run_now,
                                                            django_capture_on_commit_callbacks):
    with SmtpReceiver() as smtp:
        channel_create(user=superuser, name="ops mail", kind="apprise", target=smtp.apprise_url(),
                       events=["run_failed"])
        with django_capture_on_commit_callbacks(execute=False):
            task = _failing_run(workspace, save_code, run_now)
        assert task.status == WorkspaceTask.Status.FAILED and task.error_category == "variable"
        assert _send_due() == [Status.SUCCEEDED]
        assert len(smtp.messages) == 1
    message = smtp.messages[0]
    assert message.rcpt_tos == ["ops@example.com"]
    text = message.content.decode(errors="replace")
    assert f"Run #{task.pk} on {workspace.name} failed" in text
    assert "Category: Variable" in text and "Hint:" in text
    assert "region" in text
    delivery = NotificationDelivery.objects.get()
    assert delivery.attempts == 1 and delivery.attempt_log.get().ok


def test_the_webhook_is_signed_with_the_channel_secret_and_carries_no_secret(workspace, superuser, save_code,
                                                                             run_now):
    variable_set(workspace=workspace, key="password", value="s3cr3t-value-991", sensitive=True)
    with WebhookReceiver([200]) as hook:
        channel = channel_create(user=superuser, name="hook", kind="webhook", target=hook.url, secret=SECRET)
        task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="failed",
                                            error_message="boom: s3cr3t-value-991 leaked", error_category="internal")
        notify_event("run_failed", task=task)
        assert _send_due() == [Status.SUCCEEDED]
    [request] = hook.requests
    signature = request["headers"]["X-IAC-Signature"]
    expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
    assert hmac.compare_digest(signature, expected)
    body = json.loads(request["body"])
    delivery = NotificationDelivery.objects.get()
    assert request["headers"]["X-IAC-Delivery"] == body["delivery_id"] == str(delivery.delivery_id)
    assert body["event"] == "run_failed" and body["level"] == "warning" and body["run"]["id"] == task.pk
    assert body["run"]["error_category"] == "internal" and body["workspace"] == workspace.name
    raw = request["body"].decode()
    assert SECRET not in raw and hook.url not in raw and "s3cr3t-value-991" not in raw
    # at rest: neither the secret nor the URL is stored in clear
    row = NotificationChannel.objects.filter(pk=channel.pk).values("target_encrypted", "secret_encrypted").get()
    assert SECRET not in str(row) and "127.0.0.1" not in str(row)


def test_a_receiver_failing_twice_gets_exactly_one_delivery_after_three_attempts(workspace, superuser, settings):
    settings.IAC_NOTIFY_BACKOFF_SECONDS = 1
    with WebhookReceiver([500, 500, 200]) as hook:
        channel_create(user=superuser, name="flaky", kind="webhook", target=hook.url, secret=SECRET)
        notify_event("run_applied", workspace=workspace, title="applied", message="done")
        assert _send_due() == [Status.RETRYING]
        delivery = NotificationDelivery.objects.get()
        assert delivery.next_try_at > timezone.now()  # back-off: not due yet
        assert _send_due() == []
        _wait_until(delivery.next_try_at)
        assert _send_due() == [Status.RETRYING]
        delivery.refresh_from_db()
        assert delivery.next_try_at - delivery.attempt_log.last().at >= timedelta(seconds=1.9)  # 2nd wait doubled
        _wait_until(delivery.next_try_at)
        assert _send_due() == [Status.SUCCEEDED]
        assert _send_due(now=timezone.now() + timedelta(hours=1)) == []
    assert len(hook.requests) == 3
    assert len({r["headers"]["X-IAC-Delivery"] for r in hook.requests}) == 1  # one id: the receiver can dedupe
    delivery.refresh_from_db()
    assert delivery.status == Status.SUCCEEDED and delivery.attempts == 3
    log = list(delivery.attempt_log.values_list("number", "ok"))
    assert log == [(1, False), (2, False), (3, True)]
    assert "HTTP 500" in DeliveryAttempt.objects.get(number=1).error
    assert NotificationChannel.objects.get().consecutive_failures == 0


def test_a_channel_that_keeps_failing_gives_up_and_is_flagged(workspace, superuser, settings):
    settings.IAC_NOTIFY_BACKOFF_SECONDS = 0
    settings.IAC_NOTIFY_ATTEMPTS = 3
    with WebhookReceiver([500]) as hook:
        channel = channel_create(user=superuser, name="broken", kind="webhook", target=hook.url, secret=SECRET)
        notify_event("run_applied", workspace=workspace, title="applied")
        results = [_send_due() for _ in range(4)]
    assert results == [[Status.RETRYING], [Status.RETRYING], [Status.FAILED], []]
    channel.refresh_from_db()
    assert channel.failing and channel.consecutive_failures == 3 and "HTTP 500" in channel.last_error


def test_backoff_doubles_and_is_bounded(settings):
    settings.IAC_NOTIFY_BACKOFF_SECONDS = 30
    settings.IAC_NOTIFY_BACKOFF_MAX_SECONDS = 200
    assert [backoff_seconds(n) for n in range(1, 6)] == [30, 60, 120, 200, 200]


def test_a_duplicated_broker_message_sends_once(workspace, superuser):
    with WebhookReceiver([200]) as hook:
        channel_create(user=superuser, name="hook", kind="webhook", target=hook.url, secret=SECRET)
        notify_event("run_applied", workspace=workspace, title="applied")
        pk = NotificationDelivery.objects.get().pk
        assert [delivery_attempt(pk), delivery_attempt(pk)] == [Status.SUCCEEDED, "not due"]
    assert len(hook.requests) == 1


def test_channels_get_only_their_events_levels_and_workspace(workspace, superuser, django_user_model):
    other = type(workspace).objects.create(name="other")
    with WebhookReceiver([200]) as hook:
        channel_create(user=superuser, name="emergencies", kind="webhook", target=hook.url, secret=SECRET,
                       levels=["emergency"])
        channel_create(user=superuser, name="ws", kind="webhook", target=hook.url, secret=SECRET, workspace=workspace)
        notify_event("run_applied", workspace=other, title="x")  # info, other workspace: nobody
        notify_event("run_applied", workspace=workspace, title="y")  # the workspace channel only
        notify_event("state_save_failed", workspace=other, title="z")  # emergency: the global channel
    got = {(d.channel.name, d.notification.title) for d in NotificationDelivery.objects.select_related("channel", "notification")}
    assert got == {("ws", "y"), ("emergencies", "z")}
    assert Notification.objects.get(title="z").level == "emergency"


@pytest.mark.django_db(transaction=True)
def test_a_dead_receiver_does_not_delay_the_run(workspace, superuser, save_code, run_now, settings, tmp_path):
    """The run only queues its deliveries; they are sent by separate tasks. Measured: the same
    failing run with and without a channel whose receiver accepts and never answers."""
    settings.IAC_NOTIFY_TIMEOUT_SECONDS = 3

    def timed_run():
        started = time.monotonic()
        task = _failing_run(workspace, save_code, run_now)
        return time.monotonic() - started, task

    _failing_run(workspace, save_code, run_now)  # warm-up
    baseline = min(timed_run()[0] for _ in range(3))
    with SilentReceiver() as dead:
        channel_create(user=superuser, name="dead", kind="webhook", target=dead.url, secret=SECRET)
        with_channel = min(timed_run()[0] for _ in range(3))
        assert NotificationDelivery.objects.filter(status=Status.PENDING).count() == 3  # queued, not sent inline
        started = time.monotonic()
        results = _send_due()
        send_time = time.monotonic() - started
    print(f"run without channel {baseline:.3f}s, with a dead channel {with_channel:.3f}s; "
          f"the deliveries themselves took {send_time:.1f}s")
    assert with_channel < baseline * 1.5 + 0.3
    assert send_time >= 3 * settings.IAC_NOTIFY_TIMEOUT_SECONDS * 0.9  # the receiver really was dead
    assert results == [Status.RETRYING] * 3
    assert all("reached" in d.last_error or "timed out" in d.last_error for d in NotificationDelivery.objects.all())
    connection.close()
