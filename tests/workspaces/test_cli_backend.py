"""The embedded terraform as a real client of the http state backend, against a live server.

Tested here, as docs/cli-backend.md describes it: init with the http backend, apply writes a
version (UI and API), state pull equals the latest version, one lock for two concurrent applies,
force-unlock for an admin only, platform runs refused while the CLI holds the lock, LOCK refused
while a platform run runs, a state with a lower serial or another lineage refused.
"""

import json
import os
import subprocess
import time

import pytest
from django.conf import settings
from django.test import Client

from executions.models import WorkspaceTask
from executions.services import task_queue_run
from iacplatform.errors import WorkspaceLocked
from workspaces.backend import backend_access
from workspaces.models import AuditEvent, CliStateLock, Role, StateVersion, Workspace, WorkspaceMember
from workspaces.tokens import api_token_create

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def save_code():
    from workspaces.code.services import code_version_save

    def _save(workspace, code):
        code_version_save(workspace=workspace, code=code, code_format="json", message="")
        workspace.refresh_from_db()

    return _save


@pytest.fixture
def run_now():
    from executions.tasks import run_task

    def _run(task):
        run_task(task.pk)
        return WorkspaceTask.objects.get(pk=task.pk)

    return _run


@pytest.fixture
def people(django_user_model):
    admin = django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="")
    # "planner" applies from the CLI: in the workspace it holds the applier role (see ``ws``).
    planner = django_user_model.objects.create_user(username="planner", password="pw-planner-123")
    reader = django_user_model.objects.create_user(username="reader", password="pw-reader-123")
    return {"admin": admin, "planner": planner, "reader": reader,
            "tokens": {role: api_token_create(user=u, name="cli")[1]
                       for role, u in (("admin", admin), ("planner", planner), ("reader", reader))}}


@pytest.fixture
def ws(transactional_db, people):
    workspace = Workspace.objects.create(name="clistate", description="state from the CLI")
    WorkspaceMember.objects.create(workspace=workspace, user=people["planner"], role=Role.APPLIER)
    WorkspaceMember.objects.create(workspace=workspace, user=people["reader"], role=Role.READER)
    return workspace


def backend_hcl(live_server, name: str) -> str:
    state = f"{live_server.url}/api/backend/{name}/state"
    lock = f"{live_server.url}/api/backend/{name}/lock"
    return ('terraform {\n  backend "http" {\n'
            f'    address = "{state}"\n    lock_address = "{lock}"\n    unlock_address = "{lock}"\n'
            '  }\n}\n')


class CLI:
    """A work dir running the embedded terraform with a token as TF_HTTP_PASSWORD."""

    def __init__(self, path, token, username):
        self.path = path
        path.mkdir(parents=True, exist_ok=True)
        self.env = {"PATH": os.environ.get("PATH", ""), "HOME": str(path), "TF_IN_AUTOMATION": "1",
                    "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull,
                    "TF_HTTP_USERNAME": username, "TF_HTTP_PASSWORD": token}

    def write(self, text: str, resources: str = "") -> None:
        (self.path / "main.tf").write_text(text + resources)

    def args(self, *args):
        name, *rest = args
        flags = ["-input=false", "-no-color"] if name in ("init", "plan", "apply", "destroy") else []
        return [settings.TERRAFORM_BIN, name, *flags, *rest]

    def __call__(self, *args, timeout=120):
        return subprocess.run(self.args(*args), cwd=self.path, env=self.env, capture_output=True, text=True,
                              timeout=timeout)

    def start(self, *args):
        return subprocess.Popen(self.args(*args), cwd=self.path, env=self.env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)


def resource(name: str, value: str, sleep: float = 0) -> str:
    provisioner = (f'  provisioner "local-exec" {{\n    command = "sleep {sleep}"\n  }}\n' if sleep else "")
    return f'resource "terraform_data" "{name}" {{\n  input = "{value}"\n{provisioner}}}\n'


def cli_for(tmp_path, people, live_server, ws, who="planner", sub="cli", resources=""):
    cli = CLI(tmp_path / sub, people["tokens"][who], who)
    cli.write(backend_hcl(live_server, ws.name), resources)
    return cli


