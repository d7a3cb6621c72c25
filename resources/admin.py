"""Managed resources in the admin: for looking, not editing.

Every change goes through ``resources.services`` (versions, snapshots and dependency
cycles are checked there), so the admin shows these tables read-only.
"""

from django.contrib import admin

from resources.models import ResourceCodeVersion, ResourceDependency, WorkspaceResource, WorkspaceResourcesSnapshot
from workspaces.admin import ReadOnlyAdmin


@admin.register(WorkspaceResource)
class WorkspaceResourceAdmin(ReadOnlyAdmin):
    list_display = ("resource_id", "workspace", "kind", "is_active", "current_version", "updated_at")
    list_filter = ("kind", "is_active")
    search_fields = ("resource_id", "workspace__name", "description")
    list_select_related = ("workspace", "current_version")


@admin.register(ResourceCodeVersion)
class ResourceCodeVersionAdmin(ReadOnlyAdmin):
    list_display = ("resource", "version", "change_type", "is_latest", "author", "created_at")
    list_filter = ("change_type", "is_latest")
    search_fields = ("resource__resource_id", "resource__workspace__name", "change_summary")
    list_select_related = ("resource", "author")


@admin.register(WorkspaceResourcesSnapshot)
class WorkspaceResourcesSnapshotAdmin(ReadOnlyAdmin):
    list_display = ("name", "workspace", "author", "created_at")
    search_fields = ("name", "workspace__name")
    list_select_related = ("workspace", "author")


@admin.register(ResourceDependency)
class ResourceDependencyAdmin(ReadOnlyAdmin):
    list_display = ("resource", "depends_on", "created_at")
    search_fields = ("resource__resource_id", "depends_on__resource_id")
    list_select_related = ("resource", "depends_on")
