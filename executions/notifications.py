"""Operator notifications: the events, who hears about them, and the notification center.

``notify_event`` is the one way in: it stores a ``Notification`` (the notification center
shows it), logs it, and creates one ``NotificationDelivery`` per channel that wants it; each
delivery is sent by a django-q2 task once the transaction commits (``executions.delivery``),
so a slow or dead receiver never delays the run that raised the event. Message bodies are
built here from the run's own fields and redacted like the log: no secret reaches a channel.
"""

import logging
import uuid

import apprise
from django.db import transaction
from django.db.models import Count, Q
from django.utils import timezone

from executions.delivery import enqueue_delivery
from executions.models import Notification, NotificationChannel, NotificationDelivery, WorkspaceTask
from iacplatform.errors import Conflict, DomainError, Forbidden, NotFound
from workspaces.access import readable_workspaces, role_of
from workspaces.audit import audit_record
from workspaces.crypto import encrypt_text
from workspaces.models import Role
from workspaces.secrets import redact, workspace_secrets

logger = logging.getLogger("executions.notifications")
Level = Notification.Level
Event = Notification.Event
LOG_LEVELS = {Level.INFO: logging.INFO, Level.WARNING: logging.WARNING, Level.EMERGENCY: logging.CRITICAL}
# Where each level belongs (issue 14): waiting for a human → info, a failure → warning,
# a state that may be lost → emergency.
EVENT_LEVELS = {
    Event.RUN_NEEDS_CONFIRMATION: Level.INFO,
    Event.RUN_APPLIED: Level.INFO,
    Event.RUN_CANCELLED: Level.INFO,
    Event.RUN_FAILED: Level.WARNING,
    Event.HOOK_FAILED: Level.WARNING,
    Event.DRIFT_DETECTED: Level.WARNING,
    Event.STATE_SAVE_FAILED: Level.EMERGENCY,
    Event.RUN_RECOVERED: Level.EMERGENCY,
    Event.WORKSPACE_LOCKED: Level.WARNING,
    Event.WORKSPACE_UNLOCKED: Level.INFO,
    Event.TEST: Level.INFO,
    Event.OTHER: Level.INFO,
}
# A finished run's status → its event (a status not listed raises none).
RUN_STATUS_EVENTS = {
    WorkspaceTask.Status.PLANNED: Event.RUN_NEEDS_CONFIRMATION,
    WorkspaceTask.Status.APPLIED: Event.RUN_APPLIED,
    WorkspaceTask.Status.FAILED: Event.RUN_FAILED,
    WorkspaceTask.Status.CANCELLED: Event.RUN_CANCELLED,
}


# --- raising --------------------------------------------------------------------------------
def run_event(task: WorkspaceTask) -> str | None:
    """The event a run's end raises (none for an auto-applied plan: nobody needs to confirm it)."""
    event = RUN_STATUS_EVENTS.get(task.status)
    if event == Event.RUN_NEEDS_CONFIRMATION and task.workspace.auto_apply:
        return None
    if task.status == WorkspaceTask.Status.FAILED and task.error_category in ("state_save", "state_conflict"):
        return None  # the emergency already said it, with the backup's path
    return event


def _run_text(event: str, task: WorkspaceTask) -> tuple[str, str]:
    workspace = task.workspace
    kind = task.get_task_type_display().lower()
    if event == Event.RUN_NEEDS_CONFIRMATION:
        summary = task.change_summary or {}
        return (f"Run #{task.pk} on {workspace.name} needs confirmation",
                f"The plan of run #{task.pk} has changes (+{summary.get('add', 0)} ~{summary.get('change', 0)} "
                f"-{summary.get('destroy', 0)}): confirm or discard it.")
    if event == Event.RUN_APPLIED:
        return f"Run #{task.pk} on {workspace.name} applied", f"The {kind} run #{task.pk} applied its plan."
    if event == Event.RUN_CANCELLED:
        return f"Run #{task.pk} on {workspace.name} cancelled", task.error_message or "Cancelled."
    info = task.error_info or {}
    lines = [task.error_message or "The run failed."]
    if info:
        lines.append(f"Category: {info['label']} ({'transient' if info['retryable'] else 'permanent'})")
        lines.append(f"Hint: {info['hint']}")
    return f"Run #{task.pk} on {workspace.name} failed", "\n".join(lines)