def test_init_apply_writes_a_version_seen_in_ui_and_api_and_state_pull_equals_it(
        tmp_path, people, live_server, ws, client):
    cli = cli_for(tmp_path, people, live_server, ws, resources=resource("a", "one"))
    init = cli("init")
    assert init.returncode == 0, init.stdout + init.stderr
    assert 'Successfully configured the backend "http"' in init.stdout
    apply = cli("apply", "-auto-approve")
    assert apply.returncode == 0, apply.stdout + apply.stderr
    version = StateVersion.objects.filter(workspace=ws).latest()
    assert version.source == "terraform-cli"
    assert version.source_detail == "written by terraform CLI (planner, OperationTypeApply)"
    assert version.created_by == people["planner"] and version.md5
    assert json.loads(version.content)["resources"][0]["type"] == "terraform_data"
    # the lock is gone after the apply
    assert not CliStateLock.objects.filter(workspace=ws).exists()
    assert not Workspace.objects.get(pk=ws.pk).locked

    pull = cli("state", "pull")
    assert pull.returncode == 0, pull.stderr
    assert json.loads(pull.stdout) == json.loads(version.content)

    client.force_login(people["reader"])
    page = client.get(f"/workspaces/{ws.name}/states/{version.serial}/")
    assert page.status_code == 200
    assert "written by terraform CLI (planner, OperationTypeApply)" in page.content.decode()
    api = client.get(f"/api/v1/workspaces/{ws.name}/state-versions",
                     HTTP_AUTHORIZATION=f"Bearer {people['tokens']['reader']}")
    assert api.status_code == 200, api.content
    items = api.json()["items"]
    assert items[0]["serial"] == version.serial and items[0]["source"] == "terraform-cli"
    assert items[0]["md5"] == version.md5
    assert items[0]["source_detail"] == "written by terraform CLI (planner, OperationTypeApply)"

    # a second apply continues the history
    cli.write(backend_hcl(live_server, ws.name), resource("a", "two"))
    assert cli("apply", "-auto-approve").returncode == 0
    assert StateVersion.objects.filter(workspace=ws).latest().serial == version.serial + 1


def test_two_concurrent_applies_one_gets_the_lock_error_naming_the_other(tmp_path, people, live_server, ws):
    first = cli_for(tmp_path, people, live_server, ws, sub="one", resources=resource("slow", "x", sleep=4))
    second = cli_for(tmp_path, people, live_server, ws, who="admin", sub="two",
                     resources=resource("slow", "x", sleep=4))
    assert first("init").returncode == 0 and second("init").returncode == 0
    running = first.start("apply", "-auto-approve")
    try:
        deadline = time.monotonic() + 30
        while not CliStateLock.objects.filter(workspace=ws).exists():
            assert time.monotonic() < deadline, "the first apply never took the lock"
            time.sleep(0.1)
        held = CliStateLock.objects.get(workspace=ws)
        loser = second("apply", "-auto-approve")
    finally:
        out = running.communicate(timeout=120)[0]
    assert running.returncode == 0, out
    assert loser.returncode == 1
    assert "Error acquiring the state lock" in loser.stderr
    assert f"ID:        {held.lock_id}" in loser.stderr
    assert "Operation: OperationTypeApply" in loser.stderr
    assert held.who and f"Who:       {held.who}" in loser.stderr
    assert StateVersion.objects.filter(workspace=ws).count() >= 1


def lock_request(live_server, ws, token, method="LOCK", body=None, path="lock"):
    import base64
    import urllib.request

    data = json.dumps(body or {}).encode()
    request = urllib.request.Request(f"{live_server.url}/api/backend/{ws.name}/{path}", data=data, method=method)
    request.add_header("Authorization", "Basic " + base64.b64encode(f"x:{token}".encode()).decode())
    try:
        with urllib.request.urlopen(request) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read().decode()


