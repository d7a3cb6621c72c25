"""The ``localfile`` test provider (tests/fixtures/provider) under the real, embedded Terraform,
installed from a filesystem mirror with no registry: create, drift, restore, refused credentials.
"""

import json
import os
import signal
import subprocess
import time

import pytest
from django.conf import settings

from executions.executor.config import cli_config
from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.fixtures.provider_mirror import (
    BAD_TOKEN, CREDENTIALS_ERROR, INTERRUPTED_ERROR, NAME, SOURCE, TOKEN_ENV, VERSION,
    cli_config_text, required_providers,
)


@pytest.fixture
def tf(tmp_path, provider_mirror):
    """Run the embedded terraform in ``tmp_path/work`` with a CLI config that uses the mirror."""
    workdir = tmp_path / "work"
    workdir.mkdir()
    config = tmp_path / "cli.tfrc"
    config.write_text(cli_config_text(provider_mirror))

    env = {
        "PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "LANG": "C.UTF-8",
        "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(config),
    }

    def command(args):
        name, *rest = args
        flags = ["-input=false", "-no-color"] if name in ("init", "plan", "apply", "destroy") else ["-no-color"]
        return [settings.TERRAFORM_BIN, name, *flags, *rest]

    def _run(*args, env=None, timeout=60):
        return subprocess.run(command(args), cwd=workdir, env={**_run.env, **(env or {})},
                              capture_output=True, text=True, timeout=timeout)

    _run.workdir, _run.env, _run.command = workdir, env, command
    return _run


def write_code(workdir, resources: dict, provider: dict | None = None):
    doc = {"terraform": required_providers(), "resource": {"localfile_file": resources}}
    if provider is not None:
        doc["provider"] = {NAME: provider}
    (workdir / "main.tf.json").write_text(json.dumps(doc, indent=2))


def test_init_installs_from_the_mirror_and_apply_creates_files(tf, tmp_path):
    fast, slow = tmp_path / "out" / "fast.txt", tmp_path / "slow.txt"
    write_code(tf.workdir, {"fast": {"path": str(fast), "content": "hello\n"},
                            "slow": {"path": str(slow), "content": "later", "delay_seconds": 0.5}})
    init = tf("init")
    assert init.returncode == 0, init.stderr
    assert f"Installed {SOURCE} v{VERSION} (unauthenticated)" in init.stdout
    assert SOURCE in (tf.workdir / ".terraform.lock.hcl").read_text()

    started = time.monotonic()
    apply = tf("apply", "-auto-approve")
    assert apply.returncode == 0, apply.stderr
    assert time.monotonic() - started >= 0.5  # the slow create slept
    assert "Apply complete! Resources: 2 added" in apply.stdout
    assert fast.read_text() == "hello\n" and slow.read_text() == "later"
    state = json.loads((tf.workdir / "terraform.tfstate").read_text())
    assert {r["provider"] for r in state["resources"]} == {f'provider["{SOURCE}"]'}

    # a new path replaces the resource: the old file goes, the new one comes
    moved = tmp_path / "moved.txt"
    write_code(tf.workdir, {"fast": {"path": str(moved), "content": "hello\n"}})
    apply = tf("apply", "-auto-approve")
    assert apply.returncode == 0, apply.stderr
    assert "1 added, 0 changed, 2 destroyed" in apply.stdout
    assert moved.read_text() == "hello\n" and not fast.exists() and not slow.exists()

    destroy = tf("destroy", "-auto-approve")
    assert destroy.returncode == 0, destroy.stderr
    assert not moved.exists()


def test_change_on_disk_is_drift_and_apply_restores_it(tf, tmp_path):
    target = tmp_path / "managed.txt"
    write_code(tf.workdir, {"a": {"path": str(target), "content": "as declared"}})
    assert tf("init").returncode == 0
    assert tf("apply", "-auto-approve").returncode == 0
    assert target.read_text() == "as declared"

    target.write_text("edited by hand")
    drift = tf("plan", "-refresh-only", "-detailed-exitcode", "-out=drift.tfplan")
    assert drift.returncode == 2, drift.stdout + drift.stderr
    assert "Objects have changed outside of Terraform" in drift.stdout
    assert "localfile_file.a has changed" in drift.stdout
    assert '~ content = "as declared" -> "edited by hand"' in drift.stdout

    shown = tf("show", "-json", "drift.tfplan")
    assert shown.returncode == 0, shown.stderr
    (change,) = json.loads(shown.stdout)["resource_drift"]
    assert change["address"] == "localfile_file.a" and change["change"]["actions"] == ["update"]
    assert change["change"]["before"]["content"] == "as declared"
    assert change["change"]["after"]["content"] == "edited by hand"

    apply = tf("apply", "-auto-approve")
    assert apply.returncode == 0, apply.stderr
    assert "0 added, 1 changed, 0 destroyed" in apply.stdout
    assert target.read_text() == "as declared"

    target.unlink()  # deleted outside terraform: planned to be created again
    gone = tf("plan", "-detailed-exitcode")
    assert gone.returncode == 2 and "localfile_file.a will be created" in gone.stdout


