"""Importing existing Terraform code: its blocks become resources, the rest joins the workspace code."""

from dataclasses import asdict, dataclass, field

from django.db import transaction
from django.db.models import OuterRef, Subquery

from iacplatform.errors import Conflict, DomainError
from resources import fragments
from resources.fragments import InvalidCode, parse_fragment
from resources.importer import parse_files
from resources.models import ResourceCodeVersion, WorkspaceResource
from resources.services.resources import (
    ChangeType, acting_user, append_version, current_checksum, lock_resource, lock_workspace, logger
)
from resources.workspace_code import plan_code_merge
from workspaces.audit import audit_record

ON_DUPLICATE = ("fail", "skip", "new_version")


@dataclass
class ImportReport:
    created: list[str] = field(default_factory=list)
    updated: list[str] = field(default_factory=list)
    restored: list[str] = field(default_factory=list)
    unchanged: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)
    duplicates: list[dict] = field(default_factory=list)
    code_version: int | None = None
    code_added: list[str] = field(default_factory=list)
    code_replaced: list[str] = field(default_factory=list)
    code_unchanged: list[str] = field(default_factory=list)
    code_skipped: list[str] = field(default_factory=list)
    providers: list[str] = field(default_factory=list)
    module_files: list[str] = field(default_factory=list)
    warnings: list[str] = field(default_factory=list)

    def as_dict(self) -> dict:
        return asdict(self)

    @property
    def resource_count(self) -> int:
        return len(self.created) + len(self.updated) + len(self.restored)

    @property
    def new_versions(self) -> int:
        return len(self.updated) + len(self.restored)


def resources_import(*, workspace, files: dict[str, str], on_duplicate: str = "fail", message: str = "",
                     user=None) -> ImportReport:
    """Import Terraform files: resource/data/module blocks become resources (version 1), the
    rest goes to the workspace's code and provider config. All or nothing.

    ``on_duplicate`` says what to do with an address (or variable, output…) that already
    exists with other content: "fail" (the default: nothing is imported, the duplicates
    are listed), "skip" (keep what exists; reported), "new_version" (a new version of the
    resource, restoring it if it was deleted; the code block is replaced).
    """
    if on_duplicate not in ON_DUPLICATE:
        raise DomainError(f"on_duplicate must be one of {', '.join(ON_DUPLICATE)}.",
                          errors={"on_duplicate": ["invalid choice"]})
    parsed = parse_files(files)  # slow part first, outside the transaction
    return _import_parsed(workspace=workspace, parsed=parsed, on_duplicate=on_duplicate, message=message, user=user)