LOCK_INFO = {"ID": "5d8b1f0e-1111-2222-3333-444455556666", "Operation": "OperationTypeApply", "Info": "",
             "Who": "alice@laptop", "Version": "1.15.5", "Created": "2026-12-02T10:00:00Z", "Path": ""}


def test_force_unlock_works_for_an_admin_and_is_refused_for_a_planner(tmp_path, people, live_server, ws):
    status, _ = lock_request(live_server, ws, people["tokens"]["planner"], body=LOCK_INFO)
    assert status == 200
    planner = cli_for(tmp_path, people, live_server, ws, who="planner", sub="p")
    admin = cli_for(tmp_path, people, live_server, ws, who="admin", sub="a")
    assert planner("init").returncode == 0 and admin("init").returncode == 0

    refused = planner("force-unlock", "-force", LOCK_INFO["ID"])
    assert refused.returncode == 1, refused.stdout
    assert "403" in refused.stderr + refused.stdout
    assert CliStateLock.objects.filter(workspace=ws, lock_id=LOCK_INFO["ID"]).exists()

    done = admin("force-unlock", "-force", LOCK_INFO["ID"])
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Terraform state has been successfully unlocked!" in done.stdout
    assert not CliStateLock.objects.filter(workspace=ws).exists()
    assert not Workspace.objects.get(pk=ws.pk).locked


def test_a_platform_run_while_the_cli_holds_the_lock_is_refused_with_its_lock_info(
        tmp_path, people, live_server, ws, client):
    status, _ = lock_request(live_server, ws, people["tokens"]["planner"], body=LOCK_INFO)
    assert status == 200
    with pytest.raises(WorkspaceLocked) as refused:
        task_queue_run(workspace=ws, kind="plan", user=people["admin"])
    assert "locked by terraform CLI: alice@laptop, OperationTypeApply, since" in refused.value.message
    # through the API as well
    response = client.post(f"/api/v1/workspaces/{ws.name}/runs", data={"kind": "plan"},
                           content_type="application/json",
                           HTTP_AUTHORIZATION=f"Bearer {people['tokens']['admin']}")
    assert response.status_code == 423, response.content
    assert "locked by terraform CLI: alice@laptop, OperationTypeApply" in response.content.decode()
    # the overview shows the lock; the ordinary unlock of the owner releases it
    client.force_login(people["admin"])
    page = client.get(f"/workspaces/{ws.name}/").content.decode()
    assert "Terraform CLI lock" in page and LOCK_INFO["ID"] in page and "Break the CLI lock" in page
    status, _ = lock_request(live_server, ws, people["tokens"]["planner"], method="UNLOCK", body=LOCK_INFO)
    assert status == 200
    assert not Workspace.objects.get(pk=ws.pk).locked
    assert task_queue_run(workspace=ws, kind="plan", user=people["admin"]).status == "queued"


def test_lock_answers_423_with_the_running_platform_run(people, live_server, ws):
    task = WorkspaceTask.objects.create(workspace=ws, task_type="plan_and_apply", created_by=people["admin"])
    task.transition("queued")
    task.transition("running")
    status, body = lock_request(live_server, ws, people["tokens"]["planner"], body=LOCK_INFO)
    assert status == 423
    info = json.loads(body)
    assert info["ID"] == f"platform-run-{task.pk}" and f"platform run #{task.pk}" in info["Who"]
    assert not CliStateLock.objects.filter(workspace=ws).exists()


