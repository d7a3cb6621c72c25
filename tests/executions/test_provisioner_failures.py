"""Issue 16, bug 10: a local-exec that exits non-zero is a provisioner failure, and its hint
names the resource, the command and the exit code (it got the generic "not recognised" hint).
"""

import json

import pytest

from executions.errors import CATEGORIES, classify
from executions.services import task_confirm, task_queue_run
from tests.executions.test_failures import assert_failed

HUMAN = """terraform_data.broken (local-exec): denied
Error: local-exec provisioner error

  with terraform_data.broken,
  on main.tf.json line 1, in resource.terraform_data.broken.provisioner[0]:
   1: {"resource": {}}

Error running command 'echo Access Denied; exit 3': exit status 3.
Output: Access Denied
"""
JSON_LINE = json.dumps({
    "@level": "error", "@message": "Error: local-exec provisioner error", "type": "diagnostic",
    "diagnostic": {"severity": "error", "summary": "local-exec provisioner error",
                   "detail": "Error running command './deploy.sh --fast': exit status 42. Output: \n",
                   "address": "module.web.terraform_data.page[0]",
                   "range": {"filename": "modules/web/main.tf", "start": {"line": 3}}}})


def test_the_category_exists_and_is_not_retried():
    assert CATEGORIES["provisioner"].label == "Provisioner failed"
    assert CATEGORIES["provisioner"].retryable is False


@pytest.mark.parametrize("output, address, command, code", [
    (HUMAN, "terraform_data.broken", "echo Access Denied; exit 3", "3"),  # not "credentials"
    (JSON_LINE, "module.web.terraform_data.page[0]", "./deploy.sh --fast", "42"),
])
def test_classify_a_failed_local_exec(output, address, command, code):
    found = classify(output, 1)
    assert found.category == "provisioner" and found.summary == "local-exec provisioner error"
    assert f"local-exec provisioner of {address} failed" in found.hint
    assert f"`{command}` exited with code {code}" in found.hint


def test_a_real_apply_whose_local_exec_exits_3(workspace, save_code, run_now):
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"broken": {
        "input": "x", "provisioner": {"local-exec": {"command": "echo failing on purpose; exit 3"}}}}}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = assert_failed(run_now(task_confirm(task=plan)), "provisioner",
                          "terraform_data.broken", "`echo failing on purpose; exit 3` exited with code 3")
    assert "not recognise" not in apply.error_hint