def notify_event(event: str | None, *, task: WorkspaceTask | None = None, workspace=None, title: str = "",
                 message: str = "", level: str | None = None) -> Notification | None:
    """Record the event and queue its deliveries. ``event=None`` raises nothing (callers pass
    ``run_event(task)`` straight in). Title and message default to the run's own words."""
    if event is None:
        return None
    workspace = workspace if workspace is not None else getattr(task, "workspace", None)
    if task is not None and not title:
        title, message = _run_text(event, task)
    if workspace is not None:
        secrets = workspace_secrets(workspace)
        title, message = redact(title, secrets), redact(message, secrets)
    level = level or EVENT_LEVELS.get(event, Level.INFO)
    note = Notification.objects.create(level=level, event=event, title=title[:200], message=message,
                                       workspace=workspace, task=task)
    logger.log(LOG_LEVELS.get(level, logging.INFO), "%s: %s — %s", level.upper(), title, message)
    channels = NotificationChannel.objects.filter(Q(workspace__isnull=True) | Q(workspace=workspace), enabled=True)
    for channel in channels:
        if channel.wants(event=event, level=level):
            delivery_create(notification=note, channel=channel)
    return note


def notify(level: str, title: str, message: str = "", *, workspace=None, task=None, event: str = Event.OTHER):
    return notify_event(event, task=task, workspace=workspace, title=title, message=message, level=level)


def notify_warning(title: str, message: str = "", **kwargs) -> Notification:
    return notify(Level.WARNING, title, message, **kwargs)


def notify_emergency(title: str, message: str = "", *, event: str = Event.STATE_SAVE_FAILED, **kwargs):
    return notify(Level.EMERGENCY, title, message, event=event, **kwargs)


def delivery_create(*, notification: Notification, channel: NotificationChannel) -> NotificationDelivery:
    delivery = NotificationDelivery.objects.create(notification=notification, channel=channel,
                                                   delivery_id=uuid.uuid4(), next_try_at=timezone.now())
    transaction.on_commit(lambda: enqueue_delivery(delivery.pk))
    return delivery


# --- channels -------------------------------------------------------------------------------
def can_manage_channels(user, workspace=None) -> bool:
    """Who may add, change, test and delete channels: global ones, superusers; a workspace's
    channels, its admins (the per-workspace role)."""
    if not getattr(user, "is_authenticated", False) or not user.is_active:
        return False
    if user.is_superuser:
        return True
    return workspace is not None and (role_of(user, workspace) or 0) >= Role.ADMIN


def workspaces_with_manageable_channels(user) -> list:
    return [w for w in readable_workspaces(user).order_by("name") if can_manage_channels(user, w)]


def _check_manage(user, workspace) -> None:
    if not can_manage_channels(user, workspace):
        raise Forbidden("Only administrators manage " + ("this workspace's" if workspace else "global")
                               + " notification channels.")


def _check_target(kind: str, target: str) -> None:
    target = target.strip()
    if kind == NotificationChannel.Kind.WEBHOOK:
        if not target.startswith(("http://", "https://")):
            raise DomainError("A webhook URL starts with http:// or https://.", errors={"target": ["Not an http(s) URL."]})
        return
    if apprise.Apprise.instantiate(target) is None:
        raise DomainError("Apprise does not understand this URL.", errors={"target": ["Not a valid Apprise URL."]})


def _clean_choices(values, choices, field) -> list[str]:
    values = [v for v in (values or []) if v]
    unknown = [v for v in values if v not in choices]
    if unknown:
        raise DomainError(f"Unknown {field}: {', '.join(unknown)}.", errors={field: [f"Unknown: {', '.join(unknown)}"]})
    return values


@transaction.atomic
def channel_create(*, user, name: str, kind: str, target: str, secret: str = "", workspace=None, events=(),
                   levels=()) -> NotificationChannel:
    _check_manage(user, workspace)
    if kind not in NotificationChannel.Kind.values:
        raise DomainError(f"Unknown channel kind {kind!r}.", errors={"kind": ["Unknown kind."]})
    _check_target(kind, target)
    if kind == NotificationChannel.Kind.WEBHOOK and not secret:
        raise DomainError("A webhook needs a secret to sign its messages.", errors={"secret": ["Required for a webhook."]})
    if NotificationChannel.objects.filter(workspace=workspace, name=name).exists():
        raise Conflict(f"A channel named {name!r} exists already.", errors={"name": ["Already used."]})
    channel = NotificationChannel.objects.create(
        name=name, kind=kind, workspace=workspace, target_encrypted=encrypt_text(target.strip()),
        secret_encrypted=encrypt_text(secret) if secret else "",
        events=_clean_choices(events, Event.values, "events"), levels=_clean_choices(levels, Level.values, "levels"),
        created_by=user if getattr(user, "pk", None) else None,
    )
    audit_record("channel.create", user=user, workspace=workspace, target=name,
                 details={"kind": kind, "events": channel.events, "levels": channel.levels})  # never the URL/secret
    return channel


