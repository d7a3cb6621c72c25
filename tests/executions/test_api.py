import json

from executions.models import WorkspaceTask
from tests.executions.conftest import tf_json
from workspaces.models import Workspace

Status = WorkspaceTask.Status


def _post(client, url, data=None):
    return client.post(url, data=json.dumps(data or {}), content_type="application/json")


def test_run_lifecycle_over_the_api(auth_client, workspace, save_code, run_now, tmp_path):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    response = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/runs",
                     {"kind": "plan_and_apply", "message": "from api"})
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["status"] == "queued" and body["message"] == "from api" and body["created_by"] == "operator"
    plan = run_now(WorkspaceTask.objects.get(pk=body["id"]))

    detail = auth_client.get(f"/api/v1/tasks/{plan.pk}").json()
    assert detail["status"] == "planned" and detail["change_summary"]["add"] == 1

    logs = auth_client.get(f"/api/v1/tasks/{plan.pk}/logs").json()
    assert logs["complete"] is True and logs["lines"][0]["seq"] == 1
    later = auth_client.get(f"/api/v1/tasks/{plan.pk}/logs?after={logs['last_seq']}").json()
    assert later["lines"] == [] and later["last_seq"] == logs["last_seq"]
    download = auth_client.get(f"/api/v1/tasks/{plan.pk}/logs/download")
    assert download.status_code == 200 and b"terraform plan" in download.content
    assert "attachment" in download["Content-Disposition"]

    listed = auth_client.get(f"/api/v1/workspaces/{workspace.name}/runs?status=attention").json()
    assert [t["id"] for t in listed] == [plan.pk]
    assert auth_client.get(f"/api/v1/workspaces/{workspace.name}/runs?status=errored").json() == []

    response = _post(auth_client, f"/api/v1/tasks/{plan.pk}/confirm", {"comment": "lgtm"})
    assert response.status_code == 201, response.content
    apply = response.json()
    assert apply["task_type"] == "apply" and apply["plan_task_id"] == plan.pk and apply["confirm_comment"] == "lgtm"
    applied = run_now(WorkspaceTask.objects.get(pk=apply["id"]))
    assert applied.status == Status.APPLIED
    assert auth_client.get(f"/api/v1/tasks/{plan.pk}").json()["apply_task_ids"] == [apply["id"]]

    again = _post(auth_client, f"/api/v1/tasks/{plan.pk}/confirm")
    assert again.status_code == 409 and "not waiting for confirmation" in again.json()["detail"]


def test_discard_and_cancel(auth_client, workspace, save_code, run_now):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    plan = run_now(WorkspaceTask.objects.get(pk=_post(
        auth_client, f"/api/v1/workspaces/{workspace.name}/runs").json()["id"]))
    assert _post(auth_client, f"/api/v1/tasks/{plan.pk}/discard").json()["status"] == "discarded"
    queued = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/runs", {"kind": "plan"}).json()
    response = _post(auth_client, f"/api/v1/tasks/{queued['id']}/cancel")
    assert response.status_code == 202 and response.json()["status"] == "cancelled"
    response = _post(auth_client, f"/api/v1/tasks/{queued['id']}/cancel")
    assert response.status_code == 409 and "already finished" in response.json()["detail"]


def test_locked_workspace_answers_423(auth_client, workspace):
    response = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/lock", {"reason": "freeze"})
    assert response.status_code == 200 and response.json()["locked"] is True
    response = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/runs", {"kind": "plan"})
    assert response.status_code == 423
    assert "freeze" in response.json()["detail"]
    response = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/unlock")
    assert response.json()["locked"] is False


def test_bad_input_answers_4xx_with_reason(auth_client, workspace):
    response = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/runs", {"kind": "explode"})
    assert response.status_code == 400 and "Unknown run kind" in response.json()["detail"]
    response = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/runs", {"targets": ["rm -rf /"]})
    assert response.status_code == 400 and "targets" in response.json()["errors"]
    response = auth_client.post(f"/api/v1/workspaces/{workspace.name}/runs", data="{not json",
                                content_type="application/json")
    assert 400 <= response.status_code < 500
    assert auth_client.get(f"/api/v1/workspaces/{workspace.name}/runs?status=weird").status_code == 400
    assert auth_client.get("/api/v1/tasks/999999").status_code == 404
    assert _post(auth_client, "/api/v1/workspaces/nope/runs").status_code == 404
    assert not WorkspaceTask.objects.exists()


def test_retry_state_save_without_backup_is_404(auth_client, workspace):
    response = _post(auth_client, f"/api/v1/workspaces/{workspace.name}/state/retry-save")
    assert response.status_code == 404 and "no state backup" in response.json()["detail"]


def test_anonymous_gets_401(client, workspace):
    assert client.get("/api/v1/tasks/1").status_code == 401
    other = Workspace.objects.create(name="other")
    assert client.post(f"/api/v1/workspaces/{other.name}/runs").status_code == 401
