"""Changing a workspace's settings, deleting it, deleting a variable.

They sit beside ``workspaces/services.py`` (same conventions: keyword-only arguments,
atomic, domain errors) because the console issue owns them; the lead may fold them in.
"""

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError
from workspaces.models import Variable, Workspace

SETTINGS_FIELDS = (
    "description", "execution_mode", "auto_apply", "terraform_version", "provider_config",
    "aws_role_arn", "aws_session_name", "aws_external_id", "aws_region", "timeouts",
)


def _validation_error(exc: ValidationError) -> DomainError:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    first = next(iter(errors.values()))[0]
    return DomainError(first, errors=errors)


@transaction.atomic
def workspace_update(*, workspace: Workspace, user=None, **changes) -> Workspace:
    """Change a workspace's settings; unknown fields are refused, the model validates the rest."""
    unknown = set(changes) - set(SETTINGS_FIELDS)
    if unknown:
        raise DomainError(f"Unknown setting(s): {', '.join(sorted(unknown))}.")
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    for field, value in changes.items():
        setattr(workspace, field, value)
    if not isinstance(workspace.provider_config, dict):
        raise DomainError("The provider configuration must be a JSON object.",
                          errors={"provider_config": ["Must be a JSON object."]})
    try:
        workspace.full_clean()
    except ValidationError as exc:
        raise _validation_error(exc) from None
    workspace.updated_at = timezone.now()
    workspace.save(update_fields=[*changes, "updated_at"])
    return workspace


@transaction.atomic
def workspace_delete(*, workspace: Workspace, user=None) -> None:
    """Delete a workspace with its runs, variables and versions. Refused while a run is active."""
    from executions.models import WorkspaceTask

    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    active = WorkspaceTask.objects.filter(
        workspace=workspace,
        status__in=[WorkspaceTask.Status.PENDING, WorkspaceTask.Status.QUEUED, WorkspaceTask.Status.RUNNING],
    ).order_by("id").values_list("id", flat=True).first()
    if active is not None:
        raise Conflict(f"Run #{active} is still active: cancel it (or let it finish) before deleting the workspace.")
    # Apply tasks protect their plan tasks: remove them first, then everything else cascades.
    WorkspaceTask.objects.filter(workspace=workspace, plan_task__isnull=False).delete()
    workspace.delete()


@transaction.atomic
def variable_delete(*, variable: Variable, user=None) -> None:
    Variable.objects.filter(pk=variable.pk).delete()
