"""Every error category, produced for real where Terraform can produce it on demand.

Each test asserts the category stored on the run, its hint, and the retry behaviour
(how many times terraform was started for the failing step). A fake terraform (a shell
script in front of the real one) only injects what real Terraform cannot produce here:
credentials refused, cloud API throttling, a crash.
"""

import json
import re
import threading
from pathlib import Path

import pytest

from executions.errors import CATEGORIES, classify, diagnostics
from executions.executor.logs import log_text
from executions.models import WorkspaceTask
from executions.services import task_cancel, task_confirm, task_queue_run
from executions.tasks import run_task
from resources.aggregation import resource_version_map
from tests.conftest import wait_for
from tests.executions.conftest import file_resource, tf_json
from workspaces.crypto import encrypt_bytes
from workspaces.models import StateVersion
from workspaces.services import variables_checksum

Status = WorkspaceTask.Status
UNREACHABLE_PROVIDER = {"terraform": {"required_providers": {"null": {"source": "hashicorp/null"}}},
                        "resource": {"terraform_data": {"a": {"input": "x"}}}}


# --- helpers shared by the failure-handling tests ---------------------------------------
def fake_terraform(tmp_path, settings, body: str = "", name: str = "fake-terraform"):
    """Put a script in front of the real terraform: it records every call, runs ``body``
    (bash; may ``exit``), then hands over to the real binary. Returns the calls file."""
    real = settings.TERRAFORM_BIN
    calls = tmp_path / f"{name}-calls.txt"
    script = tmp_path / name
    script.write_text(f'#!/bin/bash\necho "$*" >> {calls}\n{body}\nexec {real} "$@"\n')
    script.chmod(0o755)
    settings.TERRAFORM_BIN = str(script)
    return calls


def calls_of(calls_file, command: str | None = None) -> list[str]:
    lines = calls_file.read_text().splitlines() if calls_file.exists() else []
    return [line for line in lines if command is None or line.split(" ", 1)[0] == command]


def started(task, command: str) -> int:
    """How many times the run started ``terraform <command>`` (from its log)."""
    return len(re.findall(rf"^\$ terraform {command}\b", log_text(task), re.MULTILINE))


def run_in_thread(task) -> threading.Thread:
    """run_task in a thread of its own, as a worker would (its own database connection)."""
    from django.db import connection

    def target():
        try:
            run_task(task.pk)
        finally:
            connection.close()

    thread = threading.Thread(target=target)
    thread.start()
    return thread


def retry_waits(task) -> list[float]:
    return [float(w) for w in re.findall(r"retrying in ([0-9.]+) s", log_text(task))]


def assert_failed(task, category: str, *hint_parts: str, status=Status.FAILED):
    task.refresh_from_db()
    assert task.status == status, (task.status, task.error_message)
    assert task.error_category == category, (task.error_category, task.error_message)
    assert task.error_hint, "a failed run always carries a hint"
    for part in hint_parts:
        assert part in task.error_hint, (part, task.error_hint)
    info = task.error_info
    assert info["category"] == category and info["retryable"] == CATEGORIES[category].retryable
    assert f"error category: {CATEGORIES[category].label}" in log_text(task)
    return task


@pytest.fixture
def fast_retries(settings):
    settings.IAC_RETRY_ATTEMPTS = 3
    settings.IAC_RETRY_BASE_SECONDS = 0.05
    return settings


# --- configuration ------------------------------------------------------------------------
def test_configuration_error_from_terraform_is_not_retried(workspace, save_code, run_now, fast_retries):
    # Valid JSON (the pre-check passes), but an expression terraform cannot parse.
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "${foo(}"}}}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "configuration", "main.tf.json line 1", "Invalid expression")
    assert "Error: Invalid expression" in task.error_message
    assert started(task, "plan") == 1 and retry_waits(task) == []


# --- variable -------------------------------------------------------------------------------
def test_undeclared_variable(workspace, save_code, run_now, fast_retries):
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "${var.region}"}}}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "variable", 'Variable "region" is used but not declared')
    assert started(task, "plan") == 1 and retry_waits(task) == []


def test_invalid_variable_value(workspace, save_code, run_now, set_var, fast_retries):
    save_code(workspace, json.dumps({"variable": {"replicas": {"type": "number"}},
                                     "resource": {"terraform_data": {"a": {"input": "${var.replicas}"}}}}))
    set_var(workspace, "replicas", "three")
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "variable", 'Fix the value of variable "replicas"', "a number is required")
    assert started(task, "plan") == 1


