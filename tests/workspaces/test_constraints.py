import pytest
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction

from executions.models import IllegalTransition, WorkspaceTask
from workspaces.models import StateVersion, Variable, Workspace


def test_second_running_task_per_workspace_is_rejected_by_the_database(workspace):
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="running")
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="running")


def test_running_tasks_on_different_workspaces_are_allowed(workspace):
    other = Workspace.objects.create(name="other")
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="running")
    WorkspaceTask.objects.create(workspace=other, task_type="plan", status="running")
    assert WorkspaceTask.objects.filter(status="running").count() == 2


def test_duplicate_state_serial_is_rejected(workspace):
    StateVersion.objects.create(workspace=workspace, serial=1, lineage="l", checksum="c", content="{}")
    with pytest.raises(IntegrityError), transaction.atomic():
        StateVersion.objects.create(workspace=workspace, serial=1, lineage="l", checksum="d", content="{}")


def test_apply_task_needs_its_plan(workspace):
    with pytest.raises(IntegrityError), transaction.atomic():
        WorkspaceTask.objects.create(workspace=workspace, task_type="apply")


def test_workspace_name_charset_enforced(db):
    with pytest.raises(ValidationError):
        Workspace(name="bad name!").full_clean()
    with pytest.raises(IntegrityError), transaction.atomic():
        Workspace.objects.create(name="bad name!")


def test_variable_key_validation(workspace):
    with pytest.raises(ValidationError, match="not a Terraform identifier"):
        Variable(workspace=workspace, key="1abc", category="terraform").full_clean()
    with pytest.raises(ValidationError, match="not an environment variable name"):
        Variable(workspace=workspace, key="A-B", category="env").full_clean()
    Variable(workspace=workspace, key="my-var_1", category="terraform").full_clean()


def test_version_pin_validation(db):
    with pytest.raises(ValidationError):
        Workspace(name="w", terraform_version="latest").full_clean()
    Workspace(name="w", terraform_version="1.15").full_clean()


def test_task_transitions_refuse_illegal_moves(workspace):
    task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan")
    with pytest.raises(IllegalTransition):
        task.transition(WorkspaceTask.Status.APPLIED)
    task.transition(WorkspaceTask.Status.QUEUED)
    task.transition(WorkspaceTask.Status.RUNNING)
    task.transition(WorkspaceTask.Status.FAILED, error="boom", category="internal")
    task.refresh_from_db()
    assert task.status == "failed" and task.error_message == "boom" and task.finished_at >= task.started_at
    assert task.is_terminal and task.stage == "done"


def _state(serial, lineage="lin-1", resources=()):
    import json

    return json.dumps({"version": 4, "terraform_version": "1.15.5", "serial": serial, "lineage": lineage,
                       "outputs": {"pw": {"value": "x", "type": "string", "sensitive": True}},
                       "resources": list(resources)})


def test_state_versions_sequential_numbering_and_checks(workspace):
    import json

    from iacplatform.errors import Conflict
    from workspaces.state.document import InvalidState
    from workspaces.state.services import state_version_create

    first = state_version_create(workspace=workspace, content=_state(4), sequential=True)
    assert first.serial == 1 and json.loads(first.content)["serial"] == 1
    assert first.outputs["pw"]["value"] == "(sensitive)"
    second = state_version_create(workspace=workspace, content=_state(3), sequential=True)
    assert second.serial == 2
    with pytest.raises(Conflict, match="went backwards"):
        state_version_create(workspace=workspace, content=_state(1), sequential=True)
    with pytest.raises(Conflict, match="Lineage"):
        state_version_create(workspace=workspace, content=_state(9, lineage="other"), sequential=True)
    with pytest.raises(Conflict, match="not newer"):
        state_version_create(workspace=workspace, content=_state(2))
    forced = state_version_create(workspace=workspace, content=_state(1, lineage="other"), force=True)
    assert forced.serial == 3 and forced.lineage == "other"
    for bad, message in (("nope", "not valid JSON"), ("[]", "JSON object"), ('{"version": 3}', "format version"),
                         ('{"version": 4, "serial": -1}', "serial"), ('{"version": 4, "serial": 1}', "lineage")):
        with pytest.raises(InvalidState, match=message):
            state_version_create(workspace=workspace, content=bad)
    assert workspace.state_versions.count() == 3
