"""Issue 12: bad input to the API is a 4xx in the common error shape, never a 500.

The NUL and null-body checks are one middleware (``iacplatform.middleware.ApiInputMiddleware``);
types and ranges are each operation's schema; the statuses an operation can answer are in the
OpenAPI document (``iacplatform.errors.document_errors``).
"""

import json

import pytest
from django.test import Client

from executions.models import WorkspaceTask
from iacplatform.api import api
from workspaces.code.services import code_version_save
from workspaces.models import Workspace
from workspaces.tokens import api_token_create


@pytest.fixture
def token_client(db, django_user_model):
    admin = django_user_model.objects.create_user(username="root", password="pw-root-123", is_superuser=True)
    _, raw = api_token_create(user=admin, name="tests")
    return Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")


@pytest.fixture
def ws(db):
    ws = Workspace.objects.create(name="demo")
    code_version_save(workspace=ws, code='{"resource": {"terraform_data": {"a": {}}}}', code_format="json")
    return ws


def assert_error(response, status=400):
    assert response.status_code == status, response.content[:300]
    body = response.json()
    assert set(body) == {"detail", "errors"} and body["detail"]
    return body


@pytest.mark.parametrize("path", [
    "/api/v1/workspaces/de%00mo",
    "/api/v1/workspaces/demo/variables/1%00",
    "/api/v1/workspaces/demo/code-versions/%00",
    "/api/v1/tasks/1%00/logs",
])
def test_nul_in_the_path_is_a_400(token_client, ws, path):
    assert_error(token_client.get(path))


@pytest.mark.parametrize("query", ["search=a%00b", "a%00=1", "status=all%00"])
def test_nul_in_the_query_is_a_400(token_client, ws, query):
    assert_error(token_client.get(f"/api/v1/workspaces?{query}"))
    assert_error(token_client.get(f"/api/v1/workspaces/demo/runs?{query}"))


@pytest.mark.parametrize("body", [
    {"name": "a\x00b"},
    {"name": "ok", "description": "x\x00"},
    {"name\x00": "ok"},
    {"name": "ok", "nested": [{"deep": "\x00"}]},
])
def test_nul_in_a_json_body_is_a_400(token_client, db, body):
    assert_error(token_client.post("/api/v1/workspaces", json.dumps(body), content_type="application/json"))
    assert not Workspace.objects.exists()


def test_raw_nul_byte_and_form_fields(token_client, ws):
    assert_error(token_client.post("/api/v1/workspaces", b'{"name": "a\x00"}', content_type="application/json"))
    assert_error(token_client.post("/api/v1/workspaces/demo/state-versions/upload",
                                   {"force": "x\x00"}))  # multipart form field


def test_null_body_never_creates_a_run(token_client, ws):
    body = assert_error(token_client.post("/api/v1/workspaces/demo/runs", "null", content_type="application/json"))
    assert "null" in body["detail"]
    assert not WorkspaceTask.objects.exists()
    assert_error(token_client.post("/api/v1/workspaces", "null", content_type="application/json"))


@pytest.mark.parametrize("value", ["³", "٣", "1²", "-1", "1e3", "99999999999999999999999"])
def test_non_ascii_digits_and_bad_numbers_in_numeric_parameters(token_client, ws, value):
    for path in (f"/api/v1/workspaces/demo/resources/{value}", f"/api/v1/workspaces/demo/snapshots/{value}",
                 f"/api/v1/workspaces/demo/resources?offset={value}", f"/api/v1/workspaces/demo/resources?ids={value}",
                 f"/api/v1/tasks/1/logs?after={value}",f"/api/v1/tasks/{value}", f"/api/v1/workspaces/demo/code-versions/{value}",
                 f"/api/v1/workspaces/demo/state-versions/{value}", f"/api/v1/workspaces/demo/variables/{value}",
                 f"/api/v1/workspaces/demo/runs?offset={value}", f"/api/v1/workspaces/demo/runs?limit={value}",
                 f"/api/v1/workspaces/demo/code-versions?offset={value}", f"/api/v1/audit?offset={value}"):
        method = token_client.put if "/variables/" in path else token_client.get
        response = method(path, json.dumps({"value": "x"}), content_type="application/json") \
            if method == token_client.put else method(path)
        assert response.status_code in (400, 404, 422), (path, response.status_code, response.content[:200])
        assert set(response.json()) == {"detail", "errors"}


@pytest.mark.parametrize("query", ["offset=-1", "limit=-5", "limit=0", "offset=10000000000", "limit=100000",
                                   "offset=99999999999999999999999"])
def test_negative_and_huge_paging_is_refused(token_client, ws, query):
    for path in ("/api/v1/workspaces/demo/runs", "/api/v1/workspaces/demo/code-versions",
                 "/api/v1/workspaces/demo/state-versions", "/api/v1/workspaces/demo/resources", "/api/v1/audit"):
        response = token_client.get(f"{path}?{query}")
        assert response.status_code in (400, 422), (path, query, response.status_code)
        assert set(response.json()) == {"detail", "errors"}


def test_oversized_values_are_refused(token_client, ws):
    response = token_client.post("/api/v1/workspaces", json.dumps({"name": "x" * 10_000}),
                                 content_type="application/json")
    assert response.status_code == 422 and "name" in response.json()["errors"]
    response = token_client.get("/api/v1/workspaces/" + "x" * 5_000)
    assert response.status_code == 404
    response = token_client.get(f"/api/v1/tasks/{2**70}")
    assert response.status_code in (404, 422)


def test_every_operation_documents_the_common_errors():
    schema = api.get_openapi_schema()
    assert set(schema["components"]["schemas"]["ErrorOut"]["properties"]) == {"detail", "errors"}
    for path, operations in schema["paths"].items():
        for method, operation in operations.items():
            codes = set(operation["responses"])
            assert all(isinstance(code, int) for code in codes), (method, path, codes)  # no "200" next to 200
            assert {400, 401, 403, 404, 422} <= codes, (method, path, codes)
            if method != "get":
                assert {409, 423} <= codes, (method, path, codes)
            assert operation["responses"][404]["content"]["application/json"]["schema"] == {
                "$ref": "#/components/schemas/ErrorOut"}
    runs = {p["name"]: p["schema"] for p in schema["paths"]["/api/v1/workspaces/{name}/runs"]["get"]["parameters"]}
    assert runs["offset"]["minimum"] == 0 and runs["limit"]["minimum"] == 1
