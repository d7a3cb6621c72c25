"""Who may do what in a workspace: the one selector every entry point goes through.

``workspace_for(user, name, need=Role.X)`` returns the workspace (with ``.access``, the
caller's role) or raises ``Http404`` when the user may not even read it (an outsider
cannot tell a hidden workspace from a missing one) and ``PermissionDenied`` when the user
can read it but the role is below ``need``. Lists start from ``readable_workspaces(user)``.

Roles come from ``WorkspaceMember`` rows for the user and for the user's groups (the
highest wins); superusers are admins everywhere. Management commands run on the host act
as ``HOST`` (an operator with shell access, who can read the database anyway) unless a
``--user`` is named, in which case that user's roles apply.
"""

from dataclasses import dataclass

from django.core.exceptions import PermissionDenied
from django.db.models import Max, Q
from django.http import Http404

from workspaces.models import Role, Workspace, WorkspaceMember


class _HostOperator:
    """The operator of a management command run without ``--user``: admin everywhere."""

    is_authenticated = True
    is_active = True
    is_superuser = True
    pk = None

    def get_username(self):
        return "host"

    def __str__(self):
        return "host operator"


HOST = _HostOperator()


@dataclass(frozen=True)
class Access:
    """The caller's role in one workspace, for templates and entry points."""

    role: int | None

    @property
    def label(self) -> str:
        return Role(self.role).label if self.role else "None"

    @property
    def can_read(self) -> bool:
        return bool(self.role and self.role >= Role.READER)

    @property
    def can_plan(self) -> bool:
        return bool(self.role and self.role >= Role.PLANNER)

    @property
    def can_apply(self) -> bool:
        return bool(self.role and self.role >= Role.APPLIER)

    @property
    def can_admin(self) -> bool:
        return bool(self.role and self.role >= Role.ADMIN)


def _is_user(user) -> bool:
    return user is not None and getattr(user, "is_authenticated", False) and getattr(user, "is_active", False)


def _memberships(user):
    return WorkspaceMember.objects.filter(Q(user=user) | Q(group__user=user))


def role_of(user, workspace: Workspace) -> int | None:
    """The highest role ``user`` holds in ``workspace`` (None: not even a reader)."""
    if not _is_user(user):
        return None
    if user.is_superuser:
        return Role.ADMIN
    return _memberships(user).filter(workspace=workspace).aggregate(role=Max("role"))["role"]


def readable_workspaces(user, queryset=None):
    """``queryset`` (default: all workspaces) restricted to those ``user`` may read."""
    queryset = Workspace.objects.all() if queryset is None else queryset
    if not _is_user(user):
        return queryset.none()
    if user.is_superuser:
        return queryset
    return queryset.filter(pk__in=_memberships(user).values("workspace_id"))


def workspace_for(user, workspace: str | Workspace, need: int = Role.READER, *, detailed: bool = False) -> Workspace:
    """The workspace named ``workspace`` (or that instance) if ``user`` holds at least ``need`` in it.

    404 when the user cannot read it (or it does not exist), 403 when the role is too low.
    ``detailed`` brings the current code version and the locker along (for pages).
    """
    if isinstance(workspace, Workspace):
        instance = workspace
    else:
        qs = Workspace.objects.select_related("current_code_version", "locked_by") if detailed else Workspace.objects
        instance = qs.filter(name=workspace).first() if isinstance(workspace, str) else None
        if instance is None:
            raise Http404("No such workspace.")
    role = role_of(user, instance)
    if role is None:
        raise Http404("No such workspace.")
    if role < need:
        raise PermissionDenied(f"This needs the {Role(need).label.lower()} role in workspace “{instance.name}”; "
                               f"you are {Role(role).label.lower()}.")
    instance.access = Access(role)
    return instance
