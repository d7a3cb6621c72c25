"""The plan and apply pipelines a worker runs for a claimed task.

plan:  preparing (pre-execution checks) → init → planning → saving plan → (awaiting confirmation | done)
apply: preparing (pre-execution checks, staleness) → init → applying → saving state (validation) → done

``init`` and ``plan`` are retried on transient errors (``executions.errors``: network,
throttling, state lock) with exponential backoff and jitter; an apply never is. Every
failure ends with a category and a hint for the operator.
"""

import json
import logging
import time

from django.conf import settings
from iacplatform.db import reconnect_after_failure
from django.utils import timezone

from executions import errors
from executions.executor import checks, hooks, runner, stages
from executions.executor.config import ConfigError, WorkDir, prepare_workdir, remove_workdir, write_file
from executions.executor.init_skip import asks_for_init, init_needed
from executions.executor.isolation import hand_over
from executions.executor.apply_state import ApplyStateSteps
from executions.executor.check_steps import CheckSteps
from executions.executor.logs import LogWriter
from executions.executor.timings import Timings
from executions.executor.ownership import Checkpointer, Heartbeat, owned
from executions.executor.plan_summary import summarize_plan
from executions.executor.steps import (
    PLAN_SAVE_ATTEMPTS, StepFailed, plugin_cache_lock, retry_wait, run_budget_margin, stage_timeout,
)
from executions.executor.state_save import StateSaveFailed
from executions.models import WorkspaceTask
from executions.notifications import notify_event, run_event
from executions.services import stored_lock_file, task_confirm
from iacplatform.errors import DomainError
from resources.aggregation import resource_version_map
from workspaces.crypto import decrypt_bytes, encrypt_bytes
from workspaces.services import variables_checksum
from workspaces.state.selectors import state_current_serial

logger = logging.getLogger("executions.executor.pipeline")
FINISH_FIELDS = ("status", "finished_at", "stage", "stage_times", "stage_seconds", "context", "cost_estimate",
                 "exit_code", "error_message", "error_category", "error_hint", "updated_at")
Status = WorkspaceTask.Status
Stage = WorkspaceTask.Stage