def test_interrupting_a_slow_create_writes_nothing(tf, tmp_path):
    """SIGINT to the run's process group (as a cancel sends it): terraform asks the provider to
    stop, the create still waiting gives up, and neither disk nor state holds the resource."""
    target = tmp_path / "slow.txt"
    write_code(tf.workdir, {"s": {"path": str(target), "content": "slow", "delay_seconds": 30}})
    assert tf("init").returncode == 0
    process = subprocess.Popen(tf.command(["apply", "-auto-approve"]), cwd=tf.workdir, env=tf.env,
                               stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, start_new_session=True)
    try:
        lines = []
        for line in process.stdout:
            lines.append(line)
            if "Creating..." in line:
                break
        interrupted = time.monotonic()
        os.killpg(process.pid, signal.SIGINT)
        output = "".join(lines) + process.stdout.read()
        assert process.wait(timeout=20) == 1
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()
    assert time.monotonic() - interrupted < 10, "the create did not stop early"
    assert f"Error: {INTERRUPTED_ERROR}" in output and "Plugin did not respond" not in output
    assert not target.exists()
    state = json.loads((tf.workdir / "terraform.tfstate").read_text())
    assert state["resources"] == []


@pytest.mark.parametrize("where", ["provider block", "environment"])
def test_refused_credentials_fail_the_plan(tf, tmp_path, where):
    target = tmp_path / "never.txt"
    write_code(tf.workdir, {"a": {"path": str(target), "content": "x"}},
               provider={"token": BAD_TOKEN} if where == "provider block" else {})
    assert tf("init").returncode == 0
    plan = tf("plan", "-detailed-exitcode", env={TOKEN_ENV: BAD_TOKEN} if where == "environment" else None)
    assert plan.returncode == 1
    assert f"Error: {CREDENTIALS_ERROR}" in plan.stderr
    assert not target.exists()


def test_the_platforms_own_cli_config_installs_the_provider(tmp_path, use_provider_mirror):
    """``executions.executor.config.cli_config`` (IAC_PROVIDER_MIRROR + plugin cache) works with the mirror."""
    workdir = tmp_path / "platform"
    workdir.mkdir()
    text = cli_config(workdir).read_text()
    assert f'"{SOURCE}"' in text and str(use_provider_mirror) in text
    write_code(workdir, {"a": {"path": str(tmp_path / "via-platform.txt"), "content": "ok"}})
    env = {"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path), "TF_IN_AUTOMATION": "1",
           "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": str(workdir / ".terraformrc")}
    for args in (["init"], ["apply", "-auto-approve"]):
        result = subprocess.run([settings.TERRAFORM_BIN, *args, "-input=false", "-no-color"], cwd=workdir, env=env,
                                capture_output=True, text=True, timeout=60)
        assert result.returncode == 0, result.stderr
    assert (tmp_path / "via-platform.txt").read_text() == "ok"


def test_a_platform_run_creates_the_resource(workspace, user, tmp_path, save_code, run_now, use_provider_mirror):
    """The whole pipeline (init → plan → confirm → apply) with the provider from the mirror."""
    target = tmp_path / "from-run.txt"
    save_code(workspace, json.dumps({"terraform": required_providers(),
                                     "resource": {"localfile_file": {"a": {"path": str(target), "content": "run"}}}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", user=user))
    assert plan.status == WorkspaceTask.Status.PLANNED, plan.error_message
    assert SOURCE in plan.lock_file and not target.exists()
    apply = run_now(task_confirm(task=plan, user=user))
    assert apply.status == WorkspaceTask.Status.APPLIED, apply.error_message
    assert target.read_text() == "run"
