"""Changing managed resources: versions, rollback, snapshots, dependencies, import, deploy.

Every function here is the one way in for the pages, the API and any command. Writes are
atomic and serialised per workspace (a row lock on the workspace), so version numbers,
snapshots and imports never interleave. History is never rewritten: update, rollback,
delete, restore and snapshot restore all append a version.
"""

from resources.services.dependencies import dependencies_set, find_cycle, resources_deploy
from resources.services.importing import ON_DUPLICATE, ImportReport, resources_import
from resources.services.resources import (
    MAX_TAG_LENGTH, MAX_TAGS, clean_tags, resource_create, resource_delete, resource_restore, resource_update,
    version_rollback
)
from resources.services.snapshots import (
    SnapshotChange, snapshot_changes, snapshot_create, snapshot_delete, snapshot_restore
)

__all__ = [
    "MAX_TAGS", "MAX_TAG_LENGTH", "ON_DUPLICATE", "ImportReport", "SnapshotChange", "clean_tags", "dependencies_set",
    "find_cycle", "resource_create", "resource_delete", "resource_restore", "resource_update", "resources_deploy",
    "resources_import", "snapshot_changes", "snapshot_create", "snapshot_delete", "snapshot_restore",
    "version_rollback",
]
