"""Sending a notification to a channel: a django-q2 task per attempt, retried with back-off.

A delivery starts as a broker message carrying only its id; the attempt begins with an atomic
claim (due, not delivered, not being sent), so a message delivered twice sends once. A failed
attempt sets ``next_try_at`` (``IAC_NOTIFY_BACKOFF_SECONDS × 2^(n-1)``, at most
``IAC_NOTIFY_BACKOFF_MAX_SECONDS``); the periodic sweep (``deliveries_due``) enqueues what is
due, and takes back an attempt whose worker died. After ``IAC_NOTIFY_ATTEMPTS`` the delivery
is failed; the channel counts consecutive failures and is flagged on its page.

Webhook: POST of a JSON body, headers ``X-IAC-Delivery`` (the delivery id: receivers drop a
repeat), ``X-IAC-Event`` and ``X-IAC-Signature: sha256=<hex HMAC-SHA256 of the raw body with
the channel's secret>``. Apprise: title and body to the channel's URL; Apprise's own log is
captured as the attempt's error. Neither the URL nor the secret is ever in a body or an error.
"""

import hashlib
import hmac
import json
import logging
import time
import urllib.error
import urllib.request
from datetime import timedelta

import apprise
from django.conf import settings
from django.db.models import F, Q
from django.utils import timezone
from django_q.tasks import async_task

from executions.models import DeliveryAttempt, Notification, NotificationChannel, NotificationDelivery
from workspaces.crypto import decrypt_text

logger = logging.getLogger("executions.delivery")
Status = NotificationDelivery.Status
SENDING_STALE = timedelta(minutes=5)


class SendFailed(Exception):
    pass


def enqueue_delivery(delivery_id: int) -> None:
    cluster = {"cluster": settings.IAC_NOTIFY_CLUSTER} if settings.IAC_NOTIFY_CLUSTER else {}
    try:
        async_task("executions.delivery.delivery_attempt", delivery_id, task_name=f"notify-{delivery_id}",
                   group="notifications", **cluster)
    except Exception:  # noqa: BLE001 — the broker is down: the sweep sends it later
        logger.exception("delivery %s not enqueued: the sweep will retry it", delivery_id)


def backoff_seconds(attempt: int) -> float:
    return min(settings.IAC_NOTIFY_BACKOFF_SECONDS * 2 ** (attempt - 1), settings.IAC_NOTIFY_BACKOFF_MAX_SECONDS)


# --- payloads -------------------------------------------------------------------------------
def _link(note: Notification) -> str:
    if note.task_id and note.workspace_id:
        path = f"/workspaces/{note.workspace.name}/runs/{note.task_id}/"
    else:
        path = f"/notifications/{note.pk}/"
    return f"{settings.IAC_BASE_URL}{path}"


def webhook_body(delivery: NotificationDelivery) -> dict:
    note = delivery.notification
    task = note.task
    run = None
    if task is not None:
        info = task.error_info or {}
        run = {"id": task.pk, "type": task.task_type, "status": task.status,
               "error_category": info.get("category", ""), "error_hint": info.get("hint", "")}
    return {
        "delivery_id": str(delivery.delivery_id), "notification_id": note.pk, "event": note.event,
        "level": note.level, "title": note.title, "message": note.message,
        "workspace": note.workspace.name if note.workspace_id else None, "run": run, "url": _link(note),
        "created_at": note.created_at.isoformat(),
    }


