"""Reading code versions: history (with the runs that used each), one version, compare."""

import json
from dataclasses import dataclass

from iacplatform.errors import NotFound
from workspaces.diffs import DEFAULT_CONTEXT, TextDiff, text_diff
from workspaces.models import Workspace, WorkspaceCodeVersion
from workspaces.runs import runs


def code_version_list(*, workspace: Workspace):
    """The history, newest first, without the code itself (a page of it is cheap)."""
    return (
        WorkspaceCodeVersion.objects.filter(workspace=workspace)
        .select_related("author")
        .defer("code", "provider_config")
        .order_by("-number")
    )


def code_versions_with_runs(versions) -> list[WorkspaceCodeVersion]:
    """Attach ``run_count`` and ``recent_runs`` (the last few runs that used it) to each version."""
    versions = list(versions)
    counts, recent = runs().code_version_runs([v.pk for v in versions])
    for version in versions:
        version.run_count = counts.get(version.pk, 0)
        version.recent_runs = recent.get(version.pk, [])
    return versions


def code_version_get(*, workspace: Workspace, number: int) -> WorkspaceCodeVersion:
    version = (
        WorkspaceCodeVersion.objects.select_related("author").filter(workspace=workspace, number=number).first()
    )
    if version is None:
        raise NotFound(f"Workspace {workspace.name} has no code version {number}.")
    return version


def code_version_numbers(*, workspace: Workspace) -> list[int]:
    return list(
        WorkspaceCodeVersion.objects.filter(workspace=workspace).order_by("-number").values_list("number", flat=True)
    )


@dataclass
class CodeComparison:
    old: WorkspaceCodeVersion
    new: WorkspaceCodeVersion
    diff: TextDiff
    provider_diff: TextDiff | None = None


def code_compare(*, workspace: Workspace, from_number: int, to_number: int,
                 context: int | None = DEFAULT_CONTEXT) -> CodeComparison:
    found = {
        v.number: v
        for v in WorkspaceCodeVersion.objects.select_related("author").filter(
            workspace=workspace, number__in=[from_number, to_number]
        )
    }
    for number in (from_number, to_number):
        if number not in found:
            raise NotFound(f"Workspace {workspace.name} has no code version {number}.")
    old, new = found[from_number], found[to_number]
    provider_diff = None
    if old.provider_config != new.provider_config:
        provider_diff = text_diff(
            json.dumps(old.provider_config, indent=2, sort_keys=True),
            json.dumps(new.provider_config, indent=2, sort_keys=True),
            context=context,
        )
    return CodeComparison(old, new, text_diff(old.code, new.code, context=context), provider_diff)
