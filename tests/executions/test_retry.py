"""Retry policy: init and plan retry transient errors with growing, jittered waits, every
attempt logged; an apply is attempted exactly once, whatever its error."""

import json
import re
import threading
import time

from executions.executor.logs import log_text
from executions.executor.steps import retry_wait
from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.conftest import wait_for
from tests.executions.conftest import file_resource, tf_json
from tests.executions.test_failures import (
    THROTTLING_ERROR, UNREACHABLE_PROVIDER, assert_failed, calls_of, fail_with, fake_terraform, hold_state_lock,
    retry_waits, run_in_thread, started
)
from workspaces.models import StateVersion

Status = WorkspaceTask.Status


def test_unreachable_registry_init_is_retried_with_growing_waits(workspace, save_code, run_now, settings):
    settings.IAC_RETRY_ATTEMPTS = 3
    settings.IAC_RETRY_BASE_SECONDS = 0.4
    save_code(workspace, json.dumps(UNREACHABLE_PROVIDER))
    begun = time.monotonic()
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    elapsed = time.monotonic() - begun

    assert_failed(task, "network", "registry.terraform.io is unreachable", "IAC_PROVIDER_MIRROR")
    text = log_text(task)
    assert [int(n) for n in re.findall(r"terraform init: attempt (\d)/3", text)] == [1, 2, 3]
    assert started(task, "init") == 3 and started(task, "plan") == 0
    waits = retry_waits(task)
    assert len(waits) == 2
    assert 0.4 <= waits[0] <= 0.4 * 1.25 and 0.8 <= waits[1] <= 0.8 * 1.25 and waits[1] > waits[0]
    assert elapsed >= sum(waits)
    assert "terraform init failed (network) on all 3 attempts: giving up" in text
    # each attempt's own terraform output is in the log
    assert text.count("Failed to query available provider packages") >= 3


def test_attempts_setting_is_honoured(workspace, save_code, run_now, settings):
    settings.IAC_RETRY_ATTEMPTS = 1
    save_code(workspace, json.dumps(UNREACHABLE_PROVIDER))
    task = assert_failed(run_now(task_queue_run(workspace=workspace, kind="plan")), "network")
    assert started(task, "init") == 1 and retry_waits(task) == []
    assert "terraform init: attempt 1/1" in log_text(task)


def test_throttled_plan_succeeds_on_a_later_attempt(workspace, save_code, run_now, tmp_path, settings):
    settings.IAC_RETRY_ATTEMPTS = 3
    settings.IAC_RETRY_BASE_SECONDS = 0.05
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    marker = tmp_path / "throttled-once"
    # the cloud API throttles the first plan only
    calls = fake_terraform(tmp_path, settings, f'if [ "$1" = plan ] && [ ! -e {marker} ]; then touch {marker}\n'
                                               f"cat <<'EOF'\n{THROTTLING_ERROR}\nEOF\nexit 1; fi")
    task = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert task.status == Status.PLANNED, task.error_message
    assert task.error_category == "" and task.error_hint == ""
    assert len(calls_of(calls, "plan")) == 2
    text = log_text(task)
    assert "terraform plan failed (throttling, transient): retrying in" in text
    assert "terraform plan: attempt 2/3" in text and task.change_summary["add"] == 1


def test_state_lock_released_during_the_wait_lets_the_plan_through(transactional_db, workspace, save_code,
                                                                   settings, tmp_path):
    settings.IAC_RETRY_ATTEMPTS = 3
    settings.IAC_RETRY_BASE_SECONDS = 1
    # Another terraform holds the lock of a shared local-backend state before the run starts.
    shared = tmp_path / "shared" / "terraform.tfstate"
    shared.parent.mkdir()
    shared.write_text(json.dumps({"version": 4, "terraform_version": "1.15.5", "serial": 1,
                                  "lineage": "lock-test", "outputs": {}, "resources": []}))
    save_code(workspace, tf_json({"a": {"input": "x"}},
                                 extra={"terraform": {"backend": {"local": {"path": str(shared)}}}}))
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_state_lock, args=(shared,), kwargs={"release": release, "held": held})
    holder.start()
    assert held.wait(30)
    task = task_queue_run(workspace=workspace, kind="plan")
    try:
        worker = run_in_thread(task)
        wait_for(lambda: "failed (state_lock, transient): retrying in" in log_text(task), timeout=60,
                 message="the first plan attempt to hit the lock")
    finally:
        release.set()  # the other process finishes and unlocks
        holder.join(30)
    worker.join(120)
    task.refresh_from_db()
    assert task.status == Status.PLAN_FINISHED, task.error_message
    assert started(task, "plan") == 2 and "Error acquiring the state lock" in log_text(task)


def test_apply_is_attempted_exactly_once_even_when_the_error_is_transient(workspace, save_code, run_now,
                                                                          tmp_path, settings):
    settings.IAC_RETRY_ATTEMPTS = 5
    settings.IAC_RETRY_BASE_SECONDS = 0.05
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    calls = fake_terraform(tmp_path, settings, fail_with("apply", THROTTLING_ERROR))
    apply = assert_failed(run_now(task_confirm(task=plan)), "throttling")
    assert len(calls_of(calls, "apply")) == 1 and started(apply, "apply") == 1
    assert "terraform apply: attempt 1/1 (an apply is never retried automatically)" in log_text(apply)
    assert retry_waits(apply) == []


def test_real_apply_failure_is_attempted_once(workspace, save_code, run_now, tmp_path, settings):
    settings.IAC_RETRY_ATTEMPTS = 3
    done = tmp_path / "done.txt"
    save_code(workspace, json.dumps({"resource": {"terraform_data": {
        "ok": file_resource(done),
        "broken": {"input": "x", "depends_on": ["terraform_data.ok"],
                   "provisioner": {"local-exec": {"command": "echo failing on purpose; exit 3"}}},
    }}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = assert_failed(run_now(task_confirm(task=plan)), "provisioner", "exited with code 3")
    assert started(apply, "apply") == 1 and retry_waits(apply) == []
    assert "local-exec provisioner error" in apply.error_message
    # the partial state (the resource that was created) is saved
    names = {r["name"] for r in json.loads(StateVersion.objects.get(workspace=workspace).content)["resources"]}
    assert "ok" in names and done.exists()


def test_waits_grow_exponentially_with_bounded_jitter(settings):
    settings.IAC_RETRY_BASE_SECONDS = 2
    for _ in range(200):
        waits = [retry_wait(n) for n in range(1, 6)]
        assert all(2 * 2 ** i <= w <= 2 * 2 ** i * 1.25 for i, w in enumerate(waits))
        assert waits == sorted(waits) and len(set(waits)) == 5
    settings.IAC_RETRY_BASE_SECONDS = 1000
    assert retry_wait(8) == 300  # capped
