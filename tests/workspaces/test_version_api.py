"""JSON API of code and state versions: success, 404 across workspaces, 4xx with a reason."""

import json
import logging

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from executions.models import WorkspaceTask
from tests.workspaces import version_helpers as vh
from workspaces.code import services as code_services
from workspaces.models import Role, StateVersion, Workspace, WorkspaceCodeVersion, WorkspaceMember
from workspaces.state import services as state_services
from workspaces.tokens import api_token_create

HCL_V1 = 'resource "terraform_data" "a" {\n  input = "one"\n}\n'
HCL_V2 = 'resource "terraform_data" "a" {\n  input = "two"\n}\n'
BASE = "/api/v1/workspaces"


def _error(response, status):
    assert response.status_code == status, (response.status_code, response.content)
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"]
    return body


@pytest.fixture
def other(db):
    """Another workspace with versions of its own (code 1–3, states 1–3)."""
    ws = Workspace.objects.create(name="other")
    for code in (HCL_V1, HCL_V2, HCL_V1 + "\n"):
        code_services.code_save(workspace=ws, code=code)
    for serial in (1, 2, 3):
        state_services.state_upload(workspace=ws, content=vh.state(serial))
    return ws


@pytest.fixture
def code_versions(workspace, user):
    code_services.code_save(workspace=workspace, code=HCL_V1, message="first", author=user)
    code_services.code_save(workspace=workspace, code=HCL_V2, message="second", author=user)
    return workspace


@pytest.fixture
def states(workspace):
    first, second = vh.two_states()
    state_services.state_upload(workspace=workspace, content=first)
    state_services.state_upload(workspace=workspace, content=second)
    return workspace


# --- code versions ----------------------------------------------------------------------
def test_save_code_created_unchanged_invalid(auth_client, workspace):
    url = f"{BASE}/demo/code-versions"
    response = auth_client.post(url, {"code": HCL_V1, "message": "first"}, content_type="application/json")
    assert response.status_code == 201
    body = response.json()
    assert body["created"] and body["version"]["number"] == 1 and body["version"]["current"]
    assert body["version"]["code_format"] == "hcl" and body["version"]["author"] == "operator"
    response = auth_client.post(url, {"code": HCL_V1}, content_type="application/json")
    assert response.status_code == 200 and response.json()["created"] is False
    body = _error(auth_client.post(url, {"code": '{\n  "resource": [,]\n}'}, content_type="application/json"), 400)
    assert "line 2, column" in body["detail"] and body["errors"]["code"]
    _error(auth_client.post(url, {"code": HCL_V2, "code_format": "yaml"}, content_type="application/json"), 400)
    _error(auth_client.post(url, {"message": "no code"}, content_type="application/json"), 422)
    assert WorkspaceCodeVersion.objects.filter(workspace=workspace).count() == 1


def test_list_and_get_code_versions(auth_client, code_versions, other):
    WorkspaceTask.objects.create(workspace=code_versions, task_type="plan", status="failed",
                                 code_version=code_versions.code_versions.get(number=1))
    response = auth_client.get(f"{BASE}/demo/code-versions")
    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 2 and [v["number"] for v in body["items"]] == [2, 1]
    assert "code" not in body["items"][0]
    assert body["items"][0]["current"] and not body["items"][1]["current"]
    assert body["items"][1]["run_count"] == 1 and len(body["items"][1]["recent_runs"]) == 1
    page = auth_client.get(f"{BASE}/demo/code-versions?limit=1&offset=1").json()
    assert page["count"] == 2 and [v["number"] for v in page["items"]] == [1]
    _error(auth_client.get(f"{BASE}/demo/code-versions?limit=0"), 400)
    response = auth_client.get(f"{BASE}/demo/code-versions/1")
    assert response.status_code == 200 and response.json()["code"] == HCL_V1 and response.json()["message"] == "first"


def test_code_version_404_and_400(auth_client, code_versions, other):
    _error(auth_client.get(f"{BASE}/demo/code-versions/3"), 404)  # exists only in "other"
    _error(auth_client.get(f"{BASE}/missing/code-versions/1"), 404)
    for bad in ("abc", "0", "-2", "1.5"):
        body = _error(auth_client.get(f"{BASE}/demo/code-versions/{bad}"), 400)
        assert "not a valid version number" in body["detail"]
    _error(auth_client.post(f"{BASE}/demo/code-versions/3/rollback"), 404)
    _error(auth_client.post(f"{BASE}/demo/code-versions/x/rollback"), 400)


def test_compare_code_versions(auth_client, code_versions, other):
    response = auth_client.get(f"{BASE}/demo/code-versions/compare?from=1&to=2")
    assert response.status_code == 200
    body = response.json()
    assert (body["from_version"], body["to_version"], body["added"], body["removed"]) == (1, 2, 1, 1)
    changed = [(line["kind"], line["text"]) for line in body["lines"] if line["kind"] in ("ins", "del")]
    assert changed == [("del", '  input = "one"'), ("ins", '  input = "two"')]
    assert not body["identical"] and body["provider_config_lines"] is None
    _error(auth_client.get(f"{BASE}/demo/code-versions/compare?from=1&to=3"), 404)
    _error(auth_client.get(f"{BASE}/demo/code-versions/compare?from=one&to=2"), 400)
    _error(auth_client.get(f"{BASE}/demo/code-versions/compare?to=2"), 422)


