"""Run hooks with real processes and a real local HTTP server (issue 13, part 2)."""

import hashlib
import hmac
import json

import pytest

from executions.executor.hooks import SIGNATURE_HEADER
from executions.hooks import can_manage_hooks, hook_save
from executions.models import Hook, HookResult, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from iacplatform.errors import DomainError
from workspaces.models import AuditEvent, Role
from tests.executions.conftest import file_resource, tf_json
from tests.executions.hook_fixtures import HookServer

Status = WorkspaceTask.Status


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    """The run is in the test's transaction, which the heartbeat thread's own connection cannot
    see: a beat during a long run (hooks with timeouts, a loaded machine) would find no row and
    give the run up. Beat less often than these runs last."""
    settings.IAC_HEARTBEAT_SECONDS = 120


@pytest.fixture
def hook_server():
    servers = []

    def _start(*answers):
        server = HookServer(answers)
        servers.append(server)
        return server

    yield _start
    for server in servers:
        server.close()


@pytest.fixture
def fast_hook_retries(settings):
    settings.IAC_HOOK_HTTP_BACKOFF = 0.05
    settings.IAC_HOOK_HTTP_ATTEMPTS = 3


def test_a_failing_mandatory_script_hook_blocks_the_plan(workspace, save_code, run_now, tmp_path):
    marker = tmp_path / "seen.txt"
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    hook_save(workspace=workspace, name="needs-ticket", stage="post_plan", kind="script", enforcement="mandatory",
              command=f'echo "run $IAC_RUN_ID plan at $IAC_PLAN_JSON" > {marker}; '
                      'test -s "$IAC_PLAN_JSON" && echo "no change ticket for this plan"; exit 3', timeout=10)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.FAILED and plan.error_category == "hook"
    assert "needs-ticket" in plan.error_message and "no change ticket" in plan.error_message
    assert marker.read_text().startswith(f"run {plan.pk} plan at ") and "plan.json" in marker.read_text()
    result = HookResult.objects.get(task=plan)
    assert (result.status, result.stage, result.attempts) == ("failed", "post_plan", 1)
    text = "\n".join(log.text for log in plan.logs.all())
    assert "no change ticket for this plan" in text  # the script's output is in the run's log


def test_script_output_is_redacted_like_terraforms(workspace, save_code, run_now, set_var):
    set_var(workspace, "token", "s3cr3t-value-42", sensitive=True)
    save_code(workspace, json.dumps({"variable": {"token": {"type": "string", "sensitive": True}},
                                     "resource": {"terraform_data": {"a": {"input": "x"}}}}))
    hook_save(workspace=workspace, name="leaky", stage="pre_plan", kind="script", enforcement="advisory",
              command="echo token is s3cr3t-value-42", timeout=10)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED, plan.error_message
    text = "\n".join(log.text for log in plan.logs.all())
    assert "token is" in text and "s3cr3t-value-42" not in text
    assert "s3cr3t-value-42" not in HookResult.objects.get(task=plan).message


def test_an_advisory_failing_http_hook_lets_the_plan_through_with_a_warning(
        workspace, save_code, run_now, hook_server, client, admin_user):
    server = hook_server((200, {"status": "failed", "message": "cost too high", "url": "https://example.test/r/1"}, 0))
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="cost-check", stage="post_plan", kind="http", enforcement="advisory",
              url=server.url, secret="topsecret", timeout=5)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED, plan.error_message
    result = HookResult.objects.get(task=plan)
    assert (result.status, result.message, result.url) == ("failed", "cost too high", "https://example.test/r/1")
    assert result.is_warning
    # the body's HMAC-SHA512 verifies with the hook's secret
    request = server.requests[0]
    expected = hmac.new(b"topsecret", request["body"], hashlib.sha512).hexdigest()
    assert request["headers"][SIGNATURE_HEADER] == f"sha512={expected}"
    payload = json.loads(request["body"])
    assert payload["run"]["id"] == plan.pk and payload["stage"] == "post_plan"
    assert payload["workspace"]["name"] == workspace.name and payload["plan_summary"]["add"] == 1
    # the short-lived URL gives the plan JSON, without a login; a wrong token gets nothing
    path = payload["plan_json_url"].split("8000", 1)[1]
    assert json.loads(client.get(path).content)["format_version"]
    assert client.get(path.split("?")[0] + "?token=forged").status_code == 403
    # shown on the run page and in the API
    client.force_login(admin_user)
    page = client.get(f"/workspaces/{workspace.name}/runs/{plan.pk}/").content.decode()
    assert "cost too high" in page and "hook-warning" in page
    api = client.get(f"/api/v1/tasks/{plan.pk}").json()
    assert api["hook_results"][0]["status"] == "failed" and api["hook_results"][0]["attempts"] == 1


