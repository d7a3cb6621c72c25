import pytest
from django.core.management import CommandError, call_command

from executions.models import WorkspaceTask
from tests.executions.conftest import tf_json


def test_plan_apply_logs_cancel_lock_commands(workspace, save_code, run_now, capsys):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    call_command("plan", workspace.name, "--apply", "--message", "cli")
    assert "Queued run #" in capsys.readouterr().out
    plan = run_now(WorkspaceTask.objects.get())
    assert plan.status == "planned" and plan.message == "cli"

    call_command("logs", str(plan.pk), "--follow")
    out = capsys.readouterr().out
    assert "$ terraform plan" in out and "Run finished" in out

    call_command("apply", str(plan.pk), "--comment", "ok")
    apply = WorkspaceTask.objects.get(task_type="apply")
    assert "apply queued as run #%d" % apply.pk in capsys.readouterr().out
    call_command("cancel", str(apply.pk))
    apply.refresh_from_db()
    assert apply.status == "cancelled"

    call_command("lock", workspace.name, "--reason", "freeze")
    with pytest.raises(CommandError, match="freeze"):
        call_command("plan", workspace.name)
    call_command("unlock", workspace.name)
    workspace.refresh_from_db()
    assert not workspace.locked


def test_commands_fail_clearly_on_bad_input(workspace):
    with pytest.raises(CommandError, match="No workspace named 'nope'"):
        call_command("plan", "nope")
    with pytest.raises(CommandError, match="No run #4242"):
        call_command("logs", "4242")
    with pytest.raises(CommandError, match="is not a resource address"):
        call_command("plan", workspace.name, "--target", "bad target")
    assert not WorkspaceTask.objects.exists()
