"""Dependencies between resources form a DAG: set, get, cycles refused with the cycle named."""

import pytest

from iacplatform.errors import Conflict, DomainError, NotFound
from resources.models import ResourceDependency
from resources.selectors import dependencies_get
from resources.services import dependencies_set, resource_delete

pytestmark = pytest.mark.django_db


def test_set_replaces_and_get_shows_both_directions(make_resource):
    a, b, c = make_resource("a"), make_resource("b", depends_on=["terraform_data.x"]), make_resource("c")
    dependencies_set(resource=b, depends_on=[a.pk, "terraform_data.c"])
    deps = dependencies_get(resource=b)
    assert [r.resource_id for r in deps.depends_on] == ["terraform_data.a", "terraform_data.c"]
    assert deps.declared_in_code == ["terraform_data.x"]
    assert [r.resource_id for r in dependencies_get(resource=a).depended_by] == ["terraform_data.b"]
    dependencies_set(resource=b, depends_on=[c.pk])
    assert [r.resource_id for r in dependencies_get(resource=b).depends_on] == ["terraform_data.c"]
    dependencies_set(resource=b, depends_on=[])
    assert not ResourceDependency.objects.exists()


def test_a_cycle_is_refused_and_named(make_resource):
    a, b, c = make_resource("a"), make_resource("b"), make_resource("c")
    dependencies_set(resource=a, depends_on=[b.pk])
    dependencies_set(resource=b, depends_on=[c.pk])
    with pytest.raises(DomainError) as exc:
        dependencies_set(resource=c, depends_on=[a.pk])
    assert "terraform_data.c → terraform_data.a → terraform_data.b → terraform_data.c" in exc.value.message
    assert not ResourceDependency.objects.filter(resource=c).exists()


def test_self_other_workspace_deleted_and_unknown_targets(workspace, make_resource):
    from workspaces.models import Workspace

    a, b = make_resource("a"), make_resource("b")
    foreign = make_resource("f", ws=Workspace.objects.create(name="other"))
    with pytest.raises(DomainError, match="cannot depend on itself"):
        dependencies_set(resource=a, depends_on=[a.pk])
    with pytest.raises(NotFound, match=str(foreign.pk)):
        dependencies_set(resource=a, depends_on=[foreign.pk])
    with pytest.raises(NotFound, match="terraform_data.nope"):
        dependencies_set(resource=a, depends_on=["terraform_data.nope"])
    with pytest.raises(DomainError, match="not a block address"):
        dependencies_set(resource=a, depends_on=["not an address"])
    with pytest.raises(DomainError, match="must be a list"):
        dependencies_set(resource=a, depends_on="terraform_data.b")
    resource_delete(resource=b)
    with pytest.raises(DomainError, match="deleted"):
        dependencies_set(resource=a, depends_on=[b.pk])
    with pytest.raises(Conflict):
        dependencies_set(resource=b, depends_on=[a.pk])
    assert not ResourceDependency.objects.exists()


def test_database_refuses_self_edges_and_duplicates(make_resource):
    from django.db import IntegrityError, transaction

    a, b = make_resource("a"), make_resource("b")
    with pytest.raises(IntegrityError), transaction.atomic():
        ResourceDependency.objects.create(resource=a, depends_on=a)
    ResourceDependency.objects.create(resource=a, depends_on=b)
    with pytest.raises(IntegrityError), transaction.atomic():
        ResourceDependency.objects.create(resource=a, depends_on=b)
