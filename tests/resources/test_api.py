"""The resources JSON API: every endpoint answers success, 404 for another workspace's ids,
and 4xx with a reason for bad input — always in the common error shape."""

import json

import pytest

from executions.models import WorkspaceTask
from resources.models import ResourceDependency, WorkspaceResource, WorkspaceResourcesSnapshot
from resources.services import resource_update, snapshot_create
from tests.resources.conftest import fragment
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db
API = "/api/v1/workspaces/demo"


@pytest.fixture
def api(auth_client):
    class Api:
        def get(self, url, **params):
            return auth_client.get(API + url, params)

        def send(self, method, url, body=None):
            return getattr(auth_client, method)(API + url, data=json.dumps(body) if body is not None else None,
                                                content_type="application/json")

    return Api()


@pytest.fixture
def foreign(make_resource):
    """A resource and a snapshot of another workspace: their ids must be 404 under demo."""
    other = Workspace.objects.create(name="other")
    resource = make_resource("f", ws=other)
    return resource, snapshot_create(workspace=other, name="theirs")


def _error(response, status, fragment_of_detail=""):
    assert response.status_code == status, response.content
    body = response.json()
    assert set(body) == {"detail", "errors"} and fragment_of_detail in body["detail"]
    return body


# --- resources ------------------------------------------------------------------------------
def test_create_get_update_delete_restore(api, workspace, user):
    response = api.send("post", "/resources", {"code": fragment("a", input="1"), "tags": ["web"]})
    assert response.status_code == 201
    created = response.json()
    assert (created["resource_id"], created["version"], created["code"], created["tags"]) == (
        "terraform_data.a", 1, fragment("a", input="1"), ["web"])
    pk = created["id"]
    assert api.get(f"/resources/{pk}").json()["change_type"] == "create"

    response = api.send("put", f"/resources/{pk}", {"code": fragment("a", input="2")})
    assert response.status_code == 200 and response.json()["version_created"] is True
    assert response.json()["resource"]["version"] == 2
    response = api.send("put", f"/resources/{pk}", {"code": fragment("a", input="2"), "description": "d"})
    assert response.json()["version_created"] is False and response.json()["resource"]["description"] == "d"

    response = api.send("delete", f"/resources/{pk}")
    assert response.status_code == 200 and response.json()["is_active"] is False
    assert api.get("/resources").json()["count"] == 0
    assert api.get("/resources", status="deleted").json()["items"][0]["id"] == pk
    assert api.send("post", f"/resources/{pk}/restore").json()["is_active"] is True
    assert WorkspaceResource.objects.get(pk=pk).created_by == user


def test_code_may_be_one_hcl_block(api, workspace):
    response = api.send("post", "/resources", {"code": 'module "web" {\n  source = "./modules/web"\n}\n'})
    assert response.status_code == 201 and response.json()["code"] == {"module": {"web": {"source": "./modules/web"}}}
    body = _error(api.send("post", "/resources", {"code": 'module "web" {\n  source = \n}\n'}), 400, "code, line 2")
    assert "code" in body["errors"]


def test_list_search_sort_page_and_get_by_ids(api, make_resource):
    a, b, c = make_resource("a"), make_resource("b"), make_resource("c", rtype="other_type")
    body = api.get("/resources", sort="-address", limit=2).json()
    assert body["count"] == 3 and [i["name"] for i in body["items"]] == ["b", "a"]
    assert [i["name"] for i in api.get("/resources", search="other").json()["items"]] == ["c"]
    assert "code" not in body["items"][0]
    body = api.get("/resources", ids=f"{c.pk},{a.pk}").json()
    assert sorted(i["id"] for i in body["items"]) == sorted([a.pk, c.pk])


def test_resource_bad_input(api, make_resource, foreign):
    a = make_resource("a")
    _error(api.send("post", "/resources", {"code": {"variable": {"x": {}}}}), 400, "workspace's code")
    body = _error(api.send("post", "/resources", {"code": "{oops"}), 400, "not valid JSON")
    assert "code" in body["errors"]
    _error(api.send("post", "/resources", {"code": fragment("a")}), 409, "already exists")
    _error(api.send("post", "/resources", {}), 422)
    _error(api.send("put", f"/resources/{a.pk}", {"code": fragment("zzz")}), 400, "cannot change")
    _error(api.send("put", f"/resources/{a.pk}", {"tags": ["x" * 60]}), 400, "longer than")
    _error(api.get("/resources", status="gone"), 400, "Unknown status")
    _error(api.get("/resources", limit=0), 400, "limit")
    _error(api.get("/resources", ids="1,x"), 400, "not a valid resource id")
    _error(api.get("/resources/abc"), 400, "not a valid resource id")
    _error(api.get("/resources/99999"), 404, "No resource #99999")
    _error(api.send("post", f"/resources/{a.pk}/restore"), 409, "not deleted")
    _error(api.get("/resources/0"), 400, "not a valid resource id")


