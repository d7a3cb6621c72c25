"""Managed resources: create, update, delete, restore, roll a version back (each a new version)."""

import logging

from django.db import IntegrityError, transaction
from django.db.models import Max
from django.utils import timezone

from iacplatform.errors import Conflict, DomainError, NotFound
from resources import fragments
from resources.fragments import Address, InvalidCode, parse_fragment
from resources.importer import ImportParseError, hcl_to_json
from resources.models import ResourceCodeVersion, WorkspaceResource
from workspaces.audit import audit_record
from workspaces.models import Workspace

logger = logging.getLogger("resources")


ChangeType = ResourceCodeVersion.ChangeType


MAX_TAGS = 20


MAX_TAG_LENGTH = 50


def lock_workspace(workspace) -> Workspace:
    return Workspace.objects.select_for_update().get(pk=workspace.pk)


def lock_resource(resource) -> WorkspaceResource:
    return (WorkspaceResource.objects.select_for_update(of=("self",))
            .select_related("current_version", "workspace").get(pk=resource.pk))


def acting_user(user):
    return user if getattr(user, "is_authenticated", False) else None


def clean_tags(tags) -> list[str]:
    if tags is None:
        return []
    if isinstance(tags, str):
        tags = tags.split(",")
    if not isinstance(tags, (list, tuple)):
        raise DomainError("Tags must be a list of words.", errors={"tags": ["must be a list"]})
    cleaned: list[str] = []
    for tag in tags:
        tag = str(tag).strip()
        if not tag:
            continue
        if len(tag) > MAX_TAG_LENGTH:
            raise DomainError(f"Tag {tag[:20]!r}… is longer than {MAX_TAG_LENGTH} characters.",
                              errors={"tags": ["too long"]})
        if tag not in cleaned:
            cleaned.append(tag)
    if len(cleaned) > MAX_TAGS:
        raise DomainError(f"At most {MAX_TAGS} tags.", errors={"tags": ["too many"]})
    return cleaned


def append_version(*, resource: WorkspaceResource, code: dict, change_type: str, summary: str,
                    user=None, source_text: str = "") -> ResourceCodeVersion:
    """Add a version and make it the resource's latest/current one (resource row locked)."""
    number = (resource.versions.aggregate(n=Max("version"))["n"] or 0) + 1
    ResourceCodeVersion.objects.filter(resource=resource, is_latest=True).update(is_latest=False)
    version = ResourceCodeVersion.objects.create(
        resource=resource, version=number, code=code, checksum=fragments.checksum(code),
        change_type=change_type, change_summary=summary[:500], is_latest=True, author=acting_user(user),
        source_text=source_text,
    )
    resource.current_version = version
    resource.save(update_fields=["current_version", "is_active", "deleted_at", "updated_at"])
    # Every change of a resource's code is a version, so this records them all (create, update,
    # delete, restore, rollback, snapshot restore, import of a new version).
    audit_record(f"resource.{change_type}", user=acting_user(user), workspace=resource.workspace,
                 target=resource.resource_id, details={"resource_id": resource.pk, "version": number,
                                                       "summary": summary[:200]})
    return version


def code_fragment(code) -> tuple[Address, dict]:
    """A fragment from a dict, its JSON text, or one HCL block (text not starting with "{")."""
    if isinstance(code, str) and code.strip() and not code.lstrip().startswith(("{", "[")):
        try:
            code = hcl_to_json(code, name="code")
        except ImportParseError as exc:
            raise InvalidCode(exc.message) from None
    return parse_fragment(code)


def hcl_source(code) -> str:
    """The HCL text of ``code`` as written, kept next to its JSON; "" for JSON input."""
    if isinstance(code, str) and code.strip() and not code.lstrip().startswith(("{", "[")):
        return code.strip("\n") + "\n"
    return ""


def current_checksum(resource: WorkspaceResource) -> str | None:
    return resource.current_version.checksum if resource.current_version_id else None


