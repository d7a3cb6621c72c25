"""main.tf.json from the managed resources: same-type merge, conflicts, depends_on, determinism."""

import json

import pytest

from iacplatform.errors import Conflict, DomainError
from resources.aggregation import aggregate_main_tf, resource_version_map
from resources.services import dependencies_set, resource_create, resource_delete, resource_update
from tests.conftest import run_terraform
from tests.resources.conftest import fragment
from workspaces.code.services import code_version_save

pytestmark = pytest.mark.django_db


def test_no_active_resources_means_none(workspace, make_resource):
    assert aggregate_main_tf(workspace) is None
    resource_delete(resource=make_resource("a"))
    assert aggregate_main_tf(workspace) is None
    assert resource_version_map(workspace) == {}


def test_resources_of_the_same_type_all_survive(workspace, make_resource):
    make_resource("a", input="1")
    make_resource("b", input="2")
    make_resource("net", rtype="terraform_remote_state")
    doc = aggregate_main_tf(workspace)
    assert doc["resource"]["terraform_data"] == {"a": {"input": "1"}, "b": {"input": "2"}}
    assert "net" in doc["resource"]["terraform_remote_state"]


def test_json_code_is_merged_and_a_true_conflict_names_both(workspace, make_resource):
    code_version_save(workspace=workspace, code=json.dumps({
        "variable": {"who": {"type": "string", "default": "me"}},
        "output": {"a": {"value": "${terraform_data.a.output}"}},
        "resource": [{"terraform_data": {"from_code": {"input": "${var.who}"}}}],
    }))
    make_resource("a", input="1")
    doc = aggregate_main_tf(workspace)
    assert doc["variable"] == {"who": {"type": "string", "default": "me"}}
    assert set(doc["resource"]["terraform_data"]) == {"a", "from_code"}

    code_version_save(workspace=workspace, code=json.dumps({"resource": {"terraform_data": {"a": {"input": 0}}}}))
    with pytest.raises(Conflict) as exc:
        aggregate_main_tf(workspace)
    assert "terraform_data.a is defined twice" in exc.value.message
    assert "the workspace code (version 2)" in exc.value.message and "resource terraform_data.a (version 1)" in exc.value.message


def test_hcl_code_is_left_to_the_executor_and_broken_json_code_is_named(workspace, make_resource):
    make_resource("a")
    code_version_save(workspace=workspace, code='variable "x" {}\n', code_format="hcl")
    assert set(aggregate_main_tf(workspace)) == {"resource"}
    code_version_save(workspace=workspace, code="{broken", code_format="json")
    with pytest.raises(DomainError, match="workspace code \\(version 2\\)"):
        aggregate_main_tf(workspace)


def test_dependencies_become_depends_on_next_to_the_codes_own(workspace, make_resource):
    a = make_resource("a")
    b = make_resource("b", depends_on=["terraform_data.a"])
    c = make_resource("c")
    web = resource_create(workspace=workspace, code={"module": {"web": {"source": "./modules/web"}}})
    dependencies_set(resource=b, depends_on=[a.pk, c.pk])
    dependencies_set(resource=web, depends_on=["terraform_data.c"])
    doc = aggregate_main_tf(workspace)
    assert doc["resource"]["terraform_data"]["b"]["depends_on"] == ["terraform_data.a", "terraform_data.c"]
    assert doc["module"]["web"]["depends_on"] == ["terraform_data.c"]
    assert "depends_on" not in doc["resource"]["terraform_data"]["a"]
    # Edges to a deleted resource are left out with it; the code's own depends_on stays as written.
    resource_delete(resource=c)
    doc = aggregate_main_tf(workspace)
    assert doc["resource"]["terraform_data"]["b"]["depends_on"] == ["terraform_data.a"]
    assert "depends_on" not in doc["module"]["web"]


def test_output_is_deterministic(workspace, make_resource):
    make_resource("z", input={"b": 1, "a": 2})
    make_resource("a", input="x")
    first = json.dumps(aggregate_main_tf(workspace))
    assert first == json.dumps(aggregate_main_tf(workspace))
    assert list(json.loads(first)["resource"]["terraform_data"]) == ["a", "z"]
    assert list(json.loads(first)["resource"]["terraform_data"]["z"]["input"]) == ["a", "b"]


def test_version_map_follows_updates(workspace, make_resource):
    a = make_resource("a")
    make_resource("b")
    assert resource_version_map(workspace) == {"terraform_data.a": 1, "terraform_data.b": 1}
    resource_update(resource=a, code=fragment("a", input="2"))
    assert resource_version_map(workspace) == {"terraform_data.a": 2, "terraform_data.b": 1}


def test_two_resources_of_one_type_and_a_dependency_reach_the_plan(workspace, make_resource, tmp_path):
    a = make_resource("a", input="first")
    b = make_resource("b", input="second")
    dependencies_set(resource=b, depends_on=[a.pk])
    (tmp_path / "main.tf.json").write_text(json.dumps(aggregate_main_tf(workspace)))
    assert run_terraform(["init", "-input=false", "-no-color"], tmp_path).returncode == 0
    plan = run_terraform(["plan", "-input=false", "-no-color", "-out=plan.tfplan"], tmp_path)
    assert plan.returncode == 0, plan.stderr
    shown = json.loads(run_terraform(["show", "-json", "plan.tfplan"], tmp_path).stdout)
    planned = {r["address"]: r["change"]["actions"] for r in shown["resource_changes"]}
    assert planned == {"terraform_data.a": ["create"], "terraform_data.b": ["create"]}
    config = shown["configuration"]["root_module"]["resources"]
    assert [r.get("depends_on") for r in config if r["address"] == "terraform_data.b"] == [["terraform_data.a"]]
