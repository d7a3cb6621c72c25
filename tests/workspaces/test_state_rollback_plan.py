"""State rollback, end to end with real Terraform through the executor (issue 5, acceptance 2).

Two applies make state versions 1 and 2; comparing them lists the added / changed /
removed addresses and the changed attributes, a sensitive one masked; rolling the state
back to 1 makes serial 3 with version 1's resources, and the next plan (code unchanged,
still version 2) is computed against it: version 2's changes have to be made again.

The resources are ``terraform_data`` whose ``local-exec`` provisioner appends "created" to a
file per resource, so what Terraform created is checked on disk. (No destroy-time
provisioner: Terraform does not run one for a resource removed from the configuration.)
"""

import json

from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run
from executions.tasks import run_task
from tests.executions.conftest import tf_json
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion
from workspaces.services import variable_set
from workspaces.state import compare as state_compare_mod
from workspaces.state import services as state_services

Status = WorkspaceTask.Status
PASSWORD_1 = "Rollback-secret-ONE-4d1e"
PASSWORD_2 = "Rollback-secret-TWO-8b3f"


def logged_resource(log, value):
    """A terraform_data whose provisioner appends "created" to ``log`` each time it is created."""
    return {"input": value, "provisioner": {"local-exec": {"command": f"echo created >> {log}"}}}


OUTPUTS = {"pw": {"value": "${var.pw}", "sensitive": True}, "a_name": {"value": "${terraform_data.a.output.name}"}}


def code_v1(out):
    return tf_json(
        {"a": logged_resource(out / "a.log", {"name": "one", "password": "${var.pw}"}),
         "b": logged_resource(out / "b.log", "bee")},
        outputs=OUTPUTS,
    )


def code_v2(out):
    """a changed (its name), b removed, c added."""
    return tf_json(
        {"a": logged_resource(out / "a.log", {"name": "two", "password": "${var.pw}"}),
         "c": logged_resource(out / "c.log", "sea")},
        outputs=OUTPUTS,
    )


def run(task) -> WorkspaceTask:
    """Run a queued task in this process, as a worker would."""
    run_task(task.pk)
    return WorkspaceTask.objects.get(pk=task.pk)


