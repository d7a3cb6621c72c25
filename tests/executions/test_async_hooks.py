"""Asynchronous HTTP hooks (like HCP Terraform's run tasks): the hook acknowledges, then POSTs its
result to the callback URL with the callback token; the run waits for it (issue 13, part 2)."""

import json
import threading
import time
import urllib.error
import urllib.request
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.core import signing

from executions.hooks import CALLBACK_SALT, hook_save
from executions.models import HookCallback, HookResult, WorkspaceTask
from executions.services import task_queue_run
from tests.executions.conftest import tf_json

Status = WorkspaceTask.Status


class AsyncReceiver:
    """Answers 202 at once; ``delay`` seconds later POSTs ``result`` to the payload's callback URL
    with its token (unless ``result`` is None: it never calls back)."""

    def __init__(self, result, delay=0.5):
        self.payloads, self.callback_answers = [], []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802
                payload = json.loads(self.rfile.read(int(self.headers.get("Content-Length", 0))))
                receiver.payloads.append(payload)
                self.send_response(202)
                self.send_header("Content-Length", "0")
                self.end_headers()
                if result is not None:
                    threading.Thread(target=receiver.call_back, args=(payload, result, delay), daemon=True).start()

            def log_message(self, *args):
                pass

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()

    def call_back(self, payload, result, delay):
        time.sleep(delay)
        self.callback_answers.append(post(payload["callback_url"], payload["callback_token"], result))

    @property
    def url(self):
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/task"


def post(url, token, body):
    request = urllib.request.Request(url, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json", "Authorization": f"Bearer {token}"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


@pytest.fixture
def live(live_server, settings):
    settings.IAC_BASE_URL = live_server.url
    settings.IAC_HEARTBEAT_SECONDS = 120
    return live_server


def test_a_mandatory_async_hook_that_calls_back_failed_blocks_the_plan(transactional_db, workspace, save_code,
                                                                        run_now, live):
    receiver = AsyncReceiver({"status": "failed", "message": "run task: tags missing",
                              "url": "https://checks.example.test/42"})
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="tags", stage="post_plan", kind="http", enforcement="mandatory",
              url=receiver.url, secret="s3", timeout=20, asynchronous=True)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.FAILED and plan.error_category == "hook"
    assert "run task: tags missing" in plan.error_message
    result = HookResult.objects.get(task=plan)
    assert (result.status, result.url) == ("failed", "https://checks.example.test/42")
    assert 0.4 < result.duration < 20
    assert receiver.callback_answers == [(200, {"detail": "Recorded."})]
    payload = receiver.payloads[0]
    assert payload["callback_url"] == f"{live.url}/api/hook-callback/" and payload["run"]["id"] == plan.pk
    # the token is single-use per run and point: a second answer is refused
    assert post(payload["callback_url"], payload["callback_token"], {"status": "passed"})[0] == 409
    assert HookCallback.objects.get(task=plan).status == "failed"


def test_an_async_hook_that_calls_back_passed_lets_the_plan_through(transactional_db, workspace, save_code,
                                                                    run_now, live):
    receiver = AsyncReceiver({"status": "passed", "message": "all tagged"}, delay=0.2)
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="tags", stage="post_plan", kind="http", enforcement="mandatory",
              url=receiver.url, secret="s3", timeout=20, asynchronous=True)
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED, plan.error_message
    assert HookResult.objects.get(task=plan).message == "all tagged"


def test_an_async_hook_that_never_calls_back_fails_after_its_timeout(transactional_db, workspace, save_code,
                                                                    run_now, live):
    receiver = AsyncReceiver(None)
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    hook_save(workspace=workspace, name="silent", stage="post_plan", kind="http", enforcement="advisory",
              url=receiver.url, secret="s3", timeout=2, asynchronous=True)
    started = time.monotonic()
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED  # advisory: a warning
    result = HookResult.objects.get(task=plan)
    assert result.status == "failed" and result.message == "no callback within 2 s" and result.is_warning
    assert time.monotonic() - started >= 2


def test_the_callback_refuses_bad_tokens_and_bad_bodies(transactional_db, workspace, live):
    url = f"{live.url}/api/hook-callback/"
    hook = hook_save(workspace=workspace, name="h", stage="post_plan", kind="http", enforcement="advisory",
                     url="http://127.0.0.1:9/", timeout=5, asynchronous=True)
    task = task_queue_run(workspace=workspace, kind="plan")
    token = signing.dumps({"task": task.pk, "hook": hook.pk, "stage": "post_plan"}, salt=CALLBACK_SALT)
    assert post(url, "", {"status": "passed"})[0] == 401
    assert post(url, token[:-2] + "xx", {"status": "passed"})[0] == 401
    status, body = post(url, token, {"status": "maybe"})
    assert status == 400 and body["errors"] == {"status": ["passed or failed"]}
    assert post(url, token, {"status": "passed", "url": "javascript:alert(1)"})[0] == 400
    # an expired token (the hook's timeout + a minute): signed 10 minutes ago
    old = signing.TimestampSigner(salt=CALLBACK_SALT)
    old.timestamp = lambda: signing.b62_encode(int(time.time()) - 600)
    expired = old.sign_object({"task": task.pk, "hook": hook.pk, "stage": "post_plan"})
    status, body = post(url, expired, {"status": "passed"})
    assert status == 401 and "expired" in body["detail"]
    assert not HookCallback.objects.exists()
    assert post(url, token, {"status": "passed", "message": "ok"}) == (200, {"detail": "Recorded."})


def test_the_hook_form_and_api_keep_the_asynchronous_flag(workspace, admin_client_logged):
    response = admin_client_logged.post(f"/api/v1/workspaces/{workspace.name}/hooks", {
        "name": "async", "stage": "pre_apply", "kind": "http", "url": "https://tasks.example.test/",
        "asynchronous": True, "timeout": 600}, content_type="application/json")
    assert response.status_code == 201 and response.json()["asynchronous"] is True
    page = admin_client_logged.get(f"/workspaces/{workspace.name}/settings/hooks/").content.decode()
    assert "(asynchronous)" in page and 'name="asynchronous"' in page
