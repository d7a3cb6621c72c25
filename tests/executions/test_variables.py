import json

from executions.models import TaskLog, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from workspaces.models import StateVersion

SECRET = "hunter2-Sup3rSecret"


def test_variables_reach_terraform_and_secrets_stay_hidden(workspace, user, tmp_path, save_code, run_now,
                                                           set_var, auth_client):
    env_file = tmp_path / "env.txt"
    set_var(workspace, "name", 'plain "quoted" ${not_interpolated}')
    set_var(workspace, "count_of", "3", hcl=True)
    set_var(workspace, "zones", '["a", "b"]', hcl=True)
    set_var(workspace, "tags", '{ team = "core", tier = 2 }', hcl=True)
    set_var(workspace, "password", SECRET, sensitive=True)
    set_var(workspace, "MY_ENV_FLAG", "from-env", category="env")
    set_var(workspace, "API_TOKEN", "env-" + SECRET, category="env", sensitive=True)
    code = {
        "resource": {"terraform_data": {
            "echo": {
                "input": "${var.password}",
                "provisioner": {"local-exec": {"command": f"echo $MY_ENV_FLAG > {env_file}; echo $API_TOKEN; echo {SECRET}"}},
            },
        }},
        "output": {
            "name": {"value": "${var.name}"},
            "count_plus": {"value": "${var.count_of + 1}"},
            "zones": {"value": "${var.zones}"},
            "tier": {"value": "${var.tags.tier}"},
            "password": {"value": "${var.password}", "sensitive": True},
        },
    }
    save_code(workspace, json.dumps(code))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", user=user))
    assert plan.status == WorkspaceTask.Status.PLANNED, plan.error_message
    apply = run_now(task_confirm(task=plan, user=user))
    assert apply.status == WorkspaceTask.Status.APPLIED, apply.error_message

    outputs = apply.outputs
    assert outputs["name"]["value"] == 'plain "quoted" ${not_interpolated}'
    assert outputs["count_plus"]["value"] == 4
    assert outputs["zones"]["value"] == ["a", "b"]
    assert outputs["tier"]["value"] == 2
    assert outputs["password"]["value"] == "(sensitive)"
    raw_state = json.loads(StateVersion.objects.get(workspace=workspace).content)
    assert raw_state["outputs"]["password"]["value"] == SECRET  # reached terraform intact
    assert env_file.read_text().strip() == "from-env"

    logs = "\n".join(TaskLog.objects.values_list("text", flat=True))
    assert SECRET not in logs and "***" in logs
    for task in (plan, apply):
        for url in (f"/api/v1/tasks/{task.pk}", f"/api/v1/tasks/{task.pk}/logs", f"/api/v1/tasks/{task.pk}/logs/download",
                    f"/workspaces/{workspace.name}/runs/{task.pk}/"):
            response = auth_client.get(url)
            assert response.status_code == 200, url
            assert SECRET not in response.content.decode(), url
    assert SECRET not in json.dumps(plan.change_summary)


def test_server_secrets_never_reach_terraform(workspace, tmp_path, save_code, run_now, monkeypatch):
    monkeypatch.setenv("SECRET_KEY", "server-secret-key-value")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:dbpass@host/db")
    dump = tmp_path / "env-dump.txt"
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"e": {
        "provisioner": {"local-exec": {"command": f"env > {dump}"}}}}}}))
    workspace.auto_apply = True
    workspace.save()
    run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = WorkspaceTask.objects.get(task_type="apply")
    run_now(apply)
    env = dump.read_text()
    assert "TF_IN_AUTOMATION=1" in env and "TF_INPUT=0" in env
    assert "server-secret-key-value" not in env and "dbpass" not in env and "DATABASE_URL" not in env


def test_previous_secret_values_stay_out_of_the_log(workspace, save_code, run_now, set_var):
    old, new = "Old-Secret-1a2b", "New-Secret-3c4d"
    set_var(workspace, "pw", old, sensitive=True)
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": {"password": "${var.pw}"}}}}}))
    workspace.auto_apply = True
    workspace.save()
    run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    run_now(WorkspaceTask.objects.get(task_type="apply"))
    set_var(workspace, "pw", new, sensitive=True)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == WorkspaceTask.Status.PLAN_FINISHED, plan.error_message
    logs = "\n".join(TaskLog.objects.filter(task=plan).values_list("text", flat=True))
    assert "password" in logs
    assert old not in logs and new not in logs
