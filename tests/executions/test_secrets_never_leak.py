"""A sensitive multi-line value (a PEM key) and one with quotes and backslashes never appear in
a log row, a page, an API response, an admin page or a dump of the database."""

import json
import shutil
import subprocess

import pytest
from django.conf import settings
from django.db import connection
from django.urls import reverse

from executions.models import TaskLog, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import tf_json
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Variable, Workspace
from workspaces.services import variable_set

PEM = ("-----BEGIN RSA PRIVATE KEY-----\nMIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun\n"
       "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK\n-----END RSA PRIVATE KEY-----")
QUOTED = 'p@ss"w0rd\\with\\backslashes-and-"quotes"'
NEEDLES = [
    "MIIEowIBAAKCAQEAu1SU1LfVLPHCozMxH2Mo4lgOEePzNm0tRgeLezV6ffAt0gun",
    "VTLw7onLRnrq0/IzW7yWR7QkrmBL7jTKEn5u+qKhbwKfBstIs+bMY2Zkp18gnTxK",
    "w0rd\\with", "w0rd\\\\with", "backslashes-and-",
]


def _leaks(text: str) -> list[str]:
    return [needle for needle in NEEDLES if needle in text]


@pytest.fixture
def leaky_workspace(transactional_db, tmp_path, run_now):
    ws = Workspace.objects.create(name="leaky", auto_apply=False)
    variable_set(workspace=ws, key="key", value=PEM, sensitive=True)
    variable_set(workspace=ws, key="pw", value=QUOTED, sensitive=True)
    variable_set(workspace=ws, key="TF_VAR_unused", value=QUOTED, sensitive=True, category=Variable.Category.ENV)
    code = tf_json(
        {"k": {"input": "${var.key}"}, "p": {"input": "${var.pw}"},
         # A provisioner that prints them (terraform suppresses sensitive values; ours must too).
         "echo": {"input": "x", "provisioner": {"local-exec": {
             "command": "printf '%s\\n' \"$KEY\" \"$PW\"",
             "environment": {"KEY": "${nonsensitive(var.key)}", "PW": "${nonsensitive(var.pw)}"}}}}},
        outputs={"key_out": {"value": "${var.key}", "sensitive": True}},
        extra={"variable": {"key": {"type": "string", "sensitive": True}, "pw": {"type": "string", "sensitive": True},
                            "unused": {"type": "string", "default": ""}}},
    )
    code_version_save(workspace=ws, code=code)
    plan = run_now(task_queue_run(workspace=ws, kind="plan_and_apply"))
    apply = run_now(task_confirm(task=plan))
    assert apply.status == WorkspaceTask.Status.APPLIED, apply.error_message
    return ws, plan, apply


def test_no_log_row_page_api_answer_or_admin_page_holds_a_secret(leaky_workspace, admin_client_logged):
    ws, plan, apply = leaky_workspace
    logs = "\n".join(TaskLog.objects.filter(task__workspace=ws).values_list("text", flat=True))
    assert "-----BEGIN RSA" not in logs and not _leaks(logs), _leaks(logs)
    version = StateVersion.objects.get(workspace=ws)
    var = Variable.objects.get(workspace=ws, key="pw")
    urls = [
        reverse("workspace_overview", args=[ws.name]), reverse("variable_list", args=[ws.name]),
        reverse("variable_edit", args=[ws.name, var.pk]), reverse("run_list", args=[ws.name]),
        reverse("run_detail", args=[ws.name, plan.pk]), reverse("run_detail", args=[ws.name, apply.pk]),
        reverse("run_logs", args=[ws.name, apply.pk]), reverse("run_logs", args=[ws.name, plan.pk]),
        f"/workspaces/{ws.name}/states/", f"/workspaces/{ws.name}/states/{version.serial}/",
        f"/api/v1/workspaces/{ws.name}/variables", f"/api/v1/workspaces/{ws.name}/runs",
        f"/api/v1/workspaces/{ws.name}/runs/{plan.pk}", f"/api/v1/workspaces/{ws.name}/runs/{apply.pk}",
        f"/api/v1/workspaces/{ws.name}/runs/{apply.pk}/logs", f"/api/v1/workspaces/{ws.name}/state-versions",
        f"/api/v1/workspaces/{ws.name}/state-versions/{version.serial}",
        f"/admin/workspaces/variable/{var.pk}/change/", "/admin/workspaces/variable/",
        f"/admin/workspaces/stateversion/{version.pk}/change/", f"/admin/executions/workspacetask/{apply.pk}/change/",
        f"/admin/executions/workspacetask/{plan.pk}/change/", "/admin/executions/tasklog/",
    ]
    checked = 0
    for url in urls:
        response = admin_client_logged.get(url)
        if response.status_code == 404:
            continue  # a page this version does not have
        assert response.status_code == 200, (url, response.status_code)
        body = response.content.decode()
        assert "-----BEGIN RSA" not in body and not _leaks(body), (url, _leaks(body))
        checked += 1
    assert checked >= 15


def test_a_dump_of_the_database_holds_no_secret(leaky_workspace):
    if connection.vendor != "postgresql" or not shutil.which("pg_dump"):
        pytest.skip("needs PostgreSQL and pg_dump")
    cfg = connection.settings_dict
    dump = subprocess.run(["pg_dump", "-h", cfg["HOST"] or "127.0.0.1", "-p", str(cfg["PORT"] or 5432),
                           "-U", cfg["USER"], cfg["NAME"]], capture_output=True, text=True, timeout=120)
    assert dump.returncode == 0, dump.stderr[-2000:]
    state_rows = dump.stdout.split("COPY public.workspaces_stateversion")[1].split("\n\\.\n")[0]
    assert "enc1:" in state_rows and "terraform_data" not in state_rows  # the state column is ciphertext
    assert "-----BEGIN RSA" not in dump.stdout and not _leaks(dump.stdout), _leaks(dump.stdout)
    assert json.loads(StateVersion.objects.get(workspace__name="leaky").content)["resources"]
    assert settings.IAC_ENCRYPTION_KEY or settings.SECRET_KEY  # (what the encryption is keyed with)