def test_sensitive_value_never_reaches_error_hint_page_or_api(workspace, save_code, run_now, set_var,
                                                              auth_client, fast_retries):
    secret = "s3cr3t-Value-42"
    save_code(workspace, json.dumps({"variable": {"token": {"type": "number", "sensitive": True}},
                                     "resource": {"terraform_data": {"a": {"input": "${var.token}"}}}}))
    set_var(workspace, "token", secret, sensitive=True)
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "variable", 'variable "token"')
    for text in (task.error_message, task.error_hint, log_text(task),
                 auth_client.get(f"/api/v1/tasks/{task.pk}").content.decode(),
                 auth_client.get(f"/workspaces/{workspace.name}/runs/{task.pk}/").content.decode()):
        assert secret not in text


# --- network: the registry is unreachable from this machine ------------------------------
def test_unreachable_registry_is_network_and_retried(workspace, save_code, run_now, settings):
    settings.IAC_RETRY_ATTEMPTS = 2
    settings.IAC_RETRY_BASE_SECONDS = 0.05
    save_code(workspace, json.dumps(UNREACHABLE_PROVIDER))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "network", "registry.terraform.io is unreachable", "IAC_PROVIDER_MIRROR", "hashicorp/null")
    assert started(task, "init") == 2 and started(task, "plan") == 0
    assert "Failed to query available provider packages" in task.error_message


# --- provider checksum: the plan's lock file does not match the mirror's package -----------
def _fake_provider_mirror(tmp_path):
    mirror = tmp_path / "mirror"
    package = mirror / "registry.terraform.io/hashicorp/null/3.2.2/linux_amd64"
    package.mkdir(parents=True)
    binary = package / "terraform-provider-null_v3.2.2_x5"
    binary.write_text("#!/bin/sh\necho not-a-real-provider\n")
    binary.chmod(0o755)
    return mirror


LOCK_WITH_OTHER_CHECKSUM = """provider "registry.terraform.io/hashicorp/null" {
  version     = "3.2.2"
  constraints = "3.2.2"
  hashes = [
    "h1:zT1ZbegaAYHwQa+QwIFugArWikRJI9dqohj8xb0GY88=",
  ]
}
"""


def approved_plan(workspace, *, lock_file="", plan_file=b"not a plan: the apply must stop before using it"):
    """A plan waiting for confirmation, recorded as the pipeline records one (its context
    matches the workspace, so it is not stale)."""
    plan = WorkspaceTask.objects.create(
        workspace=workspace, task_type="plan_and_apply", status=Status.RUNNING, stage=WorkspaceTask.Stage.POST_PLAN,
        code_version=workspace.current_code_version, plan_file=encrypt_bytes(plan_file), lock_file=lock_file,
        has_changes=True,
        context={"code_version": workspace.current_code_version.number, "state_serial": None,
                 "variables_checksum": variables_checksum(workspace),
                 "resource_versions": resource_version_map(workspace)},
    )
    plan.transition(Status.PLANNED)
    return plan


def test_provider_checksum_mismatch_fails_init_once(workspace, save_code, run_now, tmp_path, settings,
                                                    fast_retries):
    settings.IAC_PROVIDER_MIRROR = str(_fake_provider_mirror(tmp_path))
    save_code(workspace, json.dumps({
        "terraform": {"required_providers": {"null": {"source": "hashicorp/null", "version": "3.2.2"}}},
        "resource": {"terraform_data": {"a": {"input": "x"}}}}))
    apply = task_confirm(task=approved_plan(workspace, lock_file=LOCK_WITH_OTHER_CHECKSUM))
    apply = run_now(apply)
    assert_failed(apply, "provider_checksum", "registry.terraform.io/hashicorp/null", "dependency lock file")
    assert started(apply, "init") == 1 and started(apply, "apply") == 0
    assert not StateVersion.objects.filter(workspace=workspace).exists()