@transaction.atomic
def channel_update(*, user, channel: NotificationChannel, events=None, levels=None, enabled=None,
                   target: str = "", secret: str = "") -> NotificationChannel:
    _check_manage(user, channel.workspace)
    if target:
        _check_target(channel.kind, target)
        channel.target_encrypted = encrypt_text(target.strip())
    if secret:
        channel.secret_encrypted = encrypt_text(secret)
    if events is not None:
        channel.events = _clean_choices(events, Event.values, "events")
    if levels is not None:
        channel.levels = _clean_choices(levels, Level.values, "levels")
    if enabled is not None:
        channel.enabled = enabled
    channel.save()
    audit_record("channel.update", user=user, workspace=channel.workspace, target=channel.name,
                 details={"events": channel.events, "levels": channel.levels, "enabled": channel.enabled,
                          "target_changed": bool(target), "secret_changed": bool(secret)})
    return channel


def channel_delete(*, user, channel: NotificationChannel) -> None:
    _check_manage(user, channel.workspace)
    audit_record("channel.delete", user=user, workspace=channel.workspace, target=channel.name)
    channel.delete()


def channel_send_test(*, user, channel: NotificationChannel) -> NotificationDelivery:
    """A test message to this channel only (not to the others that want info messages)."""
    _check_manage(user, channel.workspace)
    note = Notification.objects.create(
        level=Level.INFO, event=Event.TEST, workspace=channel.workspace,
        title=f"Test message for channel {channel.name}",
        message=f"Sent by {user.get_username()} from the channel's settings page: this channel works.",
    )
    note.read_by.add(user)
    return delivery_create(notification=note, channel=channel)


def delivery_resend(*, user, delivery: NotificationDelivery) -> NotificationDelivery:
    """Send a notification again to the same channel: a new delivery (new id), the old log kept."""
    _check_manage(user, delivery.channel.workspace)
    return delivery_create(notification=delivery.notification, channel=delivery.channel)


# --- notification center ----------------------------------------------------------------------
def notifications_for_user(user):
    """What a user sees: everything for superusers; for others, the notifications of the
    workspaces they may read (and none of another workspace)."""
    return _visible(user, Notification.objects).select_related("workspace", "task", "acknowledged_by").annotate(
        delivery_count=Count("deliveries")).order_by("-created_at", "-id")


def _visible(user, queryset):
    if getattr(user, "is_superuser", False):
        return queryset
    return queryset.filter(Q(workspace__isnull=True) | Q(workspace__in=readable_workspaces(user)))


def unread_count(user) -> int:
    return _visible(user, Notification.objects).exclude(read_by=user).exclude(event=Event.TEST).count()


def open_emergencies(user=None):
    emergencies = Notification.objects.filter(level=Level.EMERGENCY, acknowledged=False).select_related("workspace")
    return emergencies if user is None else _visible(user, emergencies)


def notifications_mark_read(*, user, notifications) -> None:
    ids = list(notifications.exclude(read_by=user).values_list("pk", flat=True)[:500])
    Notification.read_by.through.objects.bulk_create(
        [Notification.read_by.through(notification_id=pk, user_id=user.pk) for pk in ids], ignore_conflicts=True)


def notification_acknowledge(*, user, notification: Notification) -> Notification:
    """An emergency stays on every page until an admin acknowledges it: who and when are kept (and audited)."""
    workspace_admin = notification.workspace is not None and (role_of(user, notification.workspace) or 0) >= Role.ADMIN
    if not (user.is_superuser or workspace_admin):
        raise Forbidden("Only an administrator (of its workspace, or of the platform) acknowledges an emergency.")
    updated = Notification.objects.filter(pk=notification.pk, acknowledged=False).update(
        acknowledged=True, acknowledged_by=user, acknowledged_at=timezone.now())
    notification.refresh_from_db()
    if updated:
        logger.warning("emergency %s (%s) acknowledged by %s", notification.pk, notification.title,
                       user.get_username())
        audit_record("notification.acknowledge", user=user, workspace=notification.workspace,
                     target=f"notification #{notification.pk}", details={"title": notification.title[:200]})
    return notification


def notification_get(pk: int, user=None) -> Notification:
    notes = Notification.objects if user is None else _visible(user, Notification.objects)
    note = notes.select_related("workspace", "task").filter(pk=pk).first()
    if note is None:
        raise NotFound(f"No notification {pk}.")
    return note