def test_a_stale_cli_lock_is_shown_and_an_admin_breaks_it(people, live_server, ws, client, settings):
    settings.IAC_CLI_LOCK_STALE_SECONDS = 1
    assert lock_request(live_server, ws, people["tokens"]["planner"], body=LOCK_INFO)[0] == 200
    CliStateLock.objects.filter(workspace=ws).update(created_at="2026-01-01T00:00:00Z")
    client.force_login(people["planner"])
    page = client.get(f"/workspaces/{ws.name}/").content.decode()
    assert "Terraform CLI lock (stale)" in page and "Break the CLI lock" not in page
    client.post(f"/workspaces/{ws.name}/cli-lock/break/")
    assert CliStateLock.objects.filter(workspace=ws).exists()
    client.force_login(people["admin"])
    client.post(f"/workspaces/{ws.name}/cli-lock/break/")
    assert not CliStateLock.objects.filter(workspace=ws).exists()
    assert not Workspace.objects.get(pk=ws.pk).locked
    # the CLI whose lock was broken can no longer write with it
    state = {"version": 4, "terraform_version": "1.15.5", "serial": 1, "lineage": "l-1", "outputs": {},
             "resources": [], "check_results": None}
    import base64
    import urllib.request
    request = urllib.request.Request(f"{live_server.url}/api/backend/{ws.name}/state?ID={LOCK_INFO['ID']}",
                                     data=json.dumps(state).encode(), method="POST")
    request.add_header("Authorization", "Basic " + base64.b64encode(
        f"x:{people['tokens']['planner']}".encode()).decode())
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request)
    assert refused.value.code == 409 and "force-unlocked or broken" in json.loads(refused.value.read())["detail"]
    assert not StateVersion.objects.filter(workspace=ws).exists()


def test_a_lower_serial_or_another_lineage_is_refused_and_terraform_shows_it(tmp_path, people, live_server, ws):
    cli = cli_for(tmp_path, people, live_server, ws, resources=resource("a", "one"))
    assert cli("init").returncode == 0
    assert cli("apply", "-auto-approve").returncode == 0
    for value in ("two", "three"):
        cli.write(backend_hcl(live_server, ws.name), resource("a", value))
        assert cli("apply", "-auto-approve").returncode == 0
    latest = StateVersion.objects.filter(workspace=ws).latest()
    count = StateVersion.objects.filter(workspace=ws).count()
    assert latest.serial == 3

    # without -force, terraform compares with the state this backend serves and says why itself
    older = json.loads(latest.content)
    older["serial"] = 1
    (cli.path / "older.tfstate").write_text(json.dumps(older))
    pushed = cli("state", "push", "older.tfstate")
    assert pushed.returncode == 1
    assert "cannot import state with serial 1 over newer state with serial 3" in pushed.stderr
    # `state push -force` of an older state: terraform sends it with its serial + 1, still behind
    pushed = cli("state", "push", "-force", "older.tfstate")
    assert pushed.returncode == 1
    # terraform's http client prints the status only; the reason is the body of the answer, the
    # workspace overview and the audit trail
    assert "Failed to persist state: HTTP error: 409" in pushed.stderr
    event = AuditEvent.objects.get(workspace_id=ws.pk, action="state.cli_write_refused")
    assert event.actor == "planner" and event.details["reason"] == (
        "Serial went backwards: terraform wrote serial 2, the workspace is at 3.")
    browser = Client()
    browser.force_login(people["reader"])
    overview = browser.get(f"/workspaces/{ws.name}/").content.decode()
    assert "A terraform CLI state write was refused" in overview
    assert "Serial went backwards: terraform wrote serial 2, the workspace is at 3." in overview
    older["serial"] = 2
    status, body = lock_request(live_server, ws, people["tokens"]["planner"], method="POST", body=older,
                                path="state")
    assert status == 409
    assert json.loads(body)["detail"] == "Serial went backwards: terraform wrote serial 2, the workspace is at 3."

    other = json.loads(latest.content)
    other["lineage"], other["serial"] = "00000000-0000-0000-0000-000000000000", latest.serial + 5
    (cli.path / "other.tfstate").write_text(json.dumps(other))
    pushed = cli("state", "push", "other.tfstate")
    assert pushed.returncode == 1 and "cannot import state with lineage" in pushed.stderr
    pushed = cli("state", "push", "-force", "other.tfstate")
    assert pushed.returncode == 1
    assert "Failed to persist state: HTTP error: 409" in pushed.stderr
    status, body = lock_request(live_server, ws, people["tokens"]["planner"], method="POST", body=other,
                                path="state")
    assert status == 409 and json.loads(body)["detail"].startswith("Lineage 00000000-0000-0000-0000-000000000000 differs from the "
                                             "workspace's state lineage")
    assert StateVersion.objects.filter(workspace=ws).count() == count
    # a state stored again clears the overview's warning (the audit trail keeps every refusal)
    cli.write(backend_hcl(live_server, ws.name), resource("a", "four"))
    assert cli("apply", "-auto-approve").returncode == 0
    assert "A terraform CLI state write was refused" not in browser.get(f"/workspaces/{ws.name}/").content.decode()
    assert AuditEvent.objects.filter(workspace_id=ws.pk, action="state.cli_write_refused").count() >= 3


