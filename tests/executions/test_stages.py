"""The stage manager's table: every allowed move works, every other one is refused."""

import itertools

import pytest

from executions.executor import stages
from executions.executor.stages import IllegalStageTransition, Stage
from executions.models import WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import tf_json


@pytest.fixture(autouse=True)
def _slow_heartbeat(settings):
    """The run is in the test's transaction, which the heartbeat thread's own connection cannot
    see: a beat during a long run (hooks with timeouts, a loaded machine) would find no row and
    give the run up. Beat less often than these runs last."""
    settings.IAC_HEARTBEAT_SECONDS = 120


class FakeTask:
    def __init__(self, task_type, stage):
        self.pk, self.task_type, self.stage, self.stage_times = 1, task_type, stage, {}


@pytest.mark.parametrize("pipeline,task_type", [(stages.PLAN, "plan_and_apply"), (stages.APPLY, "apply")])
def test_every_pair_of_stages_is_allowed_exactly_when_the_table_says_so(pipeline, task_type):
    table = stages.TRANSITIONS[pipeline]
    refused = allowed = 0
    for current, new in itertools.product(table, Stage.values):
        if current == new:
            continue
        task = FakeTask(task_type, current)
        if new in table[current]:
            fields = stages.stage_fields(task, new)
            assert fields["stage"] == new and task.stage == new
            allowed += 1
        else:
            with pytest.raises(IllegalStageTransition):
                stages.stage_fields(task, new)
            assert task.stage == current  # nothing changed
            refused += 1
    assert allowed and refused
    # Every stage of the pipeline can end the run; done is final.
    assert all(Stage.DONE in moves for stage, moves in table.items() if stage != Stage.DONE)
    assert table[Stage.DONE] == frozenset()


def test_stages_of_the_other_pipeline_are_refused():
    with pytest.raises(IllegalStageTransition):
        stages.stage_fields(FakeTask("apply", Stage.INIT), Stage.PLANNING)
    with pytest.raises(IllegalStageTransition):
        stages.stage_fields(FakeTask("plan", Stage.PLANNING), Stage.APPLYING)


def test_each_stage_declares_its_error_handling():
    for stage in Stage.values:
        assert stage in stages.ERROR_HANDLING
    assert stages.ERROR_HANDLING[Stage.SAVING_STATE].locks
    assert stages.handle_stage_error(Stage.PLANNING, RuntimeError("boom")).category == "internal"


def test_a_transition_stamps_the_times_and_ends_the_previous_stage():
    task = FakeTask("plan", Stage.PENDING)
    stages.stage_fields(task, Stage.PREPARING)
    stages.stage_fields(task, Stage.PRE_PLAN)
    assert set(task.stage_times) == {"preparing", "pre_plan"}
    assert "ended" in task.stage_times["preparing"] and "ended" not in task.stage_times["pre_plan"]
    stages.stage_fields(task, Stage.DONE)
    assert "ended" in task.stage_times["pre_plan"]


def test_a_real_run_records_every_stage_and_the_page_shows_durations(workspace, user, save_code, run_now,
                                                                       admin_client_logged):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", user=user))
    assert plan.status == WorkspaceTask.Status.PLANNED, plan.error_message
    assert [d["stage"] for d in stages.durations(plan)] == ["preparing", "pre_plan", "init", "planning", "saving_plan",
                                      "cost_estimation", "policy_check", "post_plan", "awaiting_confirmation"]
    apply = run_now(task_confirm(task=plan, user=user))
    assert apply.status == WorkspaceTask.Status.APPLIED, apply.error_message
    assert [d["stage"] for d in stages.durations(apply)] == ["preparing", "init", "pre_apply", "applying",
                                                             "saving_state", "post_apply"]
    assert all(d["seconds"] is not None and d["seconds"] >= 0 for d in stages.durations(apply))
    page = admin_client_logged.get(f"/workspaces/{workspace.name}/runs/{apply.pk}/").content.decode()
    assert 'id="stage-durations"' in page and "Applying" in page
    # the HTMX refresh of the run page (run-updated) brings the durations and the checks along
    fragment = admin_client_logged.get(f"/workspaces/{workspace.name}/runs/{apply.pk}/",
                                       HTTP_HX_REQUEST="true").content.decode()
    assert 'id="stage-durations"' in fragment and 'id="run-checks"' in fragment and "<html" not in fragment