def test_an_http_hook_that_answers_500_is_retried_then_counted_as_failed(
        workspace, save_code, run_now, hook_server, fast_hook_retries):
    server = hook_server((500, {"error": "down"}, 0))
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="flaky", stage="pre_plan", kind="http", enforcement="mandatory",
              url=server.url, secret="k", timeout=5)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.FAILED and plan.error_category == "hook"
    assert len(server.requests) == 3
    result = HookResult.objects.get(task=plan)
    assert result.attempts == 3 and "HTTP 500" in result.message


def test_an_http_hook_that_times_out_is_retried_then_counted_as_failed(
        workspace, save_code, run_now, hook_server, fast_hook_retries):
    server = hook_server((200, {"status": "passed"}, 3))
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="slow", stage="pre_plan", kind="http", enforcement="advisory",
              url=server.url, timeout=1)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED, plan.error_message
    result = HookResult.objects.get(task=plan)
    assert result.status == "failed" and result.attempts == 3 and "timed out" in result.message
    assert len(server.requests) == 3


def test_an_http_hook_that_recovers_after_a_500_passes(workspace, save_code, run_now, hook_server,
                                                       fast_hook_retries):
    server = hook_server((503, {}, 0), (200, {"status": "passed", "message": "ok"}, 0))
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=None, name="global", stage="pre_plan", kind="http", enforcement="mandatory",
              url=server.url, timeout=5)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED, plan.error_message
    assert HookResult.objects.get(task=plan).attempts == 2


def test_a_function_hook_not_in_the_allow_list_is_refused_when_saved(workspace, settings):
    settings.IAC_HOOK_FUNCTIONS = ["tests.executions.hook_fixtures.passing_function"]
    with pytest.raises(DomainError, match="IAC_HOOK_FUNCTIONS") as caught:
        hook_save(workspace=workspace, name="f", stage="pre_plan", kind="function", function="os.system")
    assert "function" in caught.value.errors
    assert not Hook.objects.exists()


def test_an_allowed_function_hook_runs_at_pre_apply_and_post_apply(workspace, save_code, run_now, settings,
                                                                  tmp_path):
    settings.IAC_HOOK_FUNCTIONS = ["tests.executions.hook_fixtures.passing_function"]
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    for stage in ("pre_apply", "post_apply"):
        hook_save(workspace=workspace, name=f"fn-{stage}", stage=stage, kind="function", enforcement="mandatory",
                  function="tests.executions.hook_fixtures.passing_function")
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = run_now(task_confirm(task=plan))
    assert apply.status == Status.APPLIED, apply.error_message
    messages = sorted(r.message for r in HookResult.objects.filter(task=apply))
    assert messages == [f"checked run {apply.pk} at post_apply", f"checked run {apply.pk} at pre_apply"]


def test_on_failure_hooks_run_when_a_run_fails(workspace, save_code, run_now, tmp_path):
    marker = tmp_path / "failed.txt"
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "${var.missing}"}}}}))
    hook_save(workspace=workspace, name="page-me", stage="on_failure", kind="script", enforcement="mandatory",
              command=f'echo "$IAC_FAILURE_CATEGORY" > {marker}', timeout=10)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.FAILED and plan.error_category != "hook"
    assert marker.read_text().strip() == plan.error_category


def test_disabled_hooks_do_not_run(workspace, save_code, run_now):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="off", stage="pre_plan", kind="script", enforcement="mandatory",
              command="exit 1", enabled=False)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.PLAN_FINISHED and not HookResult.objects.exists()


