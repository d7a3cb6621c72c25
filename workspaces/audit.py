"""The audit trail: every change is recorded by the service that makes it (so pages, the API,
commands and the admin all record the same way), plus failed logins.

``audit_record(action, user=…, workspace=…, target=…, details=…)``: the remote address and
the way in (page, api, token, command) come from the current request, when there is one.
Never pass a secret value in ``details``.
"""

import logging
from datetime import datetime, time, timedelta

from django.contrib.auth.signals import user_login_failed
from django.db.models import Q
from django.utils import timezone
from django.utils.dateparse import parse_date, parse_datetime

from iacplatform.request_context import current_request
from workspaces.models import AuditEvent

log = logging.getLogger("workspaces.audit")


def _actor(user, request) -> tuple[int | None, str]:
    if user is None or not getattr(user, "is_authenticated", False):
        # No user: a management command run by the host operator, a worker, or a caller not logged in.
        return None, "anonymous" if request is not None else "host"
    if getattr(user, "pk", None) is None:
        return None, user.get_username()
    return user.pk, user.get_username()


def _where(request) -> tuple[str | None, str]:
    if request is None:
        return None, "command"
    address = request.META.get("REMOTE_ADDR") or None
    if request.path_info.startswith("/api/"):
        via = "token" if request.headers.get("Authorization", "").lower().startswith("bearer ") else "api"
    else:
        via = "page"
    return address, via


def audit_record(action: str, *, user=None, workspace=None, workspace_name: str = "", target: str = "",
                 details: dict | None = None, request=None) -> AuditEvent:
    request = request if request is not None else current_request.get()
    if user is None and request is not None and getattr(request, "user", None) is not None \
            and request.user.is_authenticated:
        user = request.user
    actor_id, actor = _actor(user, request)
    address, via = _where(request)
    event = AuditEvent.objects.create(
        actor_id=actor_id, actor=actor[:150], action=action,
        workspace_id=getattr(workspace, "pk", None), workspace_name=(getattr(workspace, "name", "") or workspace_name),
        target=str(target)[:300], remote_addr=address, via=via, details=details or {},
    )
    return event


def audit_events(*, workspace=None, workspace_ids=None, actor: str = "", action: str = "", since=None, until=None):
    """Events, newest first, filtered (for the pages and the API)."""
    qs = AuditEvent.objects.all()
    if workspace is not None:
        qs = qs.filter(workspace_id=workspace.pk)
    if workspace_ids is not None:
        qs = qs.filter(workspace_id__in=workspace_ids)
    if actor:
        qs = qs.filter(actor=actor)
    if action:
        qs = qs.filter(Q(action=action) | Q(action__startswith=action.rstrip(".") + "."))
    if since is not None:
        qs = qs.filter(created_at__gte=since)
    if until is not None:
        qs = qs.filter(created_at__lt=until)
    return qs.order_by("-created_at", "-id")


def _login_failed(sender, credentials, request=None, **kwargs):
    # Only the username: Django has already masked the password, and we never store it anyway.
    username = str((credentials or {}).get("username", ""))[:150]
    audit_record("login.failed", user=None, target=username, details={"username": username}, request=request)


def connect_signals():
    user_login_failed.connect(_login_failed, dispatch_uid="workspaces.audit.login_failed")


def parse_when(value: str, *, end: bool = False):
    """``YYYY-MM-DD`` (the whole day; ``end`` → the next midnight) or an ISO datetime; None when empty.

    Raises ValueError on anything else.
    """
    value = (value or "").strip()
    if not value:
        return None
    try:
        day = parse_date(value) if len(value) == 10 else None  # a whole day (fromisoformat would say midnight)
        moment = None if day else parse_datetime(value)
    except ValueError:
        day = moment = None
    if day is not None:
        moment = datetime.combine(day + timedelta(days=1) if end else day, time.min)
    if moment is None:
        raise ValueError(f"{value!r} is not a date (YYYY-MM-DD) or a date and time.")
    if timezone.is_naive(moment):
        moment = timezone.make_aware(moment, timezone.get_default_timezone())
    return moment


ACTION_GROUPS = ("workspace", "variable", "member", "code", "resource", "resources", "snapshot", "run", "state",
                 "token", "login")