class TaskRun(ApplyStateSteps, CheckSteps):
    """One claimed task on this worker: its work dir, log and cancel/heartbeat checks."""

    def __init__(self, task: WorkspaceTask):
        self.timings = Timings()
        self.task = task
        self.workdir: WorkDir | None = None
        self.log = LogWriter(task)
        self.heartbeat = Heartbeat(task)
        self.log.owner_lost = lambda: not self.heartbeat.confirmed()
        self.checkpointer: Checkpointer | None = None  # while an apply runs
        self.started = time.monotonic()
        self.pgids: list[int] = []  # every terraform process group this run started
        self.stages: list[tuple[str, float]] = []  # (stage, monotonic start) for the stage histograms
        self.plan_doc: dict = {}  # terraform show -json of this run's plan
        self.init_skipped = False  # init judged to have nothing to do (``init_skip``)
        self.stage_unrecorded = False  # a stage moved to in memory, not yet written (``record_stage``)
        self.dispatched = False  # the workspace's next task was sent to the workers (auto-apply)

    # -- helpers --------------------------------------------------------------------------
    def stage(self, stage: str) -> None:
        """Move to ``stage`` through the stage manager (an illegal move raises before anything
        changes). The move is written when the run does something in the stage that takes time
        or can be seen (``record_stage``: a terraform command, a hook, a wait) or with the run's
        end: a stage with nothing configured (no hook, no policy) costs no write of its own."""
        previous = self.task.stage
        stages.stage_fields(self.task, stage)
        self.stages.append((stage, time.monotonic()))
        self.log.set_stage(stage)
        self.stage_unrecorded = self.stage_unrecorded or stage != previous

    def record_stage(self) -> None:
        """Write the current stage and its times (conditional on still owning the run), and the
        log lines so far: before a terraform command (recovery recognises a lost apply by its
        stage, so ``applying`` is written before terraform applies anything), a hook, a wait."""
        self.log.flush()
        if not self.stage_unrecorded:
            return
        self.stage_unrecorded = False
        try:
            owned(self.task).update(stage=self.task.stage, stage_times=self.task.stage_times,
                                    heartbeat_at=timezone.now())
        except Exception as exc:  # noqa: BLE001 — a database fault must not stop the run mid-terraform
            logger.warning("task %s: stage %s not recorded: %s", self.task.pk, self.task.stage, exc)
            reconnect_after_failure()

    def stage_times(self) -> dict:
        ends = [start for _, start in self.stages[1:]] + [time.monotonic()]
        times: dict[str, float] = {}
        for (stage, start), end in zip(self.stages, ends):
            times[stage] = round(times.get(stage, 0.0) + end - start, 3)
        return times

    def should_cancel(self) -> bool:
        """Cancel requested, or this worker lost the run (then terraform must stop, gracefully)."""
        if self.heartbeat.lost:
            return True
        if self.checkpointer is not None:
            self.checkpointer.maybe_checkpoint()
        try:
            return WorkspaceTask.objects.filter(pk=self.task.pk, cancel_requested=True).exists()
        except Exception:  # noqa: BLE001 — the database is away: keep running, ask again next time
            reconnect_after_failure()
            return False

    def remaining_budget(self) -> float | None:
        """Seconds left before django-q's own timeout would kill this worker (None: no limit)."""
        limit = (getattr(settings, "Q_CLUSTER", None) or {}).get("timeout")
        if not limit:
            return None
        return limit - run_budget_margin() - (time.monotonic() - self.started)

    def timeout_for(self, stage: str) -> int:
        timeout = stage_timeout(self.task.workspace, stage)
        budget = self.remaining_budget()
        if budget is not None and budget < timeout:
            if budget < 1:
                raise StepFailed(f"The run used up its time budget before terraform {stage} could start.",
                                 category="timeout",
                                 hint="Raise the worker's timeout (IAC_TASK_TIMEOUT, Q_CLUSTER) or lower the "
                                      "stage timeouts and retries.", timed_out=True)
            timeout = int(budget)
        return timeout

    def _started(self, pgid: int) -> None:
        self.pgids.append(pgid)
        self.task.pgid, self.task.work_dir = pgid, str(self.workdir.path)
        try:
            owned(self.task).update(pgid=pgid, work_dir=str(self.workdir.path))
        except Exception as exc:  # noqa: BLE001 — recovery then relies on the checkpoints
            logger.warning("task %s: process group not recorded: %s", self.task.pk, exc)
        checks.record_run_process(workspace_id=self.task.workspace_id, task_id=self.task.pk, pgid=pgid,
                                  workdir=self.workdir.path)

    def terraform(self, args: list[str], *, ok=(0,), what: str) -> runner.RunResult:
        """One attempt of ``terraform <args>``; a failure is classified into a StepFailed."""
        timeout = self.timeout_for(what)
        if self.workdir.credentials:
            hand_over(self.workdir.path, self.task)  # files the worker wrote since (plan file, lock file)
        self.record_stage()
        with self.timings.timed(f"terraform_{args[0]}"):
            result = runner.run(args, cwd=self.workdir.path, env=self.workdir.env, log=self.log, timeout=timeout,
                                should_cancel=self.should_cancel, on_start=self._started,
                                credentials=self.workdir.credentials)
        if (self.init_skipped and result.exit_code not in ok and not (result.cancelled or result.timed_out)
                and asks_for_init(result.output_tail)):
            # init was judged to have nothing to do and terraform disagrees: it failed before
            # doing anything, so run init and the command again (once).
            self.log.info(f"[platform] terraform {args[0]} asks for init: running it, then {args[0]} again")
            self.init_skipped = False
            self.init_once()
            return self.terraform(args, ok=ok, what=what)
        if result.cancelled or result.timed_out or result.exit_code not in ok:
            found = errors.classify(result.output_tail, result.exit_code, timed_out=result.timed_out,
                                    cancelled=result.cancelled, what=what, timeout=timeout)
            if result.cancelled:
                message = f"Cancelled during {what}."
            elif result.timed_out:
                message = f"terraform {what} timed out after {timeout} s."
            else:
                message = f"terraform {what} failed (exit code {result.exit_code})." + (
                    f" Error: {found.summary}" if found.summary else "")
            raise StepFailed(message, category=found.category, hint=found.hint, exit_code=result.exit_code,
                             cancelled=result.cancelled, timed_out=result.timed_out)
        return result

    def show_json(self, plan_file: str):
        """``terraform show -json <plan_file>`` for its output (not logged), its stage recorded first."""
        self.record_stage()
        with self.timings.timed("terraform_show"):
            return runner.capture(["show", "-json", plan_file], cwd=self.workdir.path, env=self.workdir.env,
                                  timeout=self.timeout_for("plan"), credentials=self.workdir.credentials)

    def attempts(self, run_once, *, what: str, retry: bool):
        """Run ``run_once()`` up to IAC_RETRY_ATTEMPTS times while it fails with a retryable error."""
        attempts = max(1, int(settings.IAC_RETRY_ATTEMPTS)) if retry else 1
        for attempt in range(1, attempts + 1):
            note = "" if retry else " (an apply is never retried automatically)"
            self.log.info(f"[platform] terraform {what}: attempt {attempt}/{attempts}{note}")
            try:
                return run_once()
            except StepFailed as exc:
                if not retry or not exc.retryable or attempt == attempts:
                    if retry and exc.retryable:
                        self.log.info(f"[platform] terraform {what} failed ({exc.category}) on all {attempts} "
                                      f"attempts: giving up")
                    raise
                wait = retry_wait(attempt)
                budget = self.remaining_budget()
                if budget is not None and budget - wait < 1:
                    self.log.info(f"[platform] terraform {what} failed ({exc.category}); no time left to retry")
                    raise
                self.log.info(f"[platform] terraform {what} failed ({exc.category}, transient): retrying in "
                              f"{wait:.2f} s")
                self.wait(wait, what=what)

    def wait(self, seconds: float, *, what: str) -> None:
        """Sleep between attempts, still heart-beating and honouring a cancel."""
        self.record_stage()
        deadline = time.monotonic() + seconds
        next_check = 0.0
        while (left := deadline - time.monotonic()) > 0:
            if time.monotonic() >= next_check:
                next_check = time.monotonic() + 1
                if self.should_cancel():
                    raise StepFailed(f"Cancelled while waiting to retry {what}.", category="cancelled",
                                     cancelled=True)
            time.sleep(min(left, 0.2))

    def prepare(self, code_version) -> None:
        self.stage(Stage.PREPARING)
        with self.timings.timed("work_dir"):
            self.workdir = prepare_workdir(self.task, code_version=code_version)
        self.log.secrets = self.workdir.secrets
        self.log.info(f"[platform] run #{self.task.pk} ({self.task.get_task_type_display()}) on "
                      f"{self.task.workspace.name}, work dir prepared")

    def init(self, lock_file: str = "", *, upgrade: bool = False) -> None:
        self.stage(Stage.INIT)
        if lock_file and not upgrade:
            write_file(self.workdir.lock_file, lock_file, mode=0o644)
        self.init_skipped = False
        if not upgrade:
            reason = init_needed(self.workdir.path) if settings.IAC_SKIP_NOOP_INIT else "IAC_SKIP_NOOP_INIT is off"
            if not reason:
                self.init_skipped = True
                self.log.info("[platform] terraform init skipped: the configuration uses no module, no provider "
                              "other than the built-in one and no backend, so init has nothing to install")
                return
            self.log.info(f"[platform] terraform init needed: {reason}")
        self.attempts(lambda: self.init_once(upgrade=upgrade), what="init", retry=True)

    def init_once(self, *, upgrade: bool = False) -> runner.RunResult:
        self.record_stage()  # the plugin cache's lock may keep it waiting for another run's init
        with plugin_cache_lock():
            return self.terraform(["init", "-input=false", "-no-color"] + (["-upgrade"] if upgrade else []),
                                  what="init")

    def finish(self, status: str, *, error: str = "", category: str = "", hint: str = "", exit_code=None) -> None:
        if self.heartbeat.lost:
            logger.error("task %s ended (%s: %s) after this worker lost it: nothing recorded", self.task.pk,
                         status, error)
            return
        # The plan artifacts (megabytes for big plans) are not read back nor re-saved here.
        task = owned(self.task).defer("plan_file", "plan_json").first()
        if task is None:  # reaped meanwhile: the reaper and recovery own it now
            logger.error("task %s is no longer owned by this worker: its end (%s) is not recorded", self.task.pk,
                         status)
            return
        if exit_code is not None:
            task.exit_code = exit_code
        if category and not hint:
            info = errors.category_info(category)
            hint = info.hint if info else ""
        task.stage_seconds = self.stage_times()
        # What the run kept in memory is written with its end: the inputs of its plan (for the
        # staleness check), its cost estimate, and the stages moved to since the last recorded one.
        task.context = {**(task.context or {}), **(self.task.context or {}), "timings": dict(self.timings)}
        task.cost_estimate = self.task.cost_estimate
        task.stage, task.stage_times = self.task.stage, self.task.stage_times
        task.transition(status, error=error, category=category, hint=hint, save=False)
        # Only what the end changes: the row also holds the plan's summary (a 500-resource
        # plan's is ~100 KB of JSON), which a whole-row save wrote again (17 ms of every plan).
        task.save(update_fields=FINISH_FIELDS)
        self.task = task
        if category:
            info = errors.category_info(category)
            self.log.info(f"[platform] error category: {info.label} ({'transient' if info.retryable else 'permanent'})"
                          + (f" — {hint}" if hint else ""))
        self.log.complete(f"Run finished: {task.get_status_display()}" + (f" — {error}" if error else ""))
        try:
            notify_event(run_event(task), task=task)
        except Exception:  # noqa: BLE001 — the run has ended and is recorded; a lost note must not change that
            logger.exception("task %s: its notification was not recorded", task.pk)

    # -- plan -------------------------------------------------------------------------------
    def plan(self) -> None:
        task = self.task
        workspace = task.workspace
        # What the plan is made from, read *before* the work dir is written: an edit in between
        # then makes the plan stale instead of slipping past the check.
        context = {
            "code_version": task.code_version.number if task.code_version_id else None,
            "variables_checksum": variables_checksum(workspace),
            "state_serial": state_current_serial(workspace=workspace),
            "resource_versions": resource_version_map(workspace),
        }
        task.context = {**task.context, **context}
        self.prepare(task.code_version)
        self.stage(Stage.PRE_PLAN)
        self.run_hooks("pre_plan")
        self.init(**self.plan_lock_file())
        self.stage(Stage.PLANNING)
        args = ["plan", "-input=false", "-no-color", "-out=plan.tfplan", "-detailed-exitcode",
                "-var-file=variables.tfvars"]
        args += [f"-target={target}" for target in task.targets]
        result = self.attempts(lambda: self.terraform(args, ok=(0, 2), what="plan"), what="plan", retry=True)
        has_changes = result.exit_code == 2
        self.stage(Stage.SAVING_PLAN)
        self.save_plan_artifacts(has_changes)
        if self.should_cancel():  # a cancel pressed while the plan was saved wins over (auto-)apply
            raise StepFailed("Cancelled while the plan was being saved.", category="cancelled", cancelled=True)
        self.stage(Stage.COST_ESTIMATION)
        estimate = self.estimate_cost()
        self.stage(Stage.POLICY_CHECK)
        needs_override = self.check_policies(estimate)
        self.stage(Stage.POST_PLAN)
        self.run_hooks("post_plan")
        if needs_override and not task.is_speculative:
            self.finish(Status.POLICY_OVERRIDE, exit_code=result.exit_code)
        elif not has_changes:
            self.finish(Status.PLANNED_NO_CHANGES, exit_code=result.exit_code)
        elif task.is_speculative:
            self.finish(Status.PLAN_FINISHED, exit_code=result.exit_code)
        else:
            self.finish(Status.PLANNED, exit_code=result.exit_code)
            if workspace.auto_apply:
                self.auto_apply()

    def plan_lock_file(self) -> dict:
        """init's arguments for a plan: the workspace's stored lock file (provider versions stay
        as they were), or, for an "upgrade providers" run, none and ``init -upgrade``."""
        if self.task.upgrade_providers:
            self.log.info("[platform] upgrading providers: terraform init -upgrade takes the newest versions the "
                          "code allows; the new lock file is stored with this plan")
            return {"upgrade": True}
        stored = stored_lock_file(self.task.workspace, before=self.task.pk)
        if stored is None:
            return {}
        self.log.info(f"[platform] provider versions: the lock file stored by run #{stored.pk} is kept "
                      "(start a run with \"upgrade providers\" to take newer versions)")
        return {"lock_file": stored.lock_file}

    def save_plan_artifacts(self, has_changes: bool) -> None:
        """Plan file, lock file, plan JSON and summary; 3 attempts, never fails the run."""
        show = self.show_json("plan.tfplan")
        if show.returncode != 0:
            self.log.info(f"[platform] terraform show -json failed: {show.stderr.decode(errors='replace')[:500]}")
            plan_doc = {}
        else:
            with self.timings.timed("plan_json_parse"):
                plan_doc = json.loads(show.stdout or b"{}")
        self.plan_doc = plan_doc
        write_file(self.workdir.path / "plan.json", show.stdout or b"{}")  # for hooks (IAC_PLAN_JSON)
        hooks.give_to_run(self.workdir.path / "plan.json", self.task)
        with self.timings.timed("plan_summary_mask"):
            summary = summarize_plan(plan_doc, self.workdir.secrets)
        lock = self.workdir.lock_file.read_text() if self.workdir.lock_file.exists() else ""
        with self.timings.timed("plan_encrypt"):
            plan_file = encrypt_bytes(self.workdir.plan_file.read_bytes())  # a zip file already
            plan_json = encrypt_bytes(show.stdout or b"{}", compress=True)
        fields = {
            "plan_file": plan_file,
            "plan_json": plan_json,
            "lock_file": lock,
            "change_summary": summary,
            "has_changes": has_changes,
        }
        for attempt in range(1, PLAN_SAVE_ATTEMPTS + 1):
            try:
                if attempt > 1:
                    reconnect_after_failure()
                with self.timings.timed("plan_store"):
                    owned(self.task).update(**fields)
                self.task.change_summary, self.task.has_changes = summary, has_changes
                break
            except Exception as exc:  # noqa: BLE001 — a database fault; retried, never fatal by itself
                self.log.info(f"[platform] saving plan data, attempt {attempt}/{PLAN_SAVE_ATTEMPTS} failed: {exc}")
                self.log.flush()
                time.sleep(attempt)
        else:
            self.log.info("[platform] plan data could not be saved: this plan cannot be applied")
            return
        self.log.info(
            f"[platform] plan saved: +{summary['add']} ~{summary['change']} -{summary['destroy']}"
        )

    def auto_apply(self) -> None:
        try:
            task_confirm(task=self.task, user=None, comment="auto-apply")
        except DomainError as exc:
            self.log.info(f"[platform] auto-apply did not start: {exc.message}")
        else:
            self.dispatched = True  # the confirmation sent the workspace's next task (its apply)

    # -- drift check ----------------------------------------------------------------------------
    # -- apply ------------------------------------------------------------------------------
    def apply(self) -> None:
        task = self.task
        plan = task.plan_task
        self.prepare(plan.code_version)
        write_file(self.workdir.plan_file, decrypt_bytes(plan.plan_file))
        if plan.plan_json:
            write_file(self.workdir.path / "plan.json", decrypt_bytes(plan.plan_json))
            hooks.give_to_run(self.workdir.path / "plan.json", self.task)
        self.init(lock_file=plan.lock_file)
        self.stage(Stage.PRE_APPLY)
        self.run_hooks("pre_apply")
        self.stage(Stage.APPLYING)
        self.checkpointer = Checkpointer(task, self.workdir.state_file)
        failure: StepFailed | None = None
        try:
            self.attempts(lambda: self.terraform(["apply", "-input=false", "-no-color", "plan.tfplan"], what="apply"),
                          what="apply", retry=False)
        except StepFailed as exc:
            failure = exc
        finally:
            self.checkpointer = None
        # Whatever terraform wrote is real state — after a failure or a cancel too.
        self.stage(Stage.SAVING_STATE)
        try:
            with self.timings.timed("state_save"):
                expected_outputs = self.collect_state(succeeded=failure is None)
        except StepFailed as state_failure:
            if failure is None:
                raise
            failure.message = f"{failure.message} {state_failure.message}"
            raise failure from None
        if failure is not None:
            raise failure
        self.validate_after_apply(expected_outputs)
        self.stage(Stage.POST_APPLY)
        self.run_hooks("post_apply")
        self.finish(Status.APPLIED, exit_code=0)

    # -- entry --------------------------------------------------------------------------------
    def execute(self) -> None:
        failed = True
        self.heartbeat.start()
        try:
            with self.timings.timed("prechecks"):
                checks.run_prechecks(self.task, log=self.log)
            if self.task.task_type == WorkspaceTask.TaskType.APPLY:
                self.apply()
            elif self.task.is_drift_check:
                self.drift_check()
            else:
                self.plan()
            failed = False
        except Exception as exc:  # noqa: BLE001 — the run must end in a terminal state, with the reason
            self.fail(exc)
        finally:
            self.check_advisory_policies()
            self.heartbeat.stop()
            self.forget_processes()
            remove_workdir(self.workdir.path if self.workdir else None, failed=failed)
            self.log.flush()  # a line written after the end (e.g. an auto-apply that did not start)

    def fail(self, exc: Exception) -> None:
        """End the run as the stage manager's error handler says for the stage it failed in."""
        stage = self.task.stage
        if isinstance(exc, checks.CheckFailed):
            self.log.info(f"[platform] pre-execution check failed ({exc.check}): {exc.message} Nothing was run.")
        elif not isinstance(exc, (StepFailed, StateSaveFailed, ConfigError, DomainError)):
            logger.exception("task %s crashed", self.task.pk)
        outcome = stages.handle_stage_error(stage, exc)
        if outcome.status == Status.FAILED and stages.ERROR_HANDLING[stage].on_failure_hooks:
            self.run_hooks("on_failure", failure=outcome)
        self.finish(outcome.status, error=outcome.message, category=outcome.category, hint=outcome.hint,
                    exit_code=outcome.exit_code)

    # -- hooks, cost, policies ---------------------------------------------------------------
    def forget_processes(self) -> None:
        """Drop the record of terraform's process group once nothing of it is alive."""
        record = checks.read_run_record(self.task.workspace_id)
        if record is not None and record.get("task") == self.task.pk and not checks.leftover_processes(record):
            checks.clear_run_record(workspace_id=self.task.workspace_id, task_id=self.task.pk)
