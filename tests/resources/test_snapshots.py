"""Snapshots: a named set of resource versions; restore brings back exactly that set, or nothing."""

import pytest

from iacplatform.errors import Conflict, DomainError
from resources.aggregation import resource_version_map
from resources.models import ResourceCodeVersion, WorkspaceResource
from resources.services import (
    resource_delete, resource_update, snapshot_changes, snapshot_create, snapshot_delete, snapshot_restore, snapshots
)
from tests.resources.conftest import fragment

pytestmark = pytest.mark.django_db


def _state(workspace):
    return {r.resource_id: (r.is_active, r.current_version.code)
            for r in WorkspaceResource.objects.filter(workspace=workspace).select_related("current_version")}


def test_restore_after_deletes_additions_and_updates_brings_back_exactly_the_set(workspace, make_resource, user):
    a, b, c = make_resource("a", input="a1"), make_resource("b", input="b1"), make_resource("c", input="c1")
    snapshot = snapshot_create(workspace=workspace, name="before", user=user)
    assert snapshot.resource_versions == {"terraform_data.a": 1, "terraform_data.b": 1, "terraform_data.c": 1}
    expected = _state(workspace)

    resource_update(resource=a, code=fragment("a", input="a2"))
    resource_delete(resource=b)
    make_resource("d")
    preview = {ch.address: ch.action for ch in snapshot_changes(snapshot)}
    assert preview == {"terraform_data.a": "update", "terraform_data.b": "reactivate",
                       "terraform_data.c": "unchanged", "terraform_data.d": "deactivate"}
    assert WorkspaceResource.objects.get(resource_id="terraform_data.a").version_number == 2  # preview wrote nothing

    snapshot_restore(snapshot=snapshot, user=user)
    state = _state(workspace)
    assert {k: v for k, v in state.items() if v[0]} == expected
    assert state["terraform_data.d"][0] is False
    a.refresh_from_db()
    assert (a.current_version.version, a.current_version.change_type) == (3, "restore")
    assert "from snapshot 'before'" in a.current_version.change_summary
    assert c.versions.count() == 1  # unchanged: no new version
    assert {ch.action for ch in snapshot_changes(snapshot)} == {"unchanged"}


def test_a_failing_step_changes_nothing(workspace, make_resource, monkeypatch):
    a, b = make_resource("a", input="1"), make_resource("b", input="1")
    snapshot = snapshot_create(workspace=workspace, name="s")
    resource_update(resource=a, code=fragment("a", input="2"))
    resource_update(resource=b, code=fragment("b", input="2"))
    before = _state(workspace), ResourceCodeVersion.objects.count()

    real = snapshots.append_version
    calls = []

    def fail_on_second(**kwargs):
        calls.append(kwargs["resource"].resource_id)
        if len(calls) == 2:
            raise RuntimeError("disk full")
        return real(**kwargs)

    monkeypatch.setattr(snapshots, "append_version", fail_on_second)
    with pytest.raises(RuntimeError):
        snapshot_restore(snapshot=snapshot)
    assert calls == ["terraform_data.a", "terraform_data.b"]
    assert (_state(workspace), ResourceCodeVersion.objects.count()) == before


def test_a_snapshot_pointing_at_missing_versions_is_refused_up_front(workspace, make_resource):
    make_resource("a")
    snapshot = snapshot_create(workspace=workspace, name="s")
    snapshot.resource_versions = {"terraform_data.a": 7, "terraform_data.gone": 1}
    snapshot.save()
    with pytest.raises(Conflict) as exc:
        snapshot_restore(snapshot=snapshot)
    assert "terraform_data.a has no version 7" in exc.value.message
    assert "terraform_data.gone no longer exists" in exc.value.message
    assert resource_version_map(workspace) == {"terraform_data.a": 1}


def test_names_are_unique_per_workspace_and_required(workspace, make_resource):
    from workspaces.models import Workspace

    make_resource("a")
    snapshot = snapshot_create(workspace=workspace, name="s")
    with pytest.raises(Conflict, match="already exists"):
        snapshot_create(workspace=workspace, name="s")
    snapshot_create(workspace=Workspace.objects.create(name="other"), name="s")
    with pytest.raises(DomainError, match="needs a name"):
        snapshot_create(workspace=workspace, name="  ")
    snapshot_delete(snapshot=snapshot)
    snapshot_create(workspace=workspace, name="s")
