"""The stage manager: every stage of the plan and apply pipelines, every allowed move between
them, when each began and ended, and what happens when one fails.

    plan:  pending → preparing → pre_plan → init → planning → saving_plan → cost_estimation
           → policy_check → post_plan → awaiting_confirmation | awaiting_policy_override | done
    apply: pending → preparing → init → pre_apply → applying → saving_state → post_apply → done
    drift: pending → preparing → init → planning (``plan -refresh-only``) → saving_plan → done

Any stage may end the run (→ done: failed, cancelled, or no confirmation needed). A policy
override moves a plan on from ``awaiting_policy_override`` to ``awaiting_confirmation`` (or
done). Nothing else is allowed: :func:`stage_fields` raises :class:`IllegalStageTransition`.

Every stage change (the worker's ``TaskRun.stage``, a status ``transition`` that ends or
parks the run, the claim, recovery) asks :func:`stage_fields` for the new ``stage`` and
``stage_times``; the caller writes them with its own guard (the worker through
``owned(task)``, so a worker that lost its run writes nothing). The worker writes a stage when
something happens in it (``TaskRun.record_stage``: a terraform command, a hook, a wait) or with
the run's end; the stage times are complete either way.

This module imports no model: ``executions.models`` takes ``Stage`` from here.
"""

from dataclasses import dataclass
from datetime import datetime

from django.db import models
from django.utils import timezone
from django.utils.dateparse import parse_datetime


class Stage(models.TextChoices):
    PENDING = "pending", "Pending"
    PREPARING = "preparing", "Preparing"
    INIT = "init", "Initializing"
    PLANNING = "planning", "Planning"
    SAVING_PLAN = "saving_plan", "Saving plan"
    PRE_PLAN = "pre_plan", "Pre-plan hooks"
    COST_ESTIMATION = "cost_estimation", "Cost estimation"
    POLICY_CHECK = "policy_check", "Policy check"
    POST_PLAN = "post_plan", "Post-plan hooks"
    AWAITING_POLICY_OVERRIDE = "awaiting_policy_override", "Waiting for a policy override"
    AWAITING_CONFIRMATION = "awaiting_confirmation", "Waiting for confirmation"
    PRE_APPLY = "pre_apply", "Pre-apply hooks"
    APPLYING = "applying", "Applying"
    SAVING_STATE = "saving_state", "Saving state"
    POST_APPLY = "post_apply", "Post-apply hooks"
    DONE = "done", "Done"


PLAN, APPLY, DRIFT = "plan", "apply", "drift"

# The forward moves of each pipeline. ``done`` is reachable from every other stage (added below).
_FORWARD = {
    PLAN: {
        Stage.PENDING: {Stage.PREPARING},
        Stage.PREPARING: {Stage.PRE_PLAN},
        Stage.PRE_PLAN: {Stage.INIT},
        Stage.INIT: {Stage.PLANNING},
        Stage.PLANNING: {Stage.SAVING_PLAN},
        Stage.SAVING_PLAN: {Stage.COST_ESTIMATION},
        Stage.COST_ESTIMATION: {Stage.POLICY_CHECK},
        Stage.POLICY_CHECK: {Stage.POST_PLAN},
        Stage.POST_PLAN: {Stage.AWAITING_CONFIRMATION, Stage.AWAITING_POLICY_OVERRIDE},
        Stage.AWAITING_POLICY_OVERRIDE: {Stage.AWAITING_CONFIRMATION},
        Stage.AWAITING_CONFIRMATION: set(),
    },
    APPLY: {
        Stage.PENDING: {Stage.PREPARING},
        Stage.PREPARING: {Stage.INIT},
        Stage.INIT: {Stage.PRE_APPLY},
        Stage.PRE_APPLY: {Stage.APPLYING},
        Stage.APPLYING: {Stage.SAVING_STATE},
        Stage.SAVING_STATE: {Stage.POST_APPLY},
        Stage.POST_APPLY: set(),
    },
    DRIFT: {  # a drift check: no hooks, policies or cost (nothing is ever applied)
        Stage.PENDING: {Stage.PREPARING},
        Stage.PREPARING: {Stage.INIT},
        Stage.INIT: {Stage.PLANNING},
        Stage.PLANNING: {Stage.SAVING_PLAN},
        Stage.SAVING_PLAN: set(),
    },
}
TRANSITIONS: dict[str, dict[str, frozenset[str]]] = {
    pipeline: {**{stage: frozenset(nxt | {Stage.DONE}) for stage, nxt in moves.items()}, Stage.DONE: frozenset()}
    for pipeline, moves in _FORWARD.items()
}
# The stages a run passes through, in order (the run page's durations follow this order).
ORDER = {
    PLAN: [Stage.PREPARING, Stage.PRE_PLAN, Stage.INIT, Stage.PLANNING, Stage.SAVING_PLAN, Stage.COST_ESTIMATION,
           Stage.POLICY_CHECK, Stage.POST_PLAN, Stage.AWAITING_POLICY_OVERRIDE, Stage.AWAITING_CONFIRMATION],
    APPLY: [Stage.PREPARING, Stage.INIT, Stage.PRE_APPLY, Stage.APPLYING, Stage.SAVING_STATE, Stage.POST_APPLY],
    DRIFT: [Stage.PREPARING, Stage.INIT, Stage.PLANNING, Stage.SAVING_PLAN],
}
# Which hook stage runs at which pipeline stage.
HOOK_STAGES = {Stage.PRE_PLAN: "pre_plan", Stage.POST_PLAN: "post_plan", Stage.PRE_APPLY: "pre_apply",
               Stage.POST_APPLY: "post_apply"}


class IllegalStageTransition(Exception):
    """A task was asked to move to a stage its pipeline does not allow from where it is."""


