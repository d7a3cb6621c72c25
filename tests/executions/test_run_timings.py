"""Each run records where its own time went (issue 17, point 1), in the write of its end."""

from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import tf_json

PLAN_PHASES = {"claim", "prechecks", "work_dir", "terraform_init", "terraform_plan", "terraform_show",
               "plan_json_parse", "plan_summary_mask", "plan_encrypt", "plan_store", "cost", "policies"}
APPLY_PHASES = {"claim", "prechecks", "work_dir", "terraform_init", "terraform_apply", "state_save"}


def test_a_plan_and_its_apply_record_their_phases(workspace, save_code, run_now, settings):
    settings.IAC_SKIP_NOOP_INIT = False  # terraform_data needs no init: measure it anyway
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    timings = plan.context["timings"]
    assert PLAN_PHASES <= set(timings), set(timings)
    assert all(isinstance(v, float) and v >= 0 for v in timings.values())
    assert timings["terraform_plan"] > 0
    apply = run_now(task_confirm(task=plan))
    assert APPLY_PHASES <= set(apply.context["timings"]), set(apply.context["timings"])
    busy = (apply.finished_at - apply.started_at).total_seconds()
    assert sum(apply.context["timings"].values()) <= busy + 0.5
    # the confirmation's own context is kept next to the timings
    assert apply.context["confirmed_by"] == "auto-apply"