def plan_and_apply(workspace) -> tuple[WorkspaceTask, WorkspaceTask]:
    plan = run(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED, plan.error_message
    apply = run(task_confirm(task=plan))
    assert apply.status == Status.APPLIED, apply.error_message
    return plan, apply


def lines(path) -> list[str]:
    return path.read_text().split() if path.exists() else []


def actions(plan: WorkspaceTask) -> dict[str, str]:
    return {r["address"]: r["action"] for r in plan.change_summary["resources"] if r["action"] != "no-op"}


def attributes(plan: WorkspaceTask, address: str) -> dict[str, dict]:
    resource = next(r for r in plan.change_summary["resources"] if r["address"] == address)
    return {a["name"]: a for a in resource["changed_attributes"]}


def test_rollback_makes_serial_3_with_version_1_resources_and_the_next_plan_reflects_it(workspace, tmp_path):
    out = tmp_path / "out"
    out.mkdir()
    variable_set(workspace=workspace, key="pw", value=PASSWORD_1, sensitive=True)

    # apply 1: code v1 (a, b) -> state version 1
    code_version_save(workspace=workspace, code=code_v1(out), message="a and b")
    plan_and_apply(workspace)
    assert lines(out / "a.log") == ["created"] and lines(out / "b.log") == ["created"]
    assert not (out / "c.log").exists()

    # apply 2: code v2 (a changed, b removed, c added) and a new password -> state version 2
    code_version_save(workspace=workspace, code=code_v2(out), message="a renamed, b -> c")
    variable_set(workspace=workspace, key="pw", value=PASSWORD_2, sensitive=True)
    plan2, _ = plan_and_apply(workspace)
    assert actions(plan2) == {"terraform_data.a": "update", "terraform_data.b": "delete",
                              "terraform_data.c": "create"}
    # the old password is still in the state, under terraform_data's unmarked `output` copy
    assert PASSWORD_1 not in json.dumps(plan2.change_summary)
    assert lines(out / "a.log") == ["created"]  # updated in place: no new provisioner run
    assert lines(out / "b.log") == ["created"]
    assert lines(out / "c.log") == ["created"]
    first, second = StateVersion.objects.filter(workspace=workspace).order_by("serial")
    assert (first.serial, second.serial) == (1, 2)
    assert first.lineage == second.lineage

    # the code and the state agree: nothing to do
    settled = run(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert settled.status == Status.PLANNED_NO_CHANGES, settled.error_message
    assert settled.context["state_serial"] == 2 and not actions(settled)

    # compare 1 <-> 2: added / changed / removed addresses and the changed attributes
    comparison = state_compare_mod.state_compare(workspace=workspace, from_serial=1, to_serial=2)
    assert [c.address for c in comparison.added] == ["terraform_data.c"]
    assert [c.address for c in comparison.removed] == ["terraform_data.b"]
    assert [c.address for c in comparison.changed] == ["terraform_data.a"]
    assert comparison.unchanged == 0
    changed = {a.name: a for a in comparison.changed[0].attributes}
    assert (changed["input.name"].before, changed["input.name"].after) == ("one", "two")
    assert not changed["input.name"].sensitive
    password = changed["input.password"]
    assert password.sensitive and (password.before_text, password.after_text) == ("(sensitive)", "(sensitive)")
    # Terraform stores the same password unmarked under output: masked there too
    assert changed["output.password"].sensitive
    assert changed["output.password"].after_text == "(sensitive)"
    assert "id" not in changed  # updated in place: same id
    outputs = {o.name: o for o in comparison.outputs}
    assert set(outputs) == {"a_name", "pw"}
    assert (outputs["a_name"].before, outputs["a_name"].after) == ("one", "two")
    assert outputs["pw"].sensitive and outputs["pw"].before == outputs["pw"].after == "(sensitive)"
    shown = repr(comparison.changes) + repr(comparison.outputs)
    assert PASSWORD_1 not in shown and PASSWORD_2 not in shown

    # roll back to state version 1: serial 3, same lineage, version 1's resources
    third = state_services.state_rollback(workspace=workspace, serial=1)
    assert third.serial == 3 and third.lineage == first.lineage and third.source == "rollback"
    data = json.loads(third.content)
    assert data["serial"] == 3 and data["lineage"] == first.lineage
    assert data["resources"] == json.loads(first.content)["resources"]
    assert state_compare_mod.state_compare(workspace=workspace, from_serial=1, to_serial=3).identical
    back = state_compare_mod.state_compare(workspace=workspace, from_serial=2, to_serial=3)
    assert ([c.address for c in back.added], [c.address for c in back.removed], [c.address for c in back.changed]) \
        == (["terraform_data.b"], ["terraform_data.c"], ["terraform_data.a"])

    # the next plan (code still v2) starts from serial 3: c to add again, b to destroy, a to change
    plan = run(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    assert plan.status == Status.PLANNED, plan.error_message
    assert plan.context["state_serial"] == 3
    assert plan.code_version.number == 2
    summary = plan.change_summary
    assert (summary["add"], summary["change"], summary["destroy"], summary["replace"]) == (1, 1, 1, 0)
    assert actions(plan) == {"terraform_data.a": "update", "terraform_data.b": "delete",
                             "terraform_data.c": "create"}
    a_changes = attributes(plan, "terraform_data.a")
    assert (a_changes["input"]["before"]["name"], a_changes["input"]["after"]["name"]) == ("one", "two")
    assert "(sensitive)" in json.dumps(a_changes["input"])
    assert PASSWORD_1 not in json.dumps(summary) and PASSWORD_2 not in json.dumps(summary)
    assert {o["name"]: o["action"] for o in summary["outputs"]} == {"a_name": "update", "pw": "update"}

    # applying it really does it again: c is created once more, b leaves the state again
    apply = run(task_confirm(task=plan))
    assert apply.status == Status.APPLIED, apply.error_message
    assert lines(out / "b.log") == ["created"]
    assert lines(out / "c.log") == ["created", "created"]
    assert lines(out / "a.log") == ["created"]
    fourth = StateVersion.objects.filter(workspace=workspace).order_by("-serial").first()
    assert fourth.serial == 4 and fourth.task_id == apply.pk and fourth.lineage == first.lineage
    again = state_compare_mod.state_compare(workspace=workspace, from_serial=2, to_serial=4)
    assert not again.added and not again.removed
    assert [c.address for c in again.changed] == ["terraform_data.c"]  # recreated: a new id
