"""A run writes what can be seen when it happens, and no more: a stage is written when
something happens in it (a terraform command, a hook), the quick ones with the run's end; the
platform's log lines are batched like terraform's; an auto-apply's apply is sent to the
workers once."""

import threading
import time

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django_q.models import OrmQ
from django_q.signing import SignedPackage

from executions.executor.logs import LogWriter
from executions.hooks import hook_save
from executions.models import TaskLog, WorkspaceTask
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import file_resource, tf_json
from workspaces.models import Workspace

Status = WorkspaceTask.Status


def _stage_writes(queries) -> int:
    return sum(1 for q in queries if q["sql"].startswith('UPDATE "executions_workspacetask"') and '"stage" =' in q["sql"])


def test_stages_with_nothing_in_them_cost_no_write_yet_all_are_recorded(workspace, save_code, run_now):
    save_code(workspace, tf_json({"a": {"input": "x"}}))
    queued = task_queue_run(workspace=workspace, kind="plan_and_apply")
    with CaptureQueriesContext(connection) as plan_queries:
        plan = run_now(queued)
    assert plan.status == Status.PLANNED, plan.error_message
    # the claim, planning (before terraform plan), saving the plan (before terraform show), the end
    assert _stage_writes(plan_queries.captured_queries) == 4
    assert set(plan.stage_times) == {"preparing", "pre_plan", "init", "planning", "saving_plan", "cost_estimation",
                                     "policy_check", "post_plan", "awaiting_confirmation"}
    confirmed = task_confirm(task=plan)
    with CaptureQueriesContext(connection) as apply_queries:
        apply = run_now(confirmed)
    assert apply.status == Status.APPLIED, apply.error_message
    assert _stage_writes(apply_queries.captured_queries) == 3  # the claim, applying, the end
    assert set(apply.stage_times) == {"preparing", "init", "pre_apply", "applying", "saving_state", "post_apply"}
    assert plan.cost_estimate and apply.context.get("timings")


def test_a_hook_and_terraform_see_their_stage_written_while_they_run(transactional_db, save_code, run_now, tmp_path):
    """What an operator (or recovery, for ``applying``) reads while the run is in a slow stage,
    and the hook's line in the log while it runs."""
    ws = Workspace.objects.create(name="watched")
    save_code(ws, tf_json({"a": file_resource(tmp_path / "a.txt", sleep=2)}))
    hook_save(workspace=ws, name="slow-check", stage="pre_plan", kind="script", enforcement="mandatory",
              command="sleep 2", timeout=30)
    seen: list[str] = []
    done = threading.Event()

    def watch():
        try:
            while not done.is_set():
                stage = WorkspaceTask.objects.filter(workspace=ws).order_by("-id").values_list("stage", flat=True).first()
                if stage and (not seen or seen[-1] != stage):
                    seen.append(stage)
                if stage == "pre_plan" and TaskLog.objects.filter(task__workspace=ws,
                                                                  text__contains="hook 'slow-check'").exists():
                    seen.append("hook line shown while the hook runs")
                time.sleep(0.05)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    try:
        plan = run_now(task_queue_run(workspace=ws, kind="plan_and_apply"))
        apply = run_now(task_confirm(task=plan))
    finally:
        done.set()
        watcher.join()
    assert apply.status == Status.APPLIED, apply.error_message
    assert "pre_plan" in seen and "applying" in seen, seen
    assert "hook line shown while the hook runs" in seen, seen
    assert (tmp_path / "a.txt").exists()


def test_platform_lines_of_one_moment_are_one_insert_each_keeping_its_stage(workspace):
    task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan")
    log = LogWriter(task)
    log.last_flush = time.monotonic() - 1  # a quiet spell: the first line goes at once
    with CaptureQueriesContext(connection) as queries:
        log.set_stage("preparing")
        log.info("[platform] first")  # stored at once
        log.info("[platform] second")  # within the batching window: waits for the next flush
        log.set_stage("init")
        log.info("[platform] third")
        assert len(queries.captured_queries) == 1
        log.complete("Run finished")
    assert len(queries.captured_queries) == 2  # the pending lines and the end marker: one INSERT
    rows = list(TaskLog.objects.filter(task=task).order_by("seq").values_list("seq", "stage", "text"))
    assert rows == [(1, "preparing", "[platform] first"), (2, "preparing", "[platform] second"),
                    (3, "init", "[platform] third"), (4, "complete", "Run finished")]


def _messages_for(task_id: int) -> int:
    return sum(1 for row in OrmQ.objects.all() if SignedPackage.loads(row.payload)["args"] == (task_id,))


def test_an_auto_applied_plan_sends_its_apply_to_the_workers_once(transactional_db, save_code, run_now):
    ws = Workspace.objects.create(name="once", auto_apply=True)
    save_code(ws, tf_json({"a": {"input": "x"}}))
    plan = run_now(task_queue_run(workspace=ws, kind="plan_and_apply"))
    assert plan.status == Status.CONFIRMED, plan.error_message
    apply = WorkspaceTask.objects.get(plan_task=plan)
    assert apply.status == Status.QUEUED
    assert _messages_for(apply.pk) == 1
