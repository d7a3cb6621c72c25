"""Resources and their versions: create, update, rollback, compare, delete, restore."""

import pytest

from iacplatform.errors import Conflict, DomainError, NotFound
from resources.fragments import InvalidCode
from resources.models import ResourceCodeVersion, WorkspaceResource
from resources.selectors import resource_get, resource_list, version_compare, version_list
from resources.services import resource_create, resource_delete, resource_restore, resource_update, version_rollback
from tests.resources.conftest import fragment

pytestmark = pytest.mark.django_db


def test_create_makes_version_one_with_the_address_from_the_code(workspace, user):
    resource = resource_create(workspace=workspace, code=fragment("a", input="one"), tags="web, blue", user=user)
    assert resource.resource_id == "terraform_data.a"
    assert (resource.kind, resource.resource_type, resource.name) == ("resource", "terraform_data", "a")
    assert resource.tags == ["web", "blue"]
    version = resource.current_version
    assert (version.version, version.change_type, version.is_latest, version.author) == (1, "create", True, user)


@pytest.mark.parametrize("code, address", [
    ({"data": {"terraform_remote_state": {"net": {"backend": "local"}}}}, "data.terraform_remote_state.net"),
    ({"module": {"web": {"source": "./modules/web"}}}, "module.web"),
    ('{"resource": [{"terraform_data": [{"b": [{"input": 1}]}]}]}', "terraform_data.b"),
])
def test_data_sources_modules_and_list_forms_are_accepted(workspace, code, address):
    assert resource_create(workspace=workspace, code=code).resource_id == address


@pytest.mark.parametrize("code, reason", [
    ("{not json", "not valid JSON (line 1, column 2)"),
    ({}, "empty"),
    ({"variable": {"x": {}}}, "belong to the workspace's code"),
    ({"resource": {"terraform_data": {"a": {}, "b": {}}}}, "exactly one block"),
    ({"resource": {"terraform_data": {"a b": {}}}}, "not a Terraform identifier"),
    ({"module": {"web": {"inputs": 1}}}, "needs a 'source'"),
    ({"resource": {"terraform_data": {"a": "text"}}}, "must be a JSON object"),
    ([], "must be a JSON object"),
])
def test_bad_code_is_refused_with_a_reason_and_nothing_is_written(workspace, code, reason):
    with pytest.raises(InvalidCode) as exc:
        resource_create(workspace=workspace, code=code)
    assert reason in exc.value.message and exc.value.status == 400
    assert not WorkspaceResource.objects.exists() and not ResourceCodeVersion.objects.exists()


def test_the_same_address_twice_is_a_conflict(workspace, make_resource):
    make_resource("a")
    with pytest.raises(Conflict, match="already exists"):
        resource_create(workspace=workspace, code=fragment("a", input="other"))
    with pytest.raises(InvalidCode, match="defines terraform_data.b, not terraform_data.a"):
        resource_create(workspace=workspace, code=fragment("b"), resource_id="terraform_data.a")


def test_update_rollback_and_compare(workspace, make_resource, user):
    resource = make_resource("a", input="v1")
    resource, v2 = resource_update(resource=resource, code=fragment("a", input="v2", count=2), user=user)
    assert v2.version == 2 and v2.change_type == "update"
    assert v2.change_summary == "changed input; added count"
    resource, v3 = version_rollback(resource=resource, version=1, user=user)
    assert (v3.version, v3.change_type, v3.code) == (3, "rollback", fragment("a", input="v1"))
    assert v3.checksum == ResourceCodeVersion.objects.get(resource=resource, version=1).checksum
    assert list(version_list(resource=resource).values_list("version", "is_latest")) == [
        (3, True), (2, False), (1, False)]

    comparison = version_compare(resource=resource, from_version=1, to_version=2)
    assert comparison.diff.added == 2 and comparison.diff.removed == 1
    removed = [row.text for row in comparison.diff.unified if row.kind == "del"]
    added = [row.text for row in comparison.diff.unified if row.kind == "ins"]
    assert removed == ['        "input": "v1"'] and added == ['        "count": 2,', '        "input": "v2"']
    assert version_compare(resource=resource, from_version=1, to_version=3).diff.identical


def test_unchanged_code_makes_no_version_and_rollback_to_current_content_is_a_no_op(make_resource):
    resource = make_resource("a", input="v1")
    resource, version = resource_update(resource=resource, code=fragment("a", input="v1"), description="about a")
    assert version is None and resource.description == "about a"
    assert version_rollback(resource=resource, version=1)[1] is None
    assert resource.versions.count() == 1


def test_update_cannot_change_the_address_and_unknown_versions_are_404(make_resource):
    resource = make_resource("a")
    with pytest.raises(InvalidCode, match="address of a resource cannot change"):
        resource_update(resource=resource, code=fragment("b"))
    with pytest.raises(NotFound):
        version_rollback(resource=resource, version=9)
    with pytest.raises(NotFound):
        version_compare(resource=resource, from_version=1, to_version=9)


def test_soft_delete_and_restore_keep_history(workspace, make_resource):
    resource = make_resource("a")
    resource = resource_delete(resource=resource)
    assert not resource.is_active and resource.deleted_at is not None
    assert resource.current_version.change_type == "delete"
    with pytest.raises(Conflict, match="restore it"):
        resource_update(resource=resource, code=fragment("a", input="x"))
    with pytest.raises(Conflict):
        resource_delete(resource=resource)
    assert [r.resource_id for r in resource_list(workspace=workspace, status="deleted")] == ["terraform_data.a"]
    assert not resource_list(workspace=workspace).exists()
    resource = resource_restore(resource=resource)
    assert resource.is_active and resource.deleted_at is None
    assert list(resource.versions.order_by("version").values_list("change_type", flat=True)) == [
        "create", "delete", "restore"]


def test_list_filters_search_sort_and_bad_choices(workspace, make_resource):
    from resources.services import resource_update

    make_resource("alpha")
    b = make_resource("beta")
    resource_update(resource=b, code=fragment("beta", input="2"), tags=["edge"])
    make_resource("gamma", rtype="null_resource")
    assert [r.name for r in resource_list(workspace=workspace, search="ET")] == ["beta"]
    assert [r.name for r in resource_list(workspace=workspace, search="edge")] == ["beta"]
    assert [r.name for r in resource_list(workspace=workspace, sort="-address")] == ["beta", "alpha", "gamma"]
    assert [r.name for r in resource_list(workspace=workspace, sort="version")][0] == "beta"
    for bad in ({"status": "gone"}, {"sort": "size"}, {"kind": "thing"}):
        with pytest.raises(DomainError):
            resource_list(workspace=workspace, **bad)


def test_another_workspaces_resource_is_not_found(workspace, make_resource):
    from workspaces.models import Workspace

    other = Workspace.objects.create(name="other")
    resource = make_resource("a", ws=other)
    with pytest.raises(NotFound):
        resource_get(workspace=workspace, pk=resource.pk)


def test_database_refuses_two_latest_versions_and_mismatched_addresses(workspace, make_resource):
    from django.db import IntegrityError, transaction

    resource = make_resource("a")
    with pytest.raises(IntegrityError), transaction.atomic():
        ResourceCodeVersion.objects.create(resource=resource, version=2, code={}, checksum="x", change_type="update")
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkspaceResource.objects.create(workspace=workspace, resource_id="terraform_data.zzz", kind="resource",
                                         resource_type="terraform_data", name="other")