def test_providers_in_the_mirror_install_without_the_registry(workspace, save_code, run_now, tmp_path, settings,
                                                             fast_retries):
    """The hint for `network` says "configure a provider mirror": with one, init needs no registry."""
    settings.IAC_PROVIDER_MIRROR = str(_fake_provider_mirror(tmp_path))
    save_code(workspace, json.dumps({
        "terraform": {"required_providers": {"null": {"source": "hashicorp/null", "version": "3.2.2"}}},
        "resource": {"terraform_data": {"a": {"input": "x"}}}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    text = log_text(task)
    assert "Installed hashicorp/null v3.2.2" in text and "Terraform has been successfully initialized" in text
    assert started(task, "init") == 1 and "registry.terraform.io is unreachable" not in task.error_hint
    # the fake package is no provider: plan fails to start it, as an unrecognised terraform error
    assert task.status == Status.FAILED and task.error_category == "unknown" and started(task, "plan") == 1


# --- state lock: another process holds terraform's lock on the state ----------------------
def hold_state_lock(state: Path, *, release: threading.Event, held: threading.Event):
    """Take terraform's own OS lock on ``state`` (as a running terraform does, lock info file
    included) until ``release`` is set."""
    import fcntl

    with open(state, "r+") as handle:
        fcntl.lockf(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        (state.parent / f".{state.name}.lock.info").write_text(json.dumps({
            "ID": "5f4dcc3b-5aa7-65d6-1d83-27de4c2a0c1e", "Operation": "OperationTypeApply", "Info": "",
            "Who": "operator@laptop", "Version": "1.15.5", "Created": "2026-01-01T00:00:00Z",
            "Path": str(state)}))
        held.set()
        release.wait(120)
        fcntl.lockf(handle, fcntl.LOCK_UN)


def test_state_lock_held_by_another_process(transactional_db, workspace, save_code, settings, fast_retries,
                                            tmp_path):
    # The run's state lives where another terraform holds its lock (a local backend path shared
    # by both), and the lock is taken before the run starts: no race with the run's own timing.
    shared = tmp_path / "shared" / "terraform.tfstate"
    shared.parent.mkdir()
    shared.write_text(json.dumps({"version": 4, "terraform_version": "1.15.5", "serial": 1,
                                  "lineage": "lock-test", "outputs": {}, "resources": []}))
    save_code(workspace, tf_json({"a": {"input": "x"}},
                                 extra={"terraform": {"backend": {"local": {"path": str(shared)}}}}))
    release, held = threading.Event(), threading.Event()
    holder = threading.Thread(target=hold_state_lock, args=(shared,), kwargs={"release": release, "held": held})
    holder.start()
    try:
        assert held.wait(30)
        task = task_queue_run(workspace=workspace, kind="plan")
        run_in_thread(task).join(120)
    finally:
        release.set()
        holder.join(30)
    assert_failed(task, "state_lock", "Another process holds the state lock",
                  "5f4dcc3b-5aa7-65d6-1d83-27de4c2a0c1e", "operator@laptop")
    assert "Error acquiring the state lock" in task.error_message
    assert started(task, "plan") == 3 and len(retry_waits(task)) == 2  # transient: retried, then given up


# --- stale plan -----------------------------------------------------------------------------
def test_stale_plan_is_refused_with_its_reason_and_not_retried(workspace, tmp_path, save_code, run_now, settings):
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = task_confirm(task=plan)
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt", "changed")}))
    calls = fake_terraform(tmp_path, settings)
    apply = run_now(apply)
    assert_failed(apply, "stale_plan", "plan again")
    assert "the code changed since the plan" in apply.error_message
    assert calls_of(calls) == [] and not (tmp_path / "a.txt").exists()


# --- timeout --------------------------------------------------------------------------------
def test_apply_timeout_stops_terraform_gracefully(workspace, tmp_path, save_code, run_now, settings):
    import time

    settings.IAC_CANCEL_GRACE_SECONDS = 2
    first = tmp_path / "first.txt"
    save_code(workspace, json.dumps({"resource": {"terraform_data": {
        "first": file_resource(first),
        "slow": {"input": "2", "depends_on": ["terraform_data.first"],
                 "provisioner": {"local-exec": {"command": "sleep 120"}}},
    }}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    workspace.timeouts = {"apply": 4}  # the workspace's override of IAC_TIMEOUT_APPLY
    workspace.full_clean()
    workspace.save()
    begun = time.monotonic()
    apply = run_now(task_confirm(task=plan))
    assert time.monotonic() - begun < 4 + 2 * settings.IAC_CANCEL_GRACE_SECONDS + 15
    assert_failed(apply, "timeout", "4 s timeout", "IAC_TIMEOUT_APPLY", "apply timeout")
    assert apply.error_message == "terraform apply timed out after 4 s."
    assert started(apply, "apply") == 1 and "timeout after 4 s: stopping terraform" in log_text(apply)
    # stopped like a cancel: terraform saved what it had done
    state = json.loads(StateVersion.objects.get(workspace=workspace).content)
    resources = {r["name"]: r["instances"][0] for r in state["resources"]}
    assert first.exists() and resources["first"].get("status") != "tainted"
    assert "slow" not in resources or resources["slow"]["status"] == "tainted"


def test_invalid_timeout_override_is_refused(workspace):
    from django.core.exceptions import ValidationError

    for bad in ({"apply": 0}, {"apply": "10"}, {"destroy": 10}, [5]):
        workspace.timeouts = bad
        with pytest.raises(ValidationError):
            workspace.full_clean()


# --- cancelled ------------------------------------------------------------------------------
def test_cancel_during_retry_wait_stops_retrying(transactional_db, workspace, save_code, settings):
    settings.IAC_RETRY_ATTEMPTS = 3
    settings.IAC_RETRY_BASE_SECONDS = 60
    save_code(workspace, json.dumps(UNREACHABLE_PROVIDER))
    task = task_queue_run(workspace=workspace, kind="plan")
    worker = run_in_thread(task)
    wait_for(lambda: "retrying in" in log_text(task), timeout=60, message="the first retry wait")
    task_cancel(task=task)
    worker.join(30)
    assert not worker.is_alive()
    assert_failed(task, "cancelled", "cancelled", status=Status.CANCELLED)
    assert task.error_message == "Cancelled while waiting to retry init."
    assert started(task, "init") == 1


# --- credentials and throttling: injected by a fake terraform ------------------------------
CREDENTIALS_ERROR = """
Error: configuring Terraform AWS Provider: validating provider credentials: retrieving caller identity from STS: operation error STS: GetCallerIdentity, https response error StatusCode: 403, RequestID: 0d5c, api error InvalidClientTokenId: The security token included in the request is invalid.

  with provider["registry.terraform.io/hashicorp/aws"],
  on provider.tf.json line 1, in provider.aws:
   1: {"provider": {"aws": {"region": "eu-west-1"}}}
"""
THROTTLING_ERROR = """
Error: reading EC2 Instances: operation error EC2: DescribeInstances, exceeded maximum number of attempts, 25, https response error StatusCode: 400, RequestID: 9f1e, api error RequestLimitExceeded: Request limit exceeded.

  with data.aws_instances.all,
  on main.tf.json line 1, in data.aws_instances.all:
"""


def fail_with(command: str, output: str) -> str:
    return f'if [ "$1" = {command} ]; then cat <<\'EOF\'\n{output}\nEOF\nexit 1; fi'


def test_credentials_refused_is_not_retried(workspace, save_code, run_now, tmp_path, settings, fast_retries):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    calls = fake_terraform(tmp_path, settings, fail_with("plan", CREDENTIALS_ERROR))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "credentials", "credentials")
    assert len(calls_of(calls, "plan")) == 1 and len(calls_of(calls, "init")) == 0  # terraform_data: no init


def test_throttling_is_retried_then_reported(workspace, save_code, run_now, tmp_path, settings, fast_retries):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    calls = fake_terraform(tmp_path, settings, fail_with("plan", THROTTLING_ERROR))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "throttling", "throttled")
    assert len(calls_of(calls, "plan")) == 3
    waits = retry_waits(task)
    assert len(waits) == 2 and waits[1] > waits[0]


# --- internal -------------------------------------------------------------------------------
def test_terraform_crash_is_internal(workspace, save_code, run_now, tmp_path, settings, fast_retries):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    crash = "!!!!!!!!!!!!!!!!!!!!!!!!!!! TERRAFORM CRASH !!!!!!!!!!!!!!!!!!!!!!!!!!!!\\npanic: runtime error"
    calls = fake_terraform(tmp_path, settings, f'if [ "$1" = plan ]; then printf "{crash}\\n"; exit 11; fi')
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "internal", "Terraform itself crashed")
    assert len(calls_of(calls, "plan")) == 1


def test_platform_fault_is_internal(workspace, save_code, run_now, monkeypatch):
    from executions.executor import pipeline

    def broken(*args, **kwargs):  # fault injection: a bug in the platform's own code
        raise RuntimeError("plan summary exploded")

    monkeypatch.setattr(pipeline, "summarize_plan", broken)
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert_failed(task, "internal", "inside the platform")
    assert "RuntimeError: plan summary exploded" in task.error_message


# --- shown on the run page and in the API ---------------------------------------------------
def test_category_and_hint_on_the_run_page_and_in_the_api(workspace, save_code, run_now, auth_client, fast_retries):
    save_code(workspace, json.dumps({"resource": {"terraform_data": {"a": {"input": "${var.region}"}}}}))
    task = run_now(task_queue_run(workspace=workspace, kind="plan"))
    html = auth_client.get(f"/workspaces/{workspace.name}/runs/{task.pk}/").content.decode()
    assert 'id="run-error-info" data-category="variable" data-retryable="false"' in html
    assert "Variable missing or invalid" in html and 'Variable &quot;region&quot; is used but not declared' in html
    body = auth_client.get(f"/api/v1/tasks/{task.pk}").json()
    assert body["error_category"] == "variable" and body["error_retryable"] is False
    assert 'Variable "region" is used but not declared' in body["error_hint"]
    listed = auth_client.get(f"/api/v1/workspaces/{workspace.name}/runs").json()
    assert listed[0]["error_hint"] == body["error_hint"]


def test_runs_recorded_before_hints_still_get_the_category_hint(workspace, auth_client):
    task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status=Status.FAILED,
                                        error_category="worker_lost", error_message="worker died")
    body = auth_client.get(f"/api/v1/tasks/{task.pk}").json()
    assert body["error_hint"] == CATEGORIES["worker_lost"].hint and body["error_retryable"] is False
    ok = WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status=Status.PLAN_FINISHED)
    body = auth_client.get(f"/api/v1/tasks/{ok.pk}").json()
    assert body["error_hint"] == "" and body["error_retryable"] is None
    html = auth_client.get(f"/workspaces/{workspace.name}/runs/{task.pk}/").content.decode()
    assert "Worker lost" in html and "run-error-hint" in html


# --- classification of terraform output (what the fakes cannot cover) -----------------------
@pytest.mark.parametrize("output, category", [
    ("Error: Error acquiring the state lock\n\nError message: ConditionalCheckFailedException", "state_lock"),
    ("Error: No valid credential sources found\n\nPlease see https://registry.terraform.io/...", "credentials"),
    ("Error: googleapi: Error 403: Forbidden, forbidden\n  with google_storage_bucket.b,", "credentials"),
    ("Error: creating S3 Bucket: SlowDown: Please reduce your request rate.", "throttling"),
    ("Error: Failed to download module\n\nCould not download module \"vpc\": dial tcp: i/o timeout", "network"),
    ("Error: Unsupported argument\n\n  on main.tf line 401, in resource \"x\" \"y\":", "configuration"),
    ("Error: Argument or block definition required\n\n  on main.tf line 3:", "configuration"),
    ("Error: Inconsistent dependency lock file\n\n  - provider registry.terraform.io/hashicorp/aws",
     "provider_checksum"),
    ("Error: Failed to save state\n\nthe lineage of the state does not match", "state_conflict"),
    ("Error: something nobody has seen before", "unknown"),
    ("Killed", "unknown"),
])
def test_classify_text_diagnostics(output, category):
    assert classify(output, 1).category == category


def test_warnings_are_not_errors():
    output = ("Warning: Value for undeclared variable\n\nThe root module does not declare a variable named \"x\"\n\n"
              "Error: Invalid expression\n\n  on main.tf.json line 1, in resource.terraform_data.a:\n")
    found = classify(output, 1)
    assert found.category == "configuration" and found.summary == "Invalid expression"
    assert [d.summary for d in diagnostics(output)] == ["Invalid expression"]


def test_classify_json_diagnostics():
    lines = [
        {"@level": "info", "@message": "Terraform 1.15.5", "type": "version"},
        {"@level": "error", "@message": "Error: No value for required variable", "type": "diagnostic",
         "diagnostic": {"severity": "error", "summary": "No value for required variable",
                        "detail": 'The root module input variable "region" is not set, and has no default value.',
                        "range": {"filename": "main.tf", "start": {"line": 1}}}},
    ]
    found = classify("\n".join(json.dumps(line) for line in lines), 1)
    assert found.category == "variable" and 'Set variable "region"' in found.hint


def test_signal_exit_and_flags():
    assert classify("", -9).category == "internal"
    assert classify("Error: x", 1, timed_out=True, what="plan", timeout=30).hint.startswith(
        "terraform plan ran longer than its 30 s timeout")
    assert classify("Error: x", 1, cancelled=True).category == "cancelled"