@transaction.atomic
def _import_parsed(*, workspace, parsed, on_duplicate, message, user) -> ImportReport:
    workspace = lock_workspace(workspace)
    report = ImportReport(warnings=list(parsed.warnings), module_files=sorted(parsed.module_files))
    existing = {r.resource_id: r for r in WorkspaceResource.objects.filter(workspace=workspace)
                .select_related("current_version")}
    code_merge = plan_code_merge(workspace=workspace, parsed=parsed, on_duplicate=on_duplicate)
    new_blocks, changed = [], []
    for block in parsed.resource_blocks:
        address = block.address
        fragment = address.wrap(block.body)
        try:
            address, fragment = parse_fragment(fragment)
        except InvalidCode as exc:
            raise InvalidCode(f"{block.where}: {exc.message}") from None
        if address.text in code_merge.code_addresses:
            # The workspace code defines this block itself: a managed copy would define it twice.
            movable = code_merge.mode != "hcl"
            take = on_duplicate == "new_version" and movable
            report.duplicates.append({
                "address": address.text, "where": block.where,
                "existing": f"defined in {code_merge.code_addresses[address.text]}",
                "action": "none" if on_duplicate == "fail" else ("moved out of the code" if take else "skipped"),
            })
            if not take:
                report.skipped.append(address.text)
                if on_duplicate == "new_version":
                    report.warnings.append(f"{address.text} stays in the HCL code; remove it there to manage it "
                                           "as a resource.")
                continue
            code_merge.take_over(address.text)
        resource = existing.get(address.text)
        if resource is None:
            new_blocks.append((block, address, fragment))
            continue
        same = fragments.checksum(fragment) == current_checksum(resource)
        if resource.is_active and same:
            report.unchanged.append(address.text)
            continue
        where = (f"exists (version {resource.version_number})" if resource.is_active
                 else f"exists but is deleted (version {resource.version_number})")
        report.duplicates.append({"address": address.text, "where": block.where, "existing": where,
                                  "action": {"fail": "none", "skip": "skipped"}.get(on_duplicate, "new version")})
        if on_duplicate == "skip":
            report.skipped.append(address.text)
        elif on_duplicate == "new_version":
            changed.append((resource, fragment, same, block.source))
    for dup in code_merge.duplicates:
        report.duplicates.append(dup)
    if on_duplicate == "fail" and report.duplicates:
        listed = "; ".join(f"{d['address']} ({d['where']}: {d['existing']})" for d in report.duplicates)
        raise Conflict(
            f"Nothing was imported: {len(report.duplicates)} duplicate(s): {listed}. "
            "Choose to skip them or to make new versions.",
            errors={"duplicates": [d["address"] for d in report.duplicates]},
        )

    _bulk_create_resources(workspace, new_blocks, user)
    report.created = [address.text for _, address, _ in new_blocks]
    for resource, fragment, same, source_text in changed:
        resource = lock_resource(resource)
        if not resource.is_active:
            resource.is_active, resource.deleted_at = True, None
            append_version(resource=resource, code=fragment, change_type=ChangeType.RESTORE,
                            summary="Restored by import", user=user, source_text=source_text)
            report.restored.append(resource.resource_id)
        elif not same:
            append_version(resource=resource, code=fragment, change_type=ChangeType.UPDATE,
                            summary="Updated by import: " + fragments.change_summary(resource.current_version.code,
                                                                                   fragment), user=user,
                            source_text=source_text)
            report.updated.append(resource.resource_id)

    report.code_added, report.code_replaced = code_merge.added, code_merge.replaced
    report.code_unchanged, report.code_skipped = code_merge.unchanged, code_merge.skipped
    report.providers = code_merge.providers
    report.warnings += code_merge.warnings
    version = code_merge.save(workspace=workspace, message=message or "Imported Terraform code", user=acting_user(user))
    report.code_version = version.number if version is not None else None
    audit_record("resources.import", user=acting_user(user), workspace=workspace,
                 target=f"{len(report.created) + len(report.updated) + len(report.restored)} resources",
                 details={"created": report.created, "updated": report.updated, "restored": report.restored,
                          "skipped": report.skipped, "code_version": report.code_version})
    logger.info("import into %s: %d created, %d updated, %d restored, %d unchanged, %d skipped",
                workspace.name, len(report.created), len(report.updated), len(report.restored),
                len(report.unchanged), len(report.skipped))
    return report


def _bulk_create_resources(workspace, new_blocks, user) -> None:
    if not new_blocks:
        return
    author = acting_user(user)
    resources = WorkspaceResource.objects.bulk_create([
        WorkspaceResource(workspace=workspace, resource_id=address.text, kind=address.kind,
                          resource_type=address.type, name=address.name, created_by=author,
                          description=f"Imported from {block.where}")
        for block, address, _ in new_blocks
    ], batch_size=500)
    if any(r.pk is None for r in resources):  # a backend that does not return ids
        by_address = dict(WorkspaceResource.objects.filter(
            workspace=workspace, resource_id__in=[r.resource_id for r in resources]).values_list("resource_id", "pk"))
        for r in resources:
            r.pk = r.id = by_address[r.resource_id]
    ResourceCodeVersion.objects.bulk_create([
        ResourceCodeVersion(resource=resource, version=1, code=fragment, checksum=fragments.checksum(fragment),
                            change_type=ChangeType.CREATE, change_summary="Imported", is_latest=True, author=author,
                            source_text=block.source)
        for resource, (block, _, fragment) in zip(resources, new_blocks)
    ], batch_size=500)
    # One statement instead of a 1,000-branch CASE: each new resource points at its version 1.
    WorkspaceResource.objects.filter(pk__in=[r.pk for r in resources]).update(current_version=Subquery(
        ResourceCodeVersion.objects.filter(resource=OuterRef("pk"), is_latest=True).values("pk")[:1]))