def test_migrate_state_brings_a_local_state_in(tmp_path, people, live_server, ws):
    cli = CLI(tmp_path / "mig", people["tokens"]["planner"], "planner")
    cli.write("", resource("a", "local"))
    assert cli("init").returncode == 0
    assert cli("apply", "-auto-approve").returncode == 0
    local = json.loads((cli.path / "terraform.tfstate").read_text())
    cli.write(backend_hcl(live_server, ws.name), resource("a", "local"))
    migrated = cli("init", "-migrate-state", "-force-copy")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    version = StateVersion.objects.filter(workspace=ws).latest()
    assert json.loads(version.content)["resources"] == local["resources"]
    plan = cli("plan", "-detailed-exitcode")
    assert plan.returncode == 0, plan.stdout + plan.stderr


def test_access_rules_in_one_function(people, ws):
    assert not backend_access(people["reader"], ws, "read")  # a reader never gets the raw state
    assert not backend_access(people["reader"], ws, "write")
    assert backend_access(people["planner"], ws, "read")
    assert backend_access(people["planner"], ws, "write") and not backend_access(people["planner"], ws, "admin")
    assert backend_access(people["admin"], ws, "admin")


def test_wrong_token_is_401(live_server, ws, people):
    status, _ = lock_request(live_server, ws, "iac_wrong", method="GET", path="state", body=None)
    assert status == 401
    status, _ = lock_request(live_server, ws, people["tokens"]["reader"], body=LOCK_INFO)
    assert status == 403


def test_the_settings_page_block_is_what_terraform_needs(tmp_path, people, live_server, ws, client, settings):
    import html
    import re

    settings.IAC_BACKEND_BASE_URL = live_server.url
    client.force_login(people["admin"])
    page = client.get(f"/workspaces/{ws.name}/settings/").content.decode()
    block = html.unescape(re.search(r'<pre class="mono small" id="backend-block">(.*?)</pre>', page, re.S).group(1))
    assert f'address        = "{live_server.url}/api/backend/{ws.name}/state"' in block
    assert f'lock_address   = "{live_server.url}/api/backend/{ws.name}/lock"' in block
    cli = CLI(tmp_path / "pasted", people["tokens"]["planner"], "planner")
    cli.write(block, resource("a", "pasted"))
    assert cli("init").returncode == 0
    assert cli("apply", "-auto-approve").returncode == 0
    assert StateVersion.objects.filter(workspace=ws, source="terraform-cli").count() == 1


def test_the_documented_setup_works(tmp_path, people, live_server, ws):
    """docs/cli-backend.md: its backend block, with the live server's address, and its commands."""
    import re

    doc = (settings.BASE_DIR / "docs" / "cli-backend.md").read_text()
    block = re.search(r"<!-- backend-block -->\n```hcl\n(.*?)```", doc, re.S).group(1)
    block = block.replace("https://iac.example.com", live_server.url).replace("/backend/demo/", f"/backend/{ws.name}/")
    assert "terraform init -migrate-state -force-copy" in doc
    # an existing local state, migrated with the documented command
    cli = CLI(tmp_path / "doc", people["tokens"]["planner"], "planner")
    cli.write("", resource("a", "local"))
    assert cli("init").returncode == 0 and cli("apply", "-auto-approve").returncode == 0
    local = json.loads((cli.path / "terraform.tfstate").read_text())
    cli.write(block, resource("a", "local"))
    migrated = cli("init", "-migrate-state", "-force-copy")
    assert migrated.returncode == 0, migrated.stdout + migrated.stderr
    version = StateVersion.objects.get(workspace=ws)
    assert version.serial == 1 and json.loads(version.content)["resources"] == local["resources"]
    assert version.source_detail == "written by terraform CLI (planner, migration destination state)"
    assert cli("plan", "-detailed-exitcode").returncode == 0
    cli.write(block, resource("a", "changed"))
    assert cli("apply", "-auto-approve").returncode == 0
    assert StateVersion.objects.filter(workspace=ws).latest().serial == 2