def test_another_workspaces_resource_is_404_everywhere(api, foreign, make_resource):
    resource, snapshot = foreign
    pk = resource.pk
    _error(api.get(f"/resources/{pk}"), 404, f"No resource #{pk} in workspace demo")
    _error(api.send("put", f"/resources/{pk}", {"description": "x"}), 404)
    _error(api.send("delete", f"/resources/{pk}"), 404)
    _error(api.send("post", f"/resources/{pk}/restore"), 404)
    _error(api.get(f"/resources/{pk}/versions"), 404)
    _error(api.get(f"/resources/{pk}/versions/1"), 404)
    _error(api.get(f"/resources/{pk}/versions/compare", **{"from": 1, "to": 1}), 404)
    _error(api.send("post", f"/resources/{pk}/versions/1/rollback"), 404)
    _error(api.get(f"/resources/{pk}/dependencies"), 404)
    _error(api.send("put", f"/resources/{pk}/dependencies", {"depends_on": []}), 404)
    _error(api.get("/resources", ids=str(pk)), 404, str(pk))
    _error(api.send("post", "/resources/deploy", {"resource_ids": [pk]}), 404, f"No resource with id {pk}")
    mine = make_resource("mine")
    _error(api.send("put", f"/resources/{mine.pk}/dependencies", {"depends_on": [pk]}), 404, str(pk))
    _error(api.get(f"/snapshots/{snapshot.pk}"), 404)
    _error(api.send("post", f"/snapshots/{snapshot.pk}/restore"), 404)
    _error(api.send("delete", f"/snapshots/{snapshot.pk}"), 404)
    assert WorkspaceResource.objects.get(pk=pk).is_active and WorkspaceResourcesSnapshot.objects.count() == 1


def test_unknown_workspace_is_404(auth_client):
    response = auth_client.get("/api/v1/workspaces/missing/resources")
    _error(response, 404)


# --- versions -------------------------------------------------------------------------------
def test_versions_list_get_compare_rollback(api, make_resource):
    a = make_resource("a", input="1")
    resource_update(resource=a, code=fragment("a", input="2"))
    versions = api.get(f"/resources/{a.pk}/versions").json()
    assert [(v["version"], v["change_type"], v["is_latest"]) for v in versions] == [
        (2, "update", True), (1, "create", False)]
    assert api.get(f"/resources/{a.pk}/versions/1").json()["code"] == fragment("a", input="1")
    body = api.get(f"/resources/{a.pk}/versions/compare", **{"from": 1, "to": 2}).json()
    assert (body["added"], body["removed"], body["identical"]) == (1, 1, False)
    assert {"kind": "del", "old": 5, "new": None, "text": '        "input": "1"', "count": None} in body["lines"]
    response = api.send("post", f"/resources/{a.pk}/versions/1/rollback")
    assert response.status_code == 201 and response.json()["resource"]["version"] == 3
    assert response.json()["resource"]["code"] == fragment("a", input="1")
    response = api.send("post", f"/resources/{a.pk}/versions/3/rollback")
    assert response.status_code == 200 and response.json()["version_created"] is False


def test_versions_bad_input(api, make_resource):
    a = make_resource("a")
    _error(api.get(f"/resources/{a.pk}/versions/0"), 400, "not a valid version number")
    _error(api.get(f"/resources/{a.pk}/versions/x"), 400)
    _error(api.get(f"/resources/{a.pk}/versions/7"), 404, "has no version 7")
    _error(api.get(f"/resources/{a.pk}/versions/compare", **{"from": "a", "to": 1}), 400, "not a valid")
    _error(api.get(f"/resources/{a.pk}/versions/compare", to=1), 422)
    _error(api.send("post", f"/resources/{a.pk}/versions/9/rollback"), 404)


# --- snapshots ------------------------------------------------------------------------------
def test_snapshots_create_list_get_restore_delete(api, make_resource):
    a = make_resource("a", input="1")
    response = api.send("post", "/snapshots", {"name": "v1", "description": "first"})
    assert response.status_code == 201
    snap = response.json()
    assert snap["resource_versions"] == {"terraform_data.a": 1} and snap["resource_count"] == 1
    resource_update(resource=a, code=fragment("a", input="2"))
    make_resource("b")
    detail = api.get(f"/snapshots/{snap['id']}").json()
    assert detail["restorable"] is True
    assert {c["address"]: c["action"] for c in detail["changes"]} == {
        "terraform_data.a": "update", "terraform_data.b": "deactivate"}
    assert [s["name"] for s in api.get("/snapshots").json()] == ["v1"]
    body = api.send("post", f"/snapshots/{snap['id']}/restore").json()
    assert {c["address"]: c["action"] for c in body["changes"]} == {
        "terraform_data.a": "update", "terraform_data.b": "deactivate"}
    assert api.get("/resources").json()["count"] == 1
    assert api.send("delete", f"/snapshots/{snap['id']}").status_code == 204
    assert api.get("/snapshots").json() == []