def test_rollback_code_version(auth_client, code_versions):
    response = auth_client.post(f"{BASE}/demo/code-versions/1/rollback")
    assert response.status_code == 201
    body = response.json()
    assert body["created"] and body["version"]["number"] == 3 and body["version"]["current"]
    assert auth_client.get(f"{BASE}/demo/code-versions/3").json()["code"] == HCL_V1
    response = auth_client.post(f"{BASE}/demo/code-versions/1/rollback")
    assert response.status_code == 200 and response.json()["created"] is False


def test_token_auth_saves_code_as_the_token_user(client, user, workspace):
    _token, raw = api_token_create(user=user, name="ci")
    response = client.post(f"{BASE}/demo/code-versions", {"code": HCL_V1}, content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 201 and response.json()["version"]["author"] == "operator"
    assert client.get(f"{BASE}/demo/code-versions").status_code == 401


# --- state versions ---------------------------------------------------------------------
def test_list_and_get_state_versions(auth_client, states, other):
    body = auth_client.get(f"{BASE}/demo/state-versions").json()
    assert body["count"] == 2 and [v["serial"] for v in body["items"]] == [2, 1]
    assert body["items"][0]["current"] and body["items"][0]["source"] == "upload"
    assert "content" not in body["items"][0]
    response = auth_client.get(f"{BASE}/demo/state-versions/1")
    assert response.status_code == 200
    detail = response.json()
    assert [r["address"] for r in detail["resources"]] == [
        "terraform_data.changed", "terraform_data.keep", "terraform_data.removed"]
    assert {o["name"]: o["value"] for o in detail["outputs"]} == {"plain": "p1", "token": "(sensitive)"}
    assert vh.SECRET not in response.content.decode()
    _error(auth_client.get(f"{BASE}/demo/state-versions/3"), 404)  # exists only in "other"
    _error(auth_client.get(f"{BASE}/demo/state-versions/abc"), 400)
    _error(auth_client.get(f"{BASE}/demo/state-versions/-1"), 400)


def test_compare_state_versions(auth_client, states, other):
    response = auth_client.get(f"{BASE}/demo/state-versions/compare?from=1&to=2")
    assert response.status_code == 200
    body = response.json()
    assert body["summary"] == {"added": 2, "changed": 1, "removed": 1, "unchanged": 1}
    by_address = {r["address"]: r for r in body["resources"]}
    assert by_address["terraform_data.removed"]["action"] == "removed"
    assert by_address["terraform_data.added[0]"]["action"] == "added"
    attributes = {a["name"]: a for a in by_address["terraform_data.changed"]["attributes"]}
    assert attributes["input.name"]["before"] == "one" and attributes["input.name"]["after"] == "two"
    assert attributes["input.password"] == {"name": "input.password", "before": "(sensitive)",
                                            "after": "(sensitive)", "sensitive": True,
                                            "before_absent": False, "after_absent": False}
    assert vh.SECRET not in response.content.decode()
    outputs = {o["name"]: o for o in body["outputs"]}
    assert outputs["token"]["after"] == "(sensitive)" and outputs["plain"]["after"] == "p2"
    _error(auth_client.get(f"{BASE}/demo/state-versions/compare?from=1&to=3"), 404)
    _error(auth_client.get(f"{BASE}/demo/state-versions/compare?from=1&to=two"), 400)


def test_download_state_version(auth_client, client, states, other, user, member, caplog):
    url = f"{BASE}/demo/state-versions/1/download"
    planner = member(states, Role.APPLIER, username="applier")
    client.force_login(planner)
    _error(client.get(url), 403)  # the raw state holds every secret: below admin, refused
    WorkspaceMember.objects.filter(user=planner).update(role=Role.ADMIN)
    with caplog.at_level(logging.INFO, logger="workspaces.state"):
        response = client.get(url)
    assert response.status_code == 200 and response["Content-Type"] == "application/json"
    assert json.loads(response.content)["serial"] == 1
    assert "state download user=applier workspace=demo serial=1" in caplog.text
    _error(auth_client.get(f"{BASE}/demo/state-versions/3/download"), 404)
    _error(auth_client.get(f"{BASE}/demo/state-versions/x/download"), 400)


def test_rollback_state_version(auth_client, states, other):
    response = auth_client.post(f"{BASE}/demo/state-versions/1/rollback")
    assert response.status_code == 201
    body = response.json()
    assert body["serial"] == 3 and body["source"] == "rollback" and body["current"]
    assert body["lineage"] == vh.LINEAGE
    _error(auth_client.post(f"{BASE}/demo/state-versions/3/rollback"), 409)  # already current
    _error(auth_client.post(f"{BASE}/demo/state-versions/7/rollback"), 404)
    _error(auth_client.post(f"{BASE}/demo/state-versions/zz/rollback"), 400)
    WorkspaceTask.objects.create(workspace=states, task_type="plan", status="running")
    body = _error(auth_client.post(f"{BASE}/demo/state-versions/1/rollback"), 409)
    assert "is running" in body["detail"]


def test_upload_state_multipart_json_and_raw(auth_client, workspace):
    url = f"{BASE}/demo/state-versions/upload"
    first, second = vh.two_states()
    response = auth_client.post(url, {"file": SimpleUploadedFile("terraform.tfstate", first.encode())})
    assert response.status_code == 201 and response.json()["serial"] == 1
    response = auth_client.post(url, {"state": json.loads(second)}, content_type="application/json")
    assert response.status_code == 201 and response.json()["serial"] == 2
    raw = vh.state(3, [vh.resource("z", [vh.instance("z")])])
    response = auth_client.post(url, raw, content_type="application/json")
    assert response.status_code == 201 and response.json()["serial"] == 3 and response.json()["resource_count"] == 1
    assert StateVersion.objects.get(workspace=workspace, serial=3).content == raw


def test_upload_conflicts_and_force(auth_client, workspace):
    url = f"{BASE}/demo/state-versions/upload"
    state_services.state_upload(workspace=workspace, content=vh.state(4))
    foreign = vh.state(2, lineage=vh.OTHER_LINEAGE)
    body = _error(auth_client.post(url, {"file": SimpleUploadedFile("t.tfstate", foreign.encode())}), 409)
    assert "Lineage" in body["detail"]
    body = _error(auth_client.post(url, vh.state(3), content_type="application/json"), 409)
    assert "not newer" in body["detail"]
    response = auth_client.post(url, {"file": SimpleUploadedFile("t.tfstate", foreign.encode()), "force": "true"})
    assert response.status_code == 201 and response.json()["serial"] == 5
    response = auth_client.post(url + "?force=true", vh.state(1), content_type="application/json")
    assert response.status_code == 201 and response.json()["serial"] == 6
    response = auth_client.post(url, {"state": vh.state(2), "force": True}, content_type="application/json")
    assert response.status_code == 201 and response.json()["serial"] == 7


@pytest.mark.parametrize("kwargs, status, words", [
    ({"data": "{not json", "content_type": "application/json"}, 400, "not valid JSON"),
    ({"data": "", "content_type": "application/json"}, 400, "no body"),
    ({"data": {"state": {"version": 4, "serial": 1}}, "content_type": "application/json"}, 400, "lineage"),
    ({"data": {"state": {"version": 2}}, "content_type": "application/json"}, 400, "format version"),
    ({"data": {"state": vh.state(9), "force": "maybe"}, "content_type": "application/json"}, 400, "force"),
    ({"data": {"nofile": "x"}}, 400, "'file'"),
    ({"data": {"file": SimpleUploadedFile("t", b"\x00\xff")}}, 400, "UTF-8"),
])
def test_malformed_upload_is_refused_and_changes_nothing(auth_client, workspace, kwargs, status, words):
    state_services.state_upload(workspace=workspace, content=vh.state(1))
    body = _error(auth_client.post(f"{BASE}/demo/state-versions/upload", **kwargs), status)
    assert words in body["detail"]
    assert StateVersion.objects.filter(workspace=workspace).count() == 1


def test_upload_too_large_is_refused(auth_client, workspace, settings):
    settings.IAC_STATE_UPLOAD_MAX_BYTES = 100
    body = _error(auth_client.post(f"{BASE}/demo/state-versions/upload", vh.state(1),
                                   content_type="application/json"), 413)
    assert "larger than" in body["detail"]
    assert not StateVersion.objects.exists()


def test_upload_to_another_workspace_name_is_404(auth_client, db):
    _error(auth_client.post(f"{BASE}/missing/state-versions/upload", vh.state(1), content_type="application/json"), 404)


def test_openapi_documents_the_version_endpoints(auth_client, db):
    paths = auth_client.get("/api/v1/openapi.json").json()["paths"]
    for path in ("/api/v1/workspaces/{name}/code-versions", "/api/v1/workspaces/{name}/code-versions/compare",
                 "/api/v1/workspaces/{name}/code-versions/{number}",
                 "/api/v1/workspaces/{name}/code-versions/{number}/rollback",
                 "/api/v1/workspaces/{name}/state-versions", "/api/v1/workspaces/{name}/state-versions/{serial}",
                 "/api/v1/workspaces/{name}/state-versions/{serial}/download",
                 "/api/v1/workspaces/{name}/state-versions/compare",
                 "/api/v1/workspaces/{name}/state-versions/{serial}/rollback",
                 "/api/v1/workspaces/{name}/state-versions/upload"):
        assert path in paths, path
    upload = paths["/api/v1/workspaces/{name}/state-versions/upload"]["post"]
    assert set(upload["requestBody"]["content"]) == {"multipart/form-data", "application/json"}