def pipeline_of(task_type: str) -> str:
    return {"apply": APPLY, "drift_check": DRIFT}.get(task_type, PLAN)


def allowed(pipeline: str, current: str, new: str) -> bool:
    return new in TRANSITIONS[pipeline].get(current, frozenset())


def stage_fields(task, new: str, *, now: datetime | None = None) -> dict:
    """Check ``task.stage → new`` against the table, stamp the times, apply them to ``task``
    and return the fields to write (``stage``, ``stage_times``). Raises IllegalStageTransition."""
    pipeline = pipeline_of(task.task_type)
    current = task.stage or Stage.PENDING
    if current == new:
        return {"stage": new, "stage_times": task.stage_times or {}}
    if not allowed(pipeline, current, new):
        raise IllegalStageTransition(f"task #{task.pk} ({pipeline}) cannot go from stage {current} to {new}")
    stamp = (now or timezone.now()).isoformat()
    times = {key: dict(value) for key, value in (task.stage_times or {}).items()}
    if current in times and "ended" not in times[current]:
        times[current]["ended"] = stamp
    if new != Stage.DONE:
        times[new] = {"started": stamp}
    task.stage, task.stage_times = new, times
    return {"stage": new, "stage_times": times}


def durations(task) -> list[dict]:
    """Each stage the run went through, in pipeline order: key, label, seconds (None while running)."""
    out = []
    for key in ORDER[pipeline_of(task.task_type)]:
        entry = (task.stage_times or {}).get(key)
        if not entry:
            continue
        started = parse_datetime(entry.get("started", ""))
        ended = parse_datetime(entry["ended"]) if entry.get("ended") else None
        seconds = (ended - started).total_seconds() if started and ended else None
        out.append({"stage": key, "label": Stage(key).label, "seconds": seconds, "running": ended is None})
    return out


# --- what a failure in each stage means --------------------------------------------------------
@dataclass(frozen=True)
class StageErrorHandling:
    """What a failure in a stage does. ``category`` is the fallback when the error brings none;
    ``saves``/``locks``/``notifies`` say what the stage's own code has already done (documented
    here so the table reads as the whole story) and what ``handle_stage_error`` adds."""

    category: str
    saves: str = "nothing"
    locks: bool = False
    notifies: str = ""  # "" | "warning" | "emergency"
    on_failure_hooks: bool = True


ERROR_HANDLING: dict[str, StageErrorHandling] = {
    Stage.PENDING: StageErrorHandling("internal"),
    Stage.PREPARING: StageErrorHandling("configuration", saves="the work dir when IAC_KEEP_FAILED_WORKDIRS"),
    Stage.PRE_PLAN: StageErrorHandling("hook", saves="the hook results"),
    Stage.INIT: StageErrorHandling("unknown", saves="the log (init is retried on transient errors first)"),
    Stage.PLANNING: StageErrorHandling("unknown", saves="the log (plan is retried on transient errors first)"),
    Stage.SAVING_PLAN: StageErrorHandling("internal", saves="the plan data (3 attempts, never fatal by itself)"),
    Stage.COST_ESTIMATION: StageErrorHandling("internal", saves="the estimate or why there is none (never fatal)"),
    Stage.POLICY_CHECK: StageErrorHandling("policy", saves="the policy results"),
    Stage.POST_PLAN: StageErrorHandling("hook", saves="the hook results"),
    Stage.AWAITING_POLICY_OVERRIDE: StageErrorHandling("policy"),
    Stage.AWAITING_CONFIRMATION: StageErrorHandling("internal"),
    Stage.PRE_APPLY: StageErrorHandling("hook", saves="the hook results; nothing was applied"),
    Stage.APPLYING: StageErrorHandling("unknown", saves="whatever state terraform wrote (saving_state runs next)"),
    Stage.SAVING_STATE: StageErrorHandling("state_save", saves="the state in a 0600 backup file", locks=True,
                                           notifies="emergency"),
    Stage.POST_APPLY: StageErrorHandling("hook", saves="the hook results; the state is already saved"),
    Stage.DONE: StageErrorHandling("internal", on_failure_hooks=False),
}


@dataclass(frozen=True)
class StageError:
    """The outcome ``handle_stage_error`` decided: how the run ends, and why."""

    status: str  # "failed" | "cancelled"
    message: str
    category: str
    hint: str = ""
    exit_code: int | None = None


def handle_stage_error(stage: str, exc: BaseException) -> StageError:
    """The one mapping of an exception raised in ``stage`` to the run's end.

    Domain failures carry their category (StepFailed, CheckFailed, StateSaveFailed, …); an
    exception without one gets the stage's declared fallback category. The caller (the
    pipeline) records it through ``owned(task)`` and then runs the on-failure hooks when the
    stage declares them.
    """
    handling = ERROR_HANDLING.get(stage, ERROR_HANDLING[Stage.PENDING])
    cancelled = bool(getattr(exc, "cancelled", False))
    message = getattr(exc, "message", None) or str(exc)
    category = getattr(exc, "category", "") or ""
    hint = getattr(exc, "hint", "") or ""
    exit_code = getattr(exc, "exit_code", None)
    kinds = {klass.__name__ for klass in type(exc).__mro__}
    if "StateSaveFailed" in kinds:
        category = "state_save"
    elif kinds & {"ConfigError", "DomainError"}:
        category = category or "configuration"
    elif not category and not kinds & {"StepFailed", "CheckFailed"}:  # a crash of the platform itself
        message = f"Internal error of the platform: {type(exc).__name__}: {exc}"
        category = "internal"
    return StageError(status="cancelled" if cancelled else "failed", message=message,
                      category=category or handling.category, hint=hint, exit_code=exit_code)
