"""The plan and apply pipelines a worker runs for a claimed task.

plan:  preparing → init → planning → saving plan → (awaiting confirmation | done)
apply: preparing (staleness) → init → applying → saving state → done
"""

import fcntl
import json
import logging
import time
from contextlib import contextmanager
from pathlib import Path

from django.conf import settings
from django.utils import timezone

from executions import runner
from executions.config import ConfigError, WorkDir, prepare_workdir, remove_workdir, write_file
from executions.logs import LogWriter
from executions.models import WorkspaceTask
from executions.plan_summary import summarize_plan
from executions.state_save import StateSaveFailed, save_state
from iacplatform.errors import DomainError
from workspaces.crypto import decrypt_bytes, encrypt_bytes
from workspaces.models import sha256_hex
from workspaces.services import mask_outputs, parse_state, variables_checksum

logger = logging.getLogger("executions.pipeline")
Status = WorkspaceTask.Status
Stage = WorkspaceTask.Stage
PLAN_SAVE_ATTEMPTS = 3


class StepFailed(Exception):
    def __init__(self, message: str, *, category: str = "", exit_code: int | None = None, cancelled=False,
                 timed_out=False):
        super().__init__(message)
        self.message, self.category, self.exit_code = message, category, exit_code
        self.cancelled, self.timed_out = cancelled, timed_out


@contextmanager
def plugin_cache_lock():
    """Terraform's plugin cache is not safe for concurrent init: one init at a time per host."""
    cache = Path(settings.IAC_PLUGIN_CACHE_DIR)
    cache.mkdir(parents=True, exist_ok=True)
    with open(cache / ".init.lock", "w") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