@transaction.atomic
def resource_create(*, workspace, code, resource_id: str | None = None, description: str = "",
                    tags=None, user=None) -> WorkspaceResource:
    address, fragment = code_fragment(code)
    if resource_id and Address.parse(resource_id).text != address.text:
        raise InvalidCode(f"The code defines {address.text}, not {resource_id}.", field="resource_id")
    tags = clean_tags(tags)
    workspace = lock_workspace(workspace)
    existing = WorkspaceResource.objects.filter(workspace=workspace, resource_id=address.text).first()
    if existing is not None:
        state = "exists" if existing.is_active else "exists but is deleted (restore it)"
        raise Conflict(f"{address.text} already {state} in {workspace.name} (resource #{existing.pk}); "
                       "change its code to make a new version.", errors={"resource_id": ["already exists"]})
    try:
        with transaction.atomic():
            resource = WorkspaceResource.objects.create(
                workspace=workspace, resource_id=address.text, kind=address.kind, resource_type=address.type,
                name=address.name, description=description, tags=tags, created_by=acting_user(user),
            )
    except IntegrityError:
        raise Conflict(f"{address.text} already exists in {workspace.name}.") from None
    append_version(resource=resource, code=fragment, change_type=ChangeType.CREATE, summary="Created", user=user,
                   source_text=hcl_source(code))
    logger.info("resource %s created in %s", address.text, workspace.name)
    return resource


@transaction.atomic
def resource_update(*, resource, code=None, description: str | None = None, tags=None,
                    change_summary: str = "", user=None) -> tuple[WorkspaceResource, ResourceCodeVersion | None]:
    """Change a resource. A new version only when the code changed; returns (resource, new version or None)."""
    resource = lock_resource(resource)
    if not resource.is_active:
        raise Conflict(f"{resource.resource_id} is deleted; restore it before changing it.")
    version = None
    if code is not None:
        address, fragment = code_fragment(code)
        if address.text != resource.resource_id:
            raise InvalidCode(
                f"The code defines {address.text} but this resource is {resource.resource_id}. The address of a "
                "resource cannot change: create a new resource (and a moved block) instead."
            )
        if fragments.checksum(fragment) != current_checksum(resource):
            summary = change_summary.strip() or fragments.change_summary(
                resource.current_version.code if resource.current_version_id else None, fragment)
            version = append_version(resource=resource, code=fragment, change_type=ChangeType.UPDATE,
                                      summary=summary, user=user, source_text=hcl_source(code))
    fields = []
    if description is not None and description != resource.description:
        resource.description = description
        fields.append("description")
    if tags is not None:
        cleaned = clean_tags(tags)
        if cleaned != resource.tags:
            resource.tags = cleaned
            fields.append("tags")
    if fields:
        resource.save(update_fields=[*fields, "updated_at"])
        audit_record("resource.describe", user=acting_user(user), workspace=resource.workspace,
                     target=resource.resource_id, details={"resource_id": resource.pk, "changed": fields})
    return resource, version


@transaction.atomic
def resource_delete(*, resource, user=None) -> WorkspaceResource:
    """Soft delete: the resource leaves main.tf.json (the next apply destroys it); history stays."""
    resource = lock_resource(resource)
    if not resource.is_active:
        raise Conflict(f"{resource.resource_id} is already deleted.")
    resource.is_active = False
    resource.deleted_at = timezone.now()
    append_version(resource=resource, code=resource.current_version.code, change_type=ChangeType.DELETE,
                    summary="Deleted", user=user, source_text=resource.current_version.source_text)
    return resource


@transaction.atomic
def resource_restore(*, resource, user=None) -> WorkspaceResource:
    resource = lock_resource(resource)
    if resource.is_active:
        raise Conflict(f"{resource.resource_id} is not deleted.")
    resource.is_active = True
    resource.deleted_at = None
    append_version(resource=resource, code=resource.current_version.code, change_type=ChangeType.RESTORE,
                    summary="Restored", user=user, source_text=resource.current_version.source_text)
    return resource


@transaction.atomic
def version_rollback(*, resource, version: int, user=None) -> tuple[WorkspaceResource, ResourceCodeVersion | None]:
    """Make the code of ``version`` current again, as a new version. None when it already is."""
    resource = lock_resource(resource)
    if not resource.is_active:
        raise Conflict(f"{resource.resource_id} is deleted; restore it before rolling it back.")
    target = ResourceCodeVersion.objects.filter(resource=resource, version=version).first()
    if target is None:
        raise NotFound(f"{resource.resource_id} has no version {version}.")
    if target.checksum == current_checksum(resource):
        return resource, None
    new = append_version(resource=resource, code=target.code, change_type=ChangeType.ROLLBACK,
                          summary=f"Rolled back to version {target.version}", user=user,
                          source_text=target.source_text)
    return resource, new
