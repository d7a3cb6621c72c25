"""Run checks inside a run: hooks, cost estimation, policy sets, and the drift check."""


import json
import logging


from executions import cost, policies
from executions.drift import drift_detected
from executions.executor import hooks
from executions.executor.ownership import owned
from executions.executor.plan_summary import summarize_drift
from executions.executor.steps import (
    StepFailed,
)
from executions.models import WorkspaceTask
from workspaces.state.selectors import state_current_serial

logger = logging.getLogger("executions.pipeline")
Status = WorkspaceTask.Status
Stage = WorkspaceTask.Stage


class CheckSteps:
    """Hooks, cost, policies and drift checks (a part of ``TaskRun``)."""

    def drift_check(self) -> None:
        """``plan -refresh-only -detailed-exitcode``: what changed outside terraform. Nothing is
        applied and no plan is kept; the drift (resources, attribute diffs) is the run's summary."""
        task = self.task
        context = {"code_version": task.code_version.number if task.code_version_id else None,
                   "state_serial": state_current_serial(workspace=task.workspace)}
        task.context = {**task.context, **context}
        self.prepare(task.code_version)
        self.init(**self.plan_lock_file())
        self.stage(Stage.PLANNING)
        args = ["plan", "-refresh-only", "-input=false", "-no-color", "-out=drift.tfplan", "-detailed-exitcode",
                "-var-file=variables.tfvars"]
        result = self.attempts(lambda: self.terraform(args, ok=(0, 2), what="plan"), what="plan", retry=True)
        self.stage(Stage.SAVING_PLAN)
        show = self.show_json("drift.tfplan")
        if show.returncode != 0:
            raise StepFailed(f"terraform show -json of the drift check failed: "
                             f"{show.stderr.decode(errors='replace')[:500]}", category="internal")
        drift = summarize_drift(json.loads(show.stdout or b"{}"), self.workdir.secrets)
        owned(task).update(change_summary=drift, has_changes=drift["drift"])
        task.change_summary, task.has_changes = drift, drift["drift"]
        if drift["drift"]:
            names = ", ".join(r["address"] for r in drift["resources"])
            self.log.info(f"[platform] drift found: {len(drift['resources'])} resource(s) changed outside "
                          f"terraform: {names}")
            self.finish(Status.PLAN_FINISHED, exit_code=result.exit_code)
            try:
                drift_detected.send(sender=WorkspaceTask, task=self.task, drift=drift)
            except Exception:  # noqa: BLE001 — a failing hook must not change the run's result
                logger.exception("task %s: drift_detected hook failed", self.task.pk)
        else:
            self.log.info("[platform] no drift: the infrastructure matches the state")
            self.finish(Status.PLANNED_NO_CHANGES, exit_code=result.exit_code)

    def run_hooks(self, hook_stage: str, *, failure=None) -> None:
        """The hooks of ``hook_stage``; a mandatory failure raises StepFailed (category hook).
        The on-failure hooks run while the run fails: nothing they do changes how it ends."""
        if failure is None:
            with self.timings.timed(f"hooks_{hook_stage}"):
                hooks.run_hooks(self, hook_stage)
            return
        try:
            hooks.run_hooks(self, hook_stage, failure=failure)
        except Exception as exc:  # noqa: BLE001
            logger.warning("task %s: on-failure hooks: %s", self.task.pk, exc)

    def estimate_cost(self) -> dict | None:
        """The plan's monthly cost; never fails the run (a failure is logged and stored as such)."""
        try:
            with self.timings.timed("cost"):
                estimate = cost.estimate(self.plan_doc, plan_json_path=self.workdir.path / "plan.json")
        except cost.CostError as exc:
            self.log.info(f"[platform] cost estimation failed: {exc}")
            estimate = {"error": str(exc)}
        else:
            # a reason may quote an attribute's value ("no price for size = …"): masked like the log
            for row in estimate["not_priced"]:
                row["reason"] = self.log.redact(row["reason"])
            self.log.info(f"[platform] cost estimate ({estimate['source']}): {estimate['before']:.2f} → "
                          f"{estimate['after']:.2f} {estimate['currency']}/month ({estimate['diff']:+.2f}); "
                          f"{len(estimate['not_priced'])} resource(s) not priced")
        self.task.cost_estimate = estimate  # written with the run's end (``finish``)
        return None if "error" in estimate else estimate

    def check_policies(self, estimate: dict | None) -> bool:
        """Evaluate the mandatory policy sets; True when a soft-mandatory one needs an override. A
        hard-mandatory deny fails the run (category policy). The advisory sets cannot change how
        the run goes on: they are evaluated once its status is recorded (``check_advisory_policies``),
        so they never delay a plan (a 500-resource plan costs the policy engine ~0.2 s)."""
        with self.timings.timed("policies"):
            outcome = policies.policy_check_run(task=self.task, plan=self.plan_doc, cost=estimate,
                                                save=not self.heartbeat.lost, redact=self.log.redact, advisory=False)
        self.log_policy_results(outcome.results)
        self.advisory_cost = estimate
        if policies.policy_sets_for(self.task.workspace).filter(enforcement=policies.Enforcement.ADVISORY).exists():
            self.log.info("[platform] advisory policy sets are evaluated once the plan's status is recorded: "
                          "their results follow on the run page")
        if outcome.hard_failure:
            raise StepFailed(outcome.hard_failure, category="policy")
        if outcome.needs_override and self.task.is_speculative:
            self.log.info("[platform] a soft-mandatory policy denied this plan; a speculative plan is never "
                          "applied, so it only reports it")
        elif outcome.needs_override:
            self.log.info("[platform] a soft-mandatory policy denied the plan: it waits for an admin's override")
        return outcome.needs_override

    def log_policy_results(self, results) -> None:
        for result in results:
            self.log.info(f"[platform] policy set {result.name!r} v{result.version} ({result.enforcement}): "
                          f"{result.outcome}" + "".join(f"\n  deny: {m}" for m in result.denies)
                          + "".join(f"\n  warn: {m}" for m in result.warnings))

    def check_advisory_policies(self) -> None:
        """The advisory policy sets of a plan that reached its policy check, after its status is
        recorded (an auto-apply is already queued). Never changes the run; a failure is logged."""
        if not hasattr(self, "advisory_cost") or self.heartbeat.lost:
            return
        try:
            policies.policy_check_run(task=self.task, plan=self.plan_doc, cost=self.advisory_cost,
                                      redact=self.log.redact, advisory=True)
        except Exception:  # noqa: BLE001 — advisory: the run has ended as it should whatever happens here
            logger.exception("task %s: advisory policy sets not evaluated", self.task.pk)
