"""Saving code: every change a new numbered version, unchanged content none."""

import json
import logging

from django.db import transaction
from django.db.models import Max
from django.utils import timezone

from iacplatform.errors import DomainError
from workspaces.audit import audit_record
from workspaces.code.check import AUTO, check_code
from workspaces.code.selectors import code_version_get
from workspaces.models import Workspace, WorkspaceCodeVersion, sha256_hex

code_log = logging.getLogger("workspaces.code")
MESSAGE_MAX_LENGTH = WorkspaceCodeVersion._meta.get_field("message").max_length


def code_checksum(code: str, code_format: str, provider_config: dict) -> str:
    return sha256_hex(json.dumps([code_format, code, provider_config], sort_keys=True))


@transaction.atomic
def code_version_save(*, workspace: Workspace, code: str, code_format: str = WorkspaceCodeVersion.Format.JSON,
                      provider_config: dict | None = None, message: str = "", author=None
                      ) -> tuple[WorkspaceCodeVersion, bool]:
    """Make ``code`` the workspace's current code. Returns (version, created).

    Unchanged content (same checksum as the current version) makes no new version.
    Validation of the code itself is the caller's job (see ``workspaces.codecheck``).
    """
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    if provider_config is None:
        provider_config = workspace.provider_config or {}
    checksum = code_checksum(code, code_format, provider_config)
    current = workspace.current_code_version
    if current is not None and current.checksum == checksum:
        return current, False
    number = (workspace.code_versions.aggregate(n=Max("number"))["n"] or 0) + 1
    version = WorkspaceCodeVersion.objects.create(
        workspace=workspace, number=number, code=code, code_format=code_format,
        provider_config=provider_config, checksum=checksum, message=message, author=author,
    )
    # The workspace's provider settings are what a run writes; the current version records
    # them. A version made with other settings (an HCL import of provider blocks) changes them.
    changes = {"current_code_version": version, "updated_at": timezone.now()}
    if provider_config != (workspace.provider_config or {}):
        changes["provider_config"] = provider_config
    Workspace.objects.filter(pk=workspace.pk).update(**changes)
    audit_record("code.save", user=author, workspace=workspace, target=f"code version {number}",
                 details={"number": number, "message": message, "format": code_format, "checksum": checksum})
    return version, True


@transaction.atomic
def provider_config_recorded(*, workspace: Workspace, author=None) -> WorkspaceCodeVersion | None:
    """Record the workspace's (changed) provider settings as a new code version of the same code.

    Called when the settings change: the history shows when the provider changed, and a plan
    waiting for confirmation made with the old settings becomes stale. No code yet: nothing to
    record (the first saved code takes the settings). Returns the new version, if any.
    """
    workspace = Workspace.objects.select_for_update().get(pk=workspace.pk)
    current = workspace.current_code_version
    if current is None:
        return None
    version, created = code_version_save(
        workspace=workspace, code=current.code, code_format=current.code_format,
        provider_config=workspace.provider_config or {}, message="Provider configuration changed in Settings",
        author=author,
    )
    if created:
        code_log.info("provider settings recorded workspace=%s number=%s user=%s",
                      workspace.name, version.number, getattr(author, "username", None))
    return version if created else None


def code_save(*, workspace: Workspace, code: str, code_format: str = AUTO, message: str = "",
              author=None) -> tuple[WorkspaceCodeVersion, bool]:
    """Validate and save the workspace's code. Returns (version, created).

    Invalid code raises ``InvalidCode`` (a 400 naming line and column) and saves nothing;
    unchanged code makes no version and returns the current one.
    """
    message = (message or "").strip()
    if len(message) > MESSAGE_MAX_LENGTH:
        raise DomainError(f"The message is longer than {MESSAGE_MAX_LENGTH} characters.",
                          errors={"message": [f"At most {MESSAGE_MAX_LENGTH} characters."]})
    detected = check_code(code, code_format)
    version, created = code_version_save(
        workspace=workspace, code=code, code_format=detected, message=message, author=author
    )
    if created:
        code_log.info("code version saved workspace=%s number=%s user=%s",
                      workspace.name, version.number, getattr(author, "username", None))
    return version, created


def code_version_rollback(*, workspace: Workspace, number: int, author=None) -> tuple[WorkspaceCodeVersion, bool]:
    """Make an old version's code current again as a new version (history is never rewritten).

    The provider settings stay as they are now: they belong to Settings, and the next run writes
    them (the new version records them). Returns (version, created); rolling back to what is
    already current creates nothing.
    """
    target = code_version_get(workspace=workspace, number=number)
    version, created = code_version_save(
        workspace=workspace, code=target.code, code_format=target.code_format,
        message=f"Rollback to version {number}", author=author,
    )
    if created:
        code_log.info("code rollback workspace=%s to=%s new=%s user=%s",
                      workspace.name, number, version.number, getattr(author, "username", None))
    return version, created