class TaskRun:
    """One claimed task on this worker: its work dir, log and cancel/heartbeat checks."""

    def __init__(self, task: WorkspaceTask):
        self.task = task
        self.workdir: WorkDir | None = None
        self.log = LogWriter(task)
        self.last_heartbeat = 0.0

    # -- helpers --------------------------------------------------------------------------
    def stage(self, stage: str) -> None:
        self.task.set_stage(stage)
        self.log.set_stage(stage)

    def should_cancel(self) -> bool:
        now = time.monotonic()
        fields = {"heartbeat_at": timezone.now()} if now - self.last_heartbeat >= settings.IAC_HEARTBEAT_SECONDS else {}
        if fields:
            self.last_heartbeat = now
            WorkspaceTask.objects.filter(pk=self.task.pk).update(**fields)
        return WorkspaceTask.objects.filter(pk=self.task.pk, cancel_requested=True).exists()

    def terraform(self, args: list[str], *, ok=(0,), what: str) -> runner.RunResult:
        result = runner.run(args, cwd=self.workdir.path, env=self.workdir.env, log=self.log,
                            timeout=settings.IAC_TASK_TIMEOUT, should_cancel=self.should_cancel)
        if result.cancelled:
            raise StepFailed(f"Cancelled during {what}.", category="cancelled", exit_code=result.exit_code,
                             cancelled=True)
        if result.timed_out:
            raise StepFailed(f"terraform {what} timed out after {settings.IAC_TASK_TIMEOUT} s.", category="timeout",
                             exit_code=result.exit_code, timed_out=True)
        if result.exit_code not in ok:
            raise StepFailed(f"terraform {what} failed (exit code {result.exit_code}).",
                             exit_code=result.exit_code)
        return result

    def prepare(self, code_version) -> None:
        self.stage(Stage.PREPARING)
        self.workdir = prepare_workdir(self.task, code_version=code_version)
        self.log.secrets = self.workdir.secrets
        self.log.info(f"[platform] run #{self.task.pk} ({self.task.get_task_type_display()}) on "
                      f"{self.task.workspace.name}, work dir prepared")

    def init(self, lock_file: str = "") -> None:
        self.stage(Stage.INIT)
        if lock_file:
            write_file(self.workdir.lock_file, lock_file, mode=0o644)
        with plugin_cache_lock():
            self.terraform(["init", "-input=false", "-no-color"], what="init")

    def finish(self, status: str, *, error: str = "", category: str = "", exit_code=None) -> None:
        task = WorkspaceTask.objects.get(pk=self.task.pk)
        if exit_code is not None:
            task.exit_code = exit_code
        task.transition(status, error=error, category=category)
        self.task = task
        self.log.complete(f"Run finished: {task.get_status_display()}" + (f" — {error}" if error else ""))

    # -- plan -------------------------------------------------------------------------------
    def plan(self) -> None:
        from resources.aggregation import resource_version_map

        task = self.task
        self.prepare(task.code_version)
        workspace = task.workspace
        context = {
            "code_version": task.code_version.number if task.code_version_id else None,
            "variables_checksum": variables_checksum(workspace),
            "state_serial": self.workdir.state_serial,
            "resource_versions": resource_version_map(workspace),
        }
        WorkspaceTask.objects.filter(pk=task.pk).update(context={**task.context, **context})
        task.context = {**task.context, **context}
        self.init()
        self.stage(Stage.PLANNING)
        args = ["plan", "-input=false", "-no-color", "-out=plan.tfplan", "-detailed-exitcode",
                "-var-file=variables.tfvars"]
        args += [f"-target={target}" for target in task.targets]
        result = self.terraform(args, ok=(0, 2), what="plan")
        has_changes = result.exit_code == 2
        self.stage(Stage.SAVING_PLAN)
        self.save_plan_artifacts(has_changes)
        if not has_changes:
            self.finish(Status.PLANNED_NO_CHANGES, exit_code=result.exit_code)
        elif task.is_speculative:
            self.finish(Status.PLAN_FINISHED, exit_code=result.exit_code)
        else:
            self.finish(Status.PLANNED, exit_code=result.exit_code)
            if workspace.auto_apply:
                self.auto_apply()

    def save_plan_artifacts(self, has_changes: bool) -> None:
        """Plan file, lock file, plan JSON and summary; 3 attempts, never fails the run."""
        show = runner.capture(["show", "-json", "plan.tfplan"], cwd=self.workdir.path, env=self.workdir.env,
                              timeout=settings.IAC_TASK_TIMEOUT)
        if show.returncode != 0:
            self.log.info(f"[platform] terraform show -json failed: {show.stderr.decode(errors='replace')[:500]}")
            plan_doc = {}
        else:
            plan_doc = json.loads(show.stdout or b"{}")
        summary = summarize_plan(plan_doc, self.workdir.secrets)
        lock = self.workdir.lock_file.read_text() if self.workdir.lock_file.exists() else ""
        fields = {
            "plan_file": encrypt_bytes(self.workdir.plan_file.read_bytes()),
            "plan_json": encrypt_bytes(show.stdout or b"{}"),
            "lock_file": lock,
            "change_summary": summary,
            "has_changes": has_changes,
        }
        for attempt in range(1, PLAN_SAVE_ATTEMPTS + 1):
            try:
                WorkspaceTask.objects.filter(pk=self.task.pk).update(**fields)
                break
            except Exception as exc:  # noqa: BLE001 — a database fault; retried, never fatal by itself
                self.log.info(f"[platform] saving plan data, attempt {attempt}/{PLAN_SAVE_ATTEMPTS} failed: {exc}")
                time.sleep(attempt)
        else:
            self.log.info("[platform] plan data could not be saved: this plan cannot be applied")
            return
        self.log.info(
            f"[platform] plan saved: +{summary['add']} ~{summary['change']} -{summary['destroy']}"
        )

    def auto_apply(self) -> None:
        from executions.services import task_confirm

        try:
            task_confirm(task=self.task, user=None, comment="auto-apply")
        except DomainError as exc:
            self.log.info(f"[platform] auto-apply did not start: {exc.message}")

    # -- apply ------------------------------------------------------------------------------
    def apply(self) -> None:
        from executions.services import plan_staleness

        task = self.task
        plan = task.plan_task
        self.stage(Stage.PREPARING)
        reason = plan_staleness(plan)
        if reason:
            raise StepFailed(f"The plan is stale: {reason}. Plan again.", category="stale_plan")
        if not plan.plan_file:
            raise StepFailed("The plan file of the approved plan is missing; plan again.", category="stale_plan")
        self.prepare(plan.code_version)
        write_file(self.workdir.plan_file, decrypt_bytes(plan.plan_file))
        self.init(lock_file=plan.lock_file)
        self.stage(Stage.APPLYING)
        failure: StepFailed | None = None
        try:
            self.terraform(["apply", "-input=false", "-no-color", "plan.tfplan"], what="apply")
        except StepFailed as exc:
            failure = exc
        # Whatever terraform wrote is real state — after a failure or a cancel too.
        self.stage(Stage.SAVING_STATE)
        self.collect_state()
        if failure is not None:
            raise failure
        self.finish(Status.APPLIED, exit_code=0)

    def collect_state(self) -> None:
        path = self.workdir.state_file
        if not path.exists():
            self.log.info("[platform] terraform wrote no state")
            return
        content = path.read_text()
        if self.workdir.state_checksum and sha256_hex(content) == self.workdir.state_checksum:
            self.log.info("[platform] state unchanged")
            return
        version = save_state(task=self.task, content=content, log=self.log)
        outputs = mask_outputs(parse_state(content).get("outputs", {}))
        WorkspaceTask.objects.filter(pk=self.task.pk).update(outputs=outputs)
        self.task.outputs = outputs
        return version

    # -- entry --------------------------------------------------------------------------------
    def execute(self) -> None:
        failed = True
        try:
            if self.task.task_type == WorkspaceTask.TaskType.APPLY:
                self.apply()
            else:
                self.plan()
            failed = False
        except StepFailed as exc:
            status = Status.CANCELLED if exc.cancelled else Status.FAILED
            self.finish(status, error=exc.message, category=exc.category or "terraform", exit_code=exc.exit_code)
        except StateSaveFailed as exc:
            self.finish(Status.FAILED, error=str(exc), category="state_save")
        except (ConfigError, DomainError) as exc:
            self.finish(Status.FAILED, error=exc.message, category="configuration")
        except Exception as exc:  # noqa: BLE001 — the run must end in a terminal state, with the reason
            logger.exception("task %s crashed", self.task.pk)
            self.finish(Status.FAILED, error=f"Internal error of the platform: {type(exc).__name__}: {exc}",
                        category="internal")
        finally:
            remove_workdir(self.workdir.path if self.workdir else None, failed=failed)
