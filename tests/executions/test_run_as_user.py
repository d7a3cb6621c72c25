"""Terraform cannot read the platform's secrets: as root, the worker runs terraform and its
provisioners as IAC_RUN_AS_USER, each run with a group of its own."""

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

from executions.executor.config import create_workdir
from executions.executor.isolation import hand_over
from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import tf_json
from workspaces.models import StateVersion, Workspace

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="dropping to another OS user needs a root worker")
RUN_USER = "iac-run"


@pytest.fixture
def isolated(settings):
    """A data dir laid out as a real one (secret key, SQLite file, another run's work dir)."""
    if subprocess.run(["id", RUN_USER], capture_output=True).returncode != 0:
        subprocess.run(["useradd", "--system", "--no-create-home", "--shell", "/usr/sbin/nologin", RUN_USER],
                       check=True)
    data = Path(tempfile.mkdtemp(prefix="iac-runas-"))  # /tmp is world-traversable
    results = Path(tempfile.mkdtemp(prefix="iac-runas-results-"))
    results.chmod(0o777)
    (data / "secret_key").write_text("the-platform-secret-key")
    (data / "db.sqlite3").write_text("SQLite format 3 … every encrypted secret")
    for path in (data / "secret_key", data / "db.sqlite3"):
        path.chmod(0o644)  # as a careless umask would leave them: hardening must fix it
    settings.DATA_DIR = data
    settings.IAC_WORK_DIR = data / "work"
    settings.IAC_STATE_BACKUP_DIR = data / "state-backups"
    settings.IAC_PLUGIN_CACHE_DIR = data / "plugin-cache"
    settings.IAC_RUN_AS_USER = RUN_USER
    yield data, results
    shutil.rmtree(data, ignore_errors=True)
    shutil.rmtree(results, ignore_errors=True)


def test_a_run_cannot_read_the_secret_key_the_database_or_another_runs_work_dir(workspace, isolated, run_now,
                                                                                save_code):
    data, results = isolated
    other_ws = Workspace.objects.create(name="other")
    other_task = WorkspaceTask.objects.create(workspace=other_ws, task_type="plan")
    other_dir = create_workdir(other_task)  # another run, live at the same time
    (other_dir / "terraform.tfstate").write_text('{"secret": "of another workspace"}')
    hand_over(other_dir, other_task)
    command = "; ".join([
        f"id -u > {results}/uid",
        f"cat {data}/secret_key > {results}/key 2> {results}/key.err",
        f"cat {data}/db.sqlite3 > {results}/db 2> {results}/db.err",
        f"cat {other_dir}/terraform.tfstate > {results}/other 2> {results}/other.err",
        f"ls {data}/work > {results}/ls 2> {results}/ls.err",
        f"echo mine > own.txt && cat own.txt > {results}/own",
    ])
    save_code(workspace, tf_json({"probe": {"input": "x", "provisioner": {"local-exec": {"command": command}}}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = run_now(task_confirm(task=plan))
    assert apply.status == WorkspaceTask.Status.APPLIED, apply.error_message
    assert StateVersion.objects.filter(workspace=workspace).exists()
    assert int((results / "uid").read_text()) == int(subprocess.run(["id", "-u", RUN_USER], capture_output=True,
                                                                    text=True).stdout)
    for name in ("key", "db", "other"):
        assert (results / name).read_text() == "", name
        assert "Permission denied" in (results / f"{name}.err").read_text(), name
    assert "Permission denied" in (results / "ls.err").read_text()  # other runs' dirs are not even listed
    assert (results / "own").read_text().strip() == "mine"  # its own work dir is its own
    assert oct((data / "secret_key").stat().st_mode & 0o777) == "0o600"


def test_a_script_hook_runs_as_the_runs_user_and_reads_the_plan_json(workspace, isolated, run_now, save_code):
    from executions.hooks import hook_save
    from executions.models import HookResult

    data, results = isolated
    hook_save(workspace=workspace, name="who", stage="post_plan", kind="script", enforcement="mandatory",
              command=f'id -u > {results}/hook-uid; test -r "$IAC_PLAN_JSON" && '
                      f'cat {data}/secret_key 2> {results}/hook-key.err; true')
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan"))
    assert plan.status == WorkspaceTask.Status.PLAN_FINISHED, plan.error_message
    assert HookResult.objects.get(task=plan).status == "passed"
    assert int((results / "hook-uid").read_text()) == int(subprocess.run(["id", "-u", RUN_USER],
                                                                         capture_output=True, text=True).stdout)
    assert "Permission denied" in (results / "hook-key.err").read_text()
