"""The examples of docs/hooks-and-policies.md work: each is taken from the page and run for real."""

import json
import re
import threading
import types
from http.server import HTTPServer
from pathlib import Path

import pytest

from executions.hooks import hook_save
from executions.models import HookResult, PolicyResult, WorkspaceTask
from executions.policies import policy_set_save
from executions.services import task_confirm, task_queue_run

DOC = Path(__file__).resolve().parents[2] / "docs" / "hooks-and-policies.md"
Status = WorkspaceTask.Status


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    """The run is in the test's transaction, which the heartbeat thread's own connection cannot
    see: a beat during a long run (hooks with timeouts, a loaded machine) would find no row and
    give the run up. Beat less often than these runs last."""
    settings.IAC_HEARTBEAT_SECONDS = 120


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", DOC.read_text(), re.S)


def python_block(first_line: str) -> str:
    return next(block for block in blocks("python") if block.startswith(first_line))


def test_the_script_hook_example_fails_a_plan_that_destroys(workspace, save_code, run_now, tmp_path):
    script = tmp_path / "no_destroy.py"
    script.write_text(python_block("# no_destroy.py"))
    hook_save(workspace=workspace, name="no-destroy", stage="post_plan", kind="script", enforcement="mandatory",
              command=f"python3 {script}", timeout=30)
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "x"}}}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED and HookResult.objects.get(task=plan).message == "nothing destroyed"
    assert run_now(task_confirm(task=plan)).status == Status.APPLIED
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"b": {"input": "y"}}}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.FAILED and plan.error_category == "hook"
    assert "destroys: terraform_data.a" in plan.error_message


def test_the_http_receiver_example_checks_the_signature(workspace, save_code, run_now):
    module = types.ModuleType("receiver")
    exec(python_block("# receiver.py"), module.__dict__)  # noqa: S102 — the documentation's own example
    server = HTTPServer(("127.0.0.1", 0), module.Hook)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        url = f"http://127.0.0.1:{server.server_address[1]}/"
        hook_save(workspace=workspace, name="good", stage="post_plan", kind="http", enforcement="advisory",
                  url=url, secret=module.SECRET.decode())
        hook_save(workspace=workspace, name="wrong-secret", stage="post_plan", kind="http", enforcement="advisory",
                  url=url, secret="not it")
        save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "x"}}}}))
        plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
        results = {r.name: (r.status, r.message) for r in HookResult.objects.filter(task=plan)}
        assert results == {"good": ("passed", "signature ok"), "wrong-secret": ("failed", "bad signature")}
    finally:
        server.shutdown()
        server.server_close()


def test_the_function_hook_example(settings):
    module = types.ModuleType("examples")
    exec(python_block("# mycompany/hooks.py"), module.__dict__)  # noqa: S102
    context = types.SimpleNamespace(plan_summary={"add": 60, "change": 0, "destroy": 0})
    assert module.small_changes_only(context) == {"status": "failed", "message": "60 changes"}


def test_the_policy_example_denies_prod_without_owner_and_a_cost_rise(workspace, save_code, run_now, tmp_path,
                                                                      settings):
    prices = tmp_path / "prices.json"
    prices.write_text(next(b for b in blocks("json") if '"prices"' in b))  # the catalog example of the page
    settings.IAC_PRICING_FILE = str(prices)
    rego = next(b for b in blocks("rego") if "package terraform.owner" in b)
    policy_set_save(workspace=workspace, name="doc", enforcement="hard_mandatory", rego=rego)
    save_code(workspace, json.dumps({"resource": {"terraform_data": {
        "web": {"input": {"env": "prod", "size": "large"}}, "db": {"input": {"env": "prod", "owner": "x",
                                                                             "size": "small"}}}}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == Status.FAILED and plan.error_category == "policy"
    assert sorted(PolicyResult.objects.get(task=plan).denies) == [
        "monthly cost rises by 35.5 (limit 20)", "terraform_data.web: env prod needs an owner"]