def test_lock_and_unlock_methods_are_configurable(tmp_path, people, live_server, ws):
    cli = CLI(tmp_path / "methods", people["tokens"]["planner"], "planner")
    state = f"{live_server.url}/api/backend/{ws.name}/state"
    lock = f"{live_server.url}/api/backend/{ws.name}/lock"
    cli.write('terraform {\n  backend "http" {\n'
              f'    address = "{state}"\n    lock_address = "{lock}"\n    unlock_address = "{lock}"\n'
              '    lock_method = "PUT"\n    unlock_method = "DELETE"\n  }\n}\n', resource("a", "one", sleep=3))
    assert cli("init").returncode == 0
    running = cli.start("apply", "-auto-approve")
    try:
        deadline = time.monotonic() + 30
        while not CliStateLock.objects.filter(workspace=ws).exists():
            assert time.monotonic() < deadline, "PUT never took the lock"
            time.sleep(0.1)
    finally:
        out = running.communicate(timeout=120)[0]
    assert running.returncode == 0, out
    assert not CliStateLock.objects.filter(workspace=ws).exists()  # DELETE released it
    assert StateVersion.objects.filter(workspace=ws).count() == 1


def test_a_platform_run_is_refused_while_a_real_cli_apply_holds_the_lock(tmp_path, people, live_server, ws, save_code,
                                                                          run_now):
    save_code(ws, json.dumps({"resource": {"terraform_data": {"a": {"input": "x"}}}}))
    queued_before = task_queue_run(workspace=ws, kind="plan", user=people["admin"])
    cli = cli_for(tmp_path, people, live_server, ws, resources=resource("slow", "x", sleep=5))
    assert cli("init").returncode == 0
    running = cli.start("apply", "-auto-approve")
    try:
        deadline = time.monotonic() + 30
        while not CliStateLock.objects.filter(workspace=ws).exists():
            assert time.monotonic() < deadline, "the CLI never took the lock"
            time.sleep(0.1)
        held = CliStateLock.objects.get(workspace=ws)
        with pytest.raises(WorkspaceLocked) as refused:
            task_queue_run(workspace=ws, kind="plan_and_apply", user=people["admin"])
        expected = f"locked by terraform CLI: {held.who}, OperationTypeApply, since "
        assert expected in refused.value.message
        # a run queued before the CLI took the lock is refused when it would start
        started = run_now(queued_before)
        assert started.status == WorkspaceTask.Status.QUEUED  # a locked workspace starts nothing
        from executions.executor.checks import CheckFailed, check_workspace_unlocked
        with pytest.raises(CheckFailed) as check:
            check_workspace_unlocked(queued_before)
        assert expected in check.value.message
    finally:
        out = running.communicate(timeout=120)[0]
    assert running.returncode == 0, out
    assert run_now(queued_before).status == WorkspaceTask.Status.PLAN_FINISHED


def test_a_cli_plan_while_a_platform_run_runs_gets_the_lock_error_naming_the_run(tmp_path, people, live_server, ws):
    task = WorkspaceTask.objects.create(workspace=ws, task_type="plan_and_apply", created_by=people["admin"])
    task.transition("queued")
    task.transition("running")
    cli = cli_for(tmp_path, people, live_server, ws, resources=resource("a", "x"))
    assert cli("init").returncode == 0
    plan = cli("plan")
    assert plan.returncode == 1
    assert "Error acquiring the state lock" in plan.stderr
    assert f"Who:       platform run #{task.pk} (root)" in plan.stderr
    assert f"ID:        platform-run-{task.pk}" in plan.stderr