# --- managing hooks: pages and API ---------------------------------------------------------------
def test_only_admins_manage_hooks(workspace, member, admin_user, client):
    applier = member(workspace, Role.APPLIER, username="applier")
    ws_admin = member(workspace, Role.ADMIN, username="ws-admin")
    outsider = member(workspace, None, username="outsider")
    assert not can_manage_hooks(applier, workspace) and can_manage_hooks(admin_user, workspace)
    assert can_manage_hooks(ws_admin, workspace) and not can_manage_hooks(ws_admin, None)
    client.force_login(applier)
    assert client.get(f"/workspaces/{workspace.name}/settings/hooks/").status_code == 403
    assert client.get("/hooks/").status_code == 403
    assert client.post("/api/v1/hooks", {"name": "x", "stage": "pre_plan", "kind": "script", "command": "true"},
                       content_type="application/json").status_code == 403
    client.force_login(outsider)
    assert client.get(f"/workspaces/{workspace.name}/settings/hooks/").status_code == 404
    client.force_login(ws_admin)
    assert client.get(f"/workspaces/{workspace.name}/settings/hooks/").status_code == 200
    client.logout()
    assert client.get("/hooks/").status_code == 302  # to the login page


def test_admin_adds_and_deletes_a_workspace_hook_on_the_settings_page(workspace, admin_client_logged):
    url = f"/workspaces/{workspace.name}/settings/hooks/"
    assert "hooks-link" in admin_client_logged.get(f"/workspaces/{workspace.name}/settings/").content.decode()
    response = admin_client_logged.post(url, {"name": "lint", "stage": "pre_plan", "kind": "script",
                                              "enforcement": "mandatory", "command": "true", "timeout": 5,
                                              "enabled": "on"})
    assert response.status_code == 302
    hook = Hook.objects.get(workspace=workspace)
    assert "lint" in admin_client_logged.get(url).content.decode()
    bad = admin_client_logged.post(url, {"name": "f", "stage": "pre_plan", "kind": "function",
                                         "enforcement": "advisory", "function": "os.system", "timeout": 5})
    assert bad.status_code == 400 and "IAC_HOOK_FUNCTIONS" in bad.content.decode()
    admin_client_logged.post(f"{url}{hook.pk}/delete/")
    assert not Hook.objects.exists()
    assert list(AuditEvent.objects.filter(action__startswith="hook.").order_by("id")
                .values_list("action", flat=True)) == ["hook.create", "hook.delete"]


def test_api_creates_lists_and_deletes_hooks_with_the_secret_encrypted(workspace, admin_client_logged):
    response = admin_client_logged.post(
        f"/api/v1/workspaces/{workspace.name}/hooks", {"name": "h", "stage": "post_plan", "kind": "http",
                                                      "url": "http://127.0.0.1:9/x", "secret": "shh"},
        content_type="application/json")
    assert response.status_code == 201, response.content
    body = response.json()
    assert body["has_secret"] and "shh" not in response.content.decode()
    assert Hook.objects.get().secret and Hook.objects.get().secret != "shh"
    assert len(admin_client_logged.get(f"/api/v1/workspaces/{workspace.name}/hooks").json()) == 1
    refused = admin_client_logged.post("/api/v1/hooks", {"name": "f", "stage": "pre_plan", "kind": "function",
                                                         "function": "os.system"}, content_type="application/json")
    assert refused.status_code == 400 and "function" in refused.json()["errors"]
    assert admin_client_logged.delete(f"/api/v1/hooks/{body['id']}").status_code == 204


def test_a_function_hook_that_outlives_its_timeout_fails(workspace, save_code, run_now, settings):
    settings.IAC_HOOK_FUNCTIONS = ["tests.executions.hook_fixtures.slow_function"]
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="slow-fn", stage="pre_plan", kind="function", enforcement="mandatory",
              function="tests.executions.hook_fixtures.slow_function", timeout=1)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.FAILED and plan.error_category == "hook"
    assert "timed out after 1 s" in HookResult.objects.get(task=plan).message


def test_the_global_pages_are_linked_for_admins(admin_client_logged):
    page = admin_client_logged.get("/hooks/").content.decode()
    assert 'id="nav-hooks"' in page and "Global hooks" in page
    assert admin_client_logged.get("/policies/").status_code == 200
    assert admin_client_logged.get("/policies/playground/").status_code == 200
    response = admin_client_logged.post("/hooks/", {"name": "all", "stage": "on_failure", "kind": "script",
                                                    "enforcement": "advisory", "command": "true", "timeout": 5})
    assert response.status_code == 302 and Hook.objects.get().workspace is None