def test_snapshots_bad_input(api, make_resource):
    make_resource("a")
    snap = api.send("post", "/snapshots", {"name": "v1"}).json()
    _error(api.send("post", "/snapshots", {"name": "v1"}), 409, "already exists")
    _error(api.send("post", "/snapshots", {"name": " "}), 400, "needs a name")
    _error(api.send("post", "/snapshots", {}), 422)
    _error(api.get("/snapshots/nope"), 400, "not a valid snapshot id")
    _error(api.get("/snapshots/424242"), 404)
    WorkspaceResourcesSnapshot.objects.filter(pk=snap["id"]).update(resource_versions={"terraform_data.a": 5})
    detail = api.get(f"/snapshots/{snap['id']}").json()
    assert detail["restorable"] is False and "has no version 5" in detail["problem"]
    _error(api.send("post", f"/snapshots/{snap['id']}/restore"), 409, "Nothing was changed")


# --- dependencies ---------------------------------------------------------------------------
def test_dependencies_get_and_set(api, make_resource):
    a, b = make_resource("a"), make_resource("b")
    body = api.send("put", f"/resources/{b.pk}/dependencies", {"depends_on": [a.pk]}).json()
    assert [r["resource_id"] for r in body["depends_on"]] == ["terraform_data.a"]
    body = api.get(f"/resources/{a.pk}/dependencies").json()
    assert body == {"depends_on": [], "depended_by": [{"id": b.pk, "resource_id": "terraform_data.b",
                                                       "is_active": True}], "declared_in_code": []}
    body = _error(api.send("put", f"/resources/{a.pk}/dependencies", {"depends_on": ["terraform_data.b"]}), 400,
                  "terraform_data.a → terraform_data.b → terraform_data.a")
    assert "depends_on" in body["errors"]
    _error(api.send("put", f"/resources/{a.pk}/dependencies", {"depends_on": "x"}), 422)
    _error(api.send("put", f"/resources/{a.pk}/dependencies", {"depends_on": ["terraform_data.none"]}), 404)
    assert ResourceDependency.objects.count() == 1


# --- import and deploy ----------------------------------------------------------------------
HCL = 'resource "terraform_data" "a" {\n  input = "a"\n}\nvariable "v" {\n  default = 1\n}\n'


def test_import_reports_and_refuses(api, workspace):
    response = api.send("post", "/resources/import", {"files": [{"name": "main.tf", "content": HCL}]})
    assert response.status_code == 200
    assert response.json()["created"] == ["terraform_data.a"] and response.json()["code_added"] == ["variable.v"]
    changed = HCL.replace('"a"\n}', '"A"\n}')
    body = _error(api.send("post", "/resources/import", {"files": [{"name": "main.tf", "content": changed}]}),
                  409, "terraform_data.a")
    assert body["errors"] == {"duplicates": ["terraform_data.a"]}
    response = api.send("post", "/resources/import", {"files": [{"name": "main.tf", "content": changed}],
                                                      "on_duplicate": "new_version"})
    assert response.json()["updated"] == ["terraform_data.a"]
    body = _error(api.send("post", "/resources/import", {"files": [{"name": "x.tf", "content": "resource {"}]}),
                  400, "x.tf, line 1")
    assert "x.tf" in body["errors"]
    _error(api.send("post", "/resources/import", {"files": [{"name": "x.tf", "content": HCL}] * 2}), 400, "twice")
    _error(api.send("post", "/resources/import", {"files": [], "on_duplicate": "merge"}), 422)
    _error(api.send("post", "/resources/import", {"files": []}), 400, "Nothing to import")


def test_deploy_queues_a_targeted_plan(api, make_resource, workspace):
    a, b = make_resource("a"), make_resource("b")
    response = api.send("post", "/resources/deploy", {"resource_ids": [b.pk, a.pk], "kind": "plan_and_apply"})
    assert response.status_code == 201
    body = response.json()
    assert body["targets"] == ["terraform_data.a", "terraform_data.b"] and body["task_type"] == "plan_and_apply"
    assert WorkspaceTask.objects.get(pk=body["task_id"]).targets == body["targets"]
    _error(api.send("post", "/resources/deploy", {"resource_ids": []}), 400, "at least one")
    _error(api.send("post", "/resources/deploy", {"resource_ids": [a.pk], "kind": "destroy"}), 422)
    _error(api.send("post", "/resources/deploy", {"resource_ids": ["x"]}), 400, "not a resource id")
    from workspaces.services import workspace_lock

    workspace_lock(workspace=workspace, reason="frozen")
    _error(api.send("post", "/resources/deploy", {"resource_ids": [a.pk]}), 423, "frozen")
    assert WorkspaceTask.objects.count() == 1


def test_token_clients_use_it_too(client, user, make_resource):
    from workspaces.tokens import api_token_create

    make_resource("a")
    _, raw = api_token_create(user=user, name="ci")
    response = client.get(f"{API}/resources", HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 200 and response.json()["count"] == 1
    _error(client.get(f"{API}/resources"), 401)
