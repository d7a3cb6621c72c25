"""A state save that keeps failing at the database: 5 attempts, a 0600 backup, the workspace locked,
the task failed, an emergency notification; the retry command restores it and unlocks.

The same fault is produced for real elsewhere — a stopped temporary PostgreSQL cluster during the
state save (tests/e2e/test_emergency_banner.py, tests/executions/test_database_outage.py); here
the save is refused by a patched function because only that makes it fail exactly five times on
demand, which is what this test counts."""

import json
import stat

import pytest
from django.core.management import call_command
from django.db import OperationalError

from executions.models import Notification, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from iacplatform.errors import WorkspaceLocked
from tests.executions.conftest import file_resource, tf_json
from workspaces.models import StateVersion
from workspaces.state import services as state_services

Status = WorkspaceTask.Status


def test_state_save_failure_backs_up_locks_and_restores(workspace, tmp_path, save_code, run_now, settings,
                                                        monkeypatch):
    settings.IAC_STATE_SAVE_BACKOFF = 0
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = task_confirm(task=plan)

    real_create = state_services.state_version_create
    attempts = []

    def failing_create(**kwargs):  # fault injection: the database refuses every save
        attempts.append(kwargs["content"])
        raise OperationalError("could not write to the database (injected fault)")

    monkeypatch.setattr(state_services, "state_version_create", failing_create)
    apply = run_now(apply)
    monkeypatch.setattr(state_services, "state_version_create", real_create)

    assert len(attempts) == 5
    assert apply.status == Status.FAILED and apply.error_category == "state_save"
    assert (tmp_path / "a.txt").exists()  # the apply itself happened
    backups = list(settings.IAC_STATE_BACKUP_DIR.glob(f"ws{workspace.pk}_task{apply.pk}_*.tfstate"))
    assert len(backups) == 1
    backup = backups[0]
    assert stat.S_IMODE(backup.stat().st_mode) == 0o600
    assert backup.read_text() == attempts[0]
    assert json.loads(backup.read_text())["serial"] >= 1
    workspace.refresh_from_db()
    assert workspace.locked and str(backup) in workspace.lock_reason
    assert str(backup) in apply.error_message
    assert Notification.objects.filter(level="emergency", workspace=workspace, task=apply).exists()
    assert not StateVersion.objects.filter(workspace=workspace).exists()
    with pytest.raises(WorkspaceLocked):
        task_queue_run(workspace=workspace, kind="plan")

    call_command("retry_state_save", workspace.name)
    workspace.refresh_from_db()
    assert not workspace.locked
    version = StateVersion.objects.get(workspace=workspace)
    restored, original = json.loads(version.content), json.loads(attempts[0])
    assert version.source == "backup_restore" and version.serial == 1 and restored["serial"] == 1
    assert restored["lineage"] == original["lineage"] and restored["resources"] == original["resources"]
    assert not backup.exists()  # renamed to .restored-…
    # the next plan starts from the restored state: nothing to change
    again = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert again.status == Status.PLANNED_NO_CHANGES


def test_retry_command_without_backup_fails_clearly(workspace):
    from django.core.management import CommandError

    with pytest.raises(CommandError, match="no state backup"):
        call_command("retry_state_save", workspace.name)
