"""Operator notifications: a Notification row and a log line (channels plug in here later)."""

import logging

from executions.models import Notification

logger = logging.getLogger("executions.notifications")
LOG_LEVELS = {
    Notification.Level.INFO: logging.INFO,
    Notification.Level.WARNING: logging.WARNING,
    Notification.Level.EMERGENCY: logging.CRITICAL,
}


def notify(level: str, title: str, message: str = "", *, workspace=None, task=None) -> Notification:
    note = Notification.objects.create(level=level, title=title, message=message, workspace=workspace, task=task)
    logger.log(LOG_LEVELS.get(level, logging.INFO), "%s: %s — %s", level.upper(), title, message)
    return note


def notify_warning(title: str, message: str = "", **kwargs) -> Notification:
    return notify(Notification.Level.WARNING, title, message, **kwargs)


def notify_emergency(title: str, message: str = "", **kwargs) -> Notification:
    return notify(Notification.Level.EMERGENCY, title, message, **kwargs)