def sign(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def _send_webhook(channel: NotificationChannel, delivery: NotificationDelivery) -> None:
    body = json.dumps(webhook_body(delivery), sort_keys=True).encode()
    request = urllib.request.Request(decrypt_text(channel.target_encrypted), data=body, method="POST", headers={
        "Content-Type": "application/json", "User-Agent": "iacplatform-notify/1",
        "X-IAC-Delivery": str(delivery.delivery_id), "X-IAC-Event": delivery.notification.event,
        "X-IAC-Signature": sign(decrypt_text(channel.secret_encrypted), body),
    })
    try:
        with urllib.request.urlopen(request, timeout=settings.IAC_NOTIFY_TIMEOUT_SECONDS) as response:
            response.read(1024)
    except urllib.error.HTTPError as exc:
        raise SendFailed(f"the receiver answered HTTP {exc.code} {exc.reason}") from None
    except (urllib.error.URLError, OSError) as exc:
        reason = getattr(exc, "reason", exc)
        raise SendFailed(f"the receiver could not be reached: {reason}") from None


def _send_apprise(channel: NotificationChannel, delivery: NotificationDelivery) -> None:
    note = delivery.notification
    target = decrypt_text(channel.target_encrypted)
    notifier = apprise.Apprise()
    if not notifier.add(target):
        raise SendFailed("Apprise does not understand the channel's URL")
    body = f"{note.message}\n\n{_link(note)}".strip()
    with apprise.LogCapture(level=logging.WARNING) as captured:
        ok = notifier.notify(title=f"[{note.level.upper()}] {note.title}", body=body)
        log = captured.getvalue()
    if not ok:
        detail = " ".join(line.strip() for line in log.splitlines() if line.strip())[-400:]
        raise SendFailed((detail or "Apprise reported a failure").replace(target, "<channel URL>"))


SENDERS = {NotificationChannel.Kind.WEBHOOK: _send_webhook, NotificationChannel.Kind.APPRISE: _send_apprise}


# --- attempts -------------------------------------------------------------------------------
def claim_delivery(delivery_id: int) -> NotificationDelivery | None:
    now = timezone.now()
    updated = NotificationDelivery.objects.filter(
        Q(next_try_at__isnull=True) | Q(next_try_at__lte=now), pk=delivery_id,
        status__in=(Status.PENDING, Status.RETRYING),
    ).update(status=Status.SENDING, claimed_at=now, attempts=F("attempts") + 1)
    if not updated:
        return None
    return NotificationDelivery.objects.select_related("channel", "notification__workspace",
                                                       "notification__task").get(pk=delivery_id)


def delivery_attempt(delivery_id: int) -> str:
    """One attempt (the django-q2 task). Returns the delivery's status afterwards."""
    delivery = claim_delivery(delivery_id)
    if delivery is None:
        return "not due"
    channel = delivery.channel
    started = time.monotonic()
    error = ""
    try:
        SENDERS[channel.kind](channel, delivery)
    except SendFailed as exc:
        error = str(exc)
    except Exception as exc:  # noqa: BLE001 — any fault of a sender is this attempt's failure
        error = f"{type(exc).__name__}: {exc}"
    error = error[:500]
    elapsed = int((time.monotonic() - started) * 1000)
    now = timezone.now()
    DeliveryAttempt.objects.create(delivery=delivery, number=delivery.attempts, ok=not error, error=error,
                                   duration_ms=elapsed)
    if not error:
        NotificationDelivery.objects.filter(pk=delivery.pk).update(
            status=Status.SUCCEEDED, delivered_at=now, next_try_at=None, last_error="")
        NotificationChannel.objects.filter(pk=channel.pk).update(consecutive_failures=0, last_success_at=now)
        return Status.SUCCEEDED
    final = delivery.attempts >= settings.IAC_NOTIFY_ATTEMPTS
    next_try = None if final else now + timedelta(seconds=backoff_seconds(delivery.attempts))
    NotificationDelivery.objects.filter(pk=delivery.pk).update(
        status=Status.FAILED if final else Status.RETRYING, last_error=error, next_try_at=next_try)
    NotificationChannel.objects.filter(pk=channel.pk).update(
        consecutive_failures=F("consecutive_failures") + 1, last_error=error, last_failure_at=now)
    logger.warning("delivery %s to channel %s, attempt %s/%s failed: %s%s", delivery.delivery_id, channel.name,
                   delivery.attempts, settings.IAC_NOTIFY_ATTEMPTS, error,
                   "" if final else f" (next try at {next_try:%H:%M:%S})")
    return Status.FAILED if final else Status.RETRYING


def deliveries_due(*, now=None, send=enqueue_delivery) -> list[int]:
    """Periodic: enqueue the deliveries whose next try is due; take back attempts whose worker died."""
    now = now or timezone.now()
    NotificationDelivery.objects.filter(status=Status.SENDING, claimed_at__lt=now - SENDING_STALE).update(
        status=Status.RETRYING, next_try_at=now, last_error="the attempt's worker stopped; sent again")
    due = list(NotificationDelivery.objects.filter(
        status__in=(Status.PENDING, Status.RETRYING), next_try_at__lte=now).values_list("pk", flat=True)[:500])
    for pk in due:
        send(pk)
    return due
