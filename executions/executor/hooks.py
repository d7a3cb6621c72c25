"""Running the hooks of a pipeline point (stages.HOOK_STAGES, plus ``on_failure``).

script:   ``/bin/sh -c <command>`` in the run's work dir, its own process group, the run's
          environment plus IAC_RUN_ID, IAC_RUN_TYPE, IAC_WORKSPACE, IAC_HOOK_STAGE, IAC_PLAN_JSON
          (path of the plan JSON, when there is one), IAC_RUN_URL; its output goes into the run's
          log through the log writer (redacted like terraform's); exit code 0 passes.
http:     POST of a JSON payload, header ``X-IAC-Signature: sha512=<hex HMAC-SHA512 of the body
          with the hook's secret>``; 5xx, connection errors and timeouts are retried with back-off
          (IAC_HOOK_HTTP_ATTEMPTS, IAC_HOOK_HTTP_BACKOFF); a 2xx answer ``{"status": "passed" |
          "failed", "message", "url"}`` decides; any other answer fails. An *asynchronous* hook gets
          ``callback_url`` and ``callback_token`` in the payload: a 2xx answer without a final status
          only acknowledges, and the run waits (the hook's timeout) for the result POSTed there.
function: a callable named in IAC_HOOK_FUNCTIONS, called with a :class:`HookContext`; it returns
          a :class:`HookOutcome`, a dict like the HTTP answer, or a bool.

A failed mandatory hook raises StepFailed (category ``hook``) with its message; an advisory
one leaves a warning (a stored result with status failed). Results are stored per run.
"""

import hashlib
import hmac
import json
import os
import signal
import subprocess
import threading
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass, field

from django.conf import settings
from django.core import signing
from django.urls import reverse
from django.utils.module_loading import import_string

from executions.executor.isolation import run_as_uid, run_gid
from executions.executor.steps import StepFailed
from executions.hooks import hook_callback_token, hook_function_allowed, hooks_for
from executions.models import Hook, HookCallback, HookResult
from workspaces.crypto import decrypt_text

SIGNATURE_HEADER = "X-IAC-Signature"
PLAN_JSON_SALT = "executions.plan-json"
PLAN_JSON_URL_SECONDS = 600


@dataclass
class HookContext:
    run_id: int
    run_type: str
    workspace: str
    stage: str
    plan_json_path: str
    work_dir: str
    plan_summary: dict = field(default_factory=dict)
    failure: dict | None = None


@dataclass
class HookOutcome:
    status: str  # passed | failed
    message: str = ""
    url: str = ""
    attempts: int = 1


def sign(body: bytes, secret: str) -> str:
    return "sha512=" + hmac.new(secret.encode(), body, hashlib.sha512).hexdigest()


def plan_json_token(task_id: int) -> str:
    return signing.dumps({"task": task_id}, salt=PLAN_JSON_SALT)


def plan_json_task_id(token: str) -> int | None:
    try:
        return int(signing.loads(token, salt=PLAN_JSON_SALT, max_age=PLAN_JSON_URL_SECONDS)["task"])
    except (signing.BadSignature, KeyError, TypeError, ValueError):
        return None


def base_url() -> str:
    return getattr(settings, "IAC_BASE_URL", "http://127.0.0.1:8000").rstrip("/")


def run_hooks(run, hook_stage: str, *, failure=None) -> list[HookResult]:
    """Run the enabled hooks of ``hook_stage`` for ``run`` (a pipeline TaskRun), store their results."""
    task = run.task
    hooks = list(hooks_for(task.workspace, hook_stage))
    if not hooks:
        return []
    plan_task = task.plan_task if task.task_type == "apply" else task
    plan_json = run.workdir.path / "plan.json" if run.workdir else None
    context = HookContext(
        run_id=task.pk, run_type=task.task_type, workspace=task.workspace.name, stage=hook_stage,
        plan_json_path=str(plan_json) if plan_json and plan_json.exists() else "",
        work_dir=str(run.workdir.path) if run.workdir else "",
        plan_summary={k: v for k, v in (plan_task.change_summary or {}).items() if k not in ("resources", "unchanged")},
        failure={"message": failure.message, "category": failure.category} if failure else None,
    )
    results, blocking = [], None
    for hook in hooks:
        run.log.info(f"[platform] hook {hook.name!r} ({hook.kind}, {hook.enforcement}) at {hook_stage}")
        run.record_stage()  # the stage and this line on the page while the hook runs (it may take a while)
        started = time.monotonic()
        try:
            outcome = _RUNNERS[hook.kind](hook, context, run)
        except Exception as exc:  # noqa: BLE001 — a broken hook is a failed hook, never a crash
            outcome = HookOutcome("failed", f"{type(exc).__name__}: {exc}")
        if outcome.status not in ("passed", "failed"):
            outcome = HookOutcome("failed", f"unexpected status {outcome.status!r}: {outcome.message}", outcome.url,
                                  outcome.attempts)
        result = HookResult(
            task_id=task.pk, hook=hook, name=hook.name, stage=hook_stage, kind=hook.kind,
            enforcement=hook.enforcement, status=outcome.status, message=run.log.redact(outcome.message)[:5000],
            url=outcome.url[:500], duration=round(time.monotonic() - started, 3), attempts=outcome.attempts,
        )
        if not run.heartbeat.lost:
            result.save()
        results.append(result)
        verdict = "passed" if outcome.status == "passed" else (
            "FAILED" if hook.enforcement == Hook.Enforcement.MANDATORY else "failed (advisory: a warning)")
        run.log.info(f"[platform] hook {hook.name!r} {verdict} after {result.duration:.2f} s, "
                     f"{outcome.attempts} attempt(s)" + (f": {result.message}" if result.message else ""))
        if (outcome.status == "failed" and hook.enforcement == Hook.Enforcement.MANDATORY
                and hook_stage != Hook.HookStage.ON_FAILURE and blocking is None):
            blocking = result
    if blocking is not None:
        raise StepFailed(f"Mandatory hook {blocking.name!r} failed at {hook_stage}: "
                         f"{blocking.message or 'no message'}", category="hook")
    return results


# --- the three kinds ------------------------------------------------------------------------------
def _run_script(hook: Hook, context: HookContext, run) -> HookOutcome:
    env = dict(run.workdir.env if run.workdir else os.environ)
    env.update({
        "IAC_RUN_ID": str(context.run_id), "IAC_RUN_TYPE": context.run_type, "IAC_WORKSPACE": context.workspace,
        "IAC_HOOK_STAGE": context.stage, "IAC_PLAN_JSON": context.plan_json_path,
        "IAC_RUN_URL": base_url() + reverse("run_detail", args=[context.workspace, context.run_id]),
        "IAC_PLAN_SUMMARY": json.dumps(context.plan_summary),
    })
    if context.failure:
        env["IAC_FAILURE_MESSAGE"], env["IAC_FAILURE_CATEGORY"] = context.failure["message"], context.failure["category"]
    process = subprocess.Popen(["/bin/sh", "-c", hook.command], cwd=context.work_dir or None, env=env,
                               stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                               start_new_session=True, **script_credentials(run.task))
    try:
        output, _ = process.communicate(timeout=hook.timeout)
    except subprocess.TimeoutExpired:
        os.killpg(process.pid, signal.SIGKILL)
        output, _ = process.communicate()
        _log_output(run, output)
        return HookOutcome("failed", f"timed out after {hook.timeout} s")
    lines = _log_output(run, output)
    if process.returncode == 0:
        return HookOutcome("passed", lines[-1] if lines else "")
    return HookOutcome("failed", f"exit code {process.returncode}" + (f": {lines[-1]}" if lines else ""))


def script_credentials(task) -> dict:
    """A script hook runs as the run's OS user and group, like its terraform (IAC_RUN_AS_USER)."""
    uid = run_as_uid()
    if uid is None:
        return {}
    return {"user": uid, "group": run_gid(task.pk), "extra_groups": [], "umask": 0o007}


def give_to_run(path, task) -> None:
    """A file the worker wrote into the work dir (the plan JSON), readable by the run's group."""
    if run_as_uid() is None:
        return
    os.chown(path, 0, run_gid(task.pk))
    os.chmod(path, 0o640)


def _log_output(run, output: bytes) -> list[str]:
    lines = [run.log.redact(line) for line in output.decode(errors="replace").splitlines()]
    for line in lines:
        run.log.add(line)
    run.log.flush()
    return lines


def http_payload(context: HookContext) -> dict:
    return {
        "run": {"id": context.run_id, "type": context.run_type,
                "url": base_url() + reverse("run_detail", args=[context.workspace, context.run_id])},
        "workspace": {"name": context.workspace},
        "stage": context.stage,
        "plan_summary": context.plan_summary,
        "plan_json_url": (base_url() + reverse("run_plan_json", args=[context.workspace, context.run_id])
                          + "?token=" + plan_json_token(context.run_id)) if context.plan_json_path else None,
        "failure": context.failure,
    }


def _run_http(hook: Hook, context: HookContext, run) -> HookOutcome:
    started = time.monotonic()
    payload = http_payload(context)
    if hook.asynchronous:
        payload["callback_url"] = base_url() + reverse("hook_callback")
        payload["callback_token"] = hook_callback_token(task_id=context.run_id, hook=hook, stage=context.stage)
    body = json.dumps(payload, sort_keys=True).encode()
    secret = decrypt_text(hook.secret) if hook.secret else ""
    headers = {"Content-Type": "application/json", "User-Agent": "iacplatform-hook",
               SIGNATURE_HEADER: sign(body, secret)}
    attempts = max(1, int(settings.IAC_HOOK_HTTP_ATTEMPTS))
    problem = ""
    for attempt in range(1, attempts + 1):
        if attempt > 1:
            time.sleep(float(settings.IAC_HOOK_HTTP_BACKOFF) * 2 ** (attempt - 2))
        request = urllib.request.Request(hook.url, data=body, headers=headers, method="POST")
        try:
            with urllib.request.urlopen(request, timeout=hook.timeout) as response:  # noqa: S310 — operator's URL
                answer = response.read(65536)
                if hook.asynchronous and not _final(answer):
                    return _wait_for_callback(hook, context, run, started=started, attempts=attempt)
                return _http_answer(response.status, answer, attempt)
        except urllib.error.HTTPError as exc:
            if exc.code < 500:
                return HookOutcome("failed", f"HTTP {exc.code} {exc.reason}", attempts=attempt)
            problem = f"HTTP {exc.code} {exc.reason}"
        except (TimeoutError, urllib.error.URLError, ConnectionError, OSError) as exc:
            reason = getattr(exc, "reason", exc)
            problem = "timed out" if isinstance(reason, TimeoutError) or "timed out" in str(reason) else str(reason)
        run.log.info(f"[platform] hook {hook.name!r}: attempt {attempt}/{attempts} failed ({problem})")
    return HookOutcome("failed", f"no answer after {attempts} attempts: {problem}", attempts=attempts)


def _final(answer: bytes) -> bool:
    """An asynchronous hook's 2xx answer may already hold its result; else it only acknowledges."""
    try:
        doc = json.loads(answer or b"{}")
    except ValueError:
        return False
    return isinstance(doc, dict) and doc.get("status") in ("passed", "failed")


def _wait_for_callback(hook: Hook, context: HookContext, run, *, started: float, attempts: int) -> HookOutcome:
    """Wait (the hook's timeout, from its first request) for the result POSTed to the callback URL."""
    deadline = started + hook.timeout
    run.log.info(f"[platform] hook {hook.name!r}: acknowledged; waiting up to {hook.timeout} s for its callback")
    run.log.flush()
    while True:
        answer = HookCallback.objects.filter(task_id=context.run_id, hook=hook, stage=context.stage).first()
        if answer is not None:
            return HookOutcome(answer.status, answer.message, answer.url, attempts=attempts)
        if run.should_cancel():
            return HookOutcome("failed", "the run was cancelled while the hook's callback was awaited",
                               attempts=attempts)
        if time.monotonic() >= deadline:
            return HookOutcome("failed", f"no callback within {hook.timeout} s", attempts=attempts)
        time.sleep(0.25)


def _http_answer(status: int, answer: bytes, attempt: int) -> HookOutcome:
    try:
        doc = json.loads(answer or b"{}")
    except ValueError:
        return HookOutcome("failed", f"HTTP {status}: the answer is not JSON", attempts=attempt)
    if not isinstance(doc, dict):
        return HookOutcome("failed", f"HTTP {status}: the answer is not a JSON object", attempts=attempt)
    return HookOutcome(str(doc.get("status", "failed")), str(doc.get("message", "")), str(doc.get("url", "") or ""),
                       attempts=attempt)


def _run_function(hook: Hook, context: HookContext, run) -> HookOutcome:
    if not hook_function_allowed(hook.function):  # the setting may have changed since it was saved
        return HookOutcome("failed", f"{hook.function!r} is no longer listed in IAC_HOOK_FUNCTIONS")
    function = import_string(hook.function)
    box: dict = {}

    def call():
        try:
            box["answer"] = function(context)
        except Exception as exc:  # noqa: BLE001 — reported as the hook's failure
            box["error"] = exc

    # A daemon thread, so that a function that never returns cannot hold the run past its timeout.
    thread = threading.Thread(target=call, name=f"hook-{hook.pk}", daemon=True)
    thread.start()
    thread.join(hook.timeout)
    if thread.is_alive():
        return HookOutcome("failed", f"timed out after {hook.timeout} s")
    if "error" in box:
        raise box["error"]
    answer = box.get("answer")
    if isinstance(answer, HookOutcome):
        return answer
    if isinstance(answer, bool):
        return HookOutcome("passed" if answer else "failed")
    if isinstance(answer, dict):
        return HookOutcome(str(answer.get("status", "failed")), str(answer.get("message", "")),
                           str(answer.get("url", "") or ""))
    return HookOutcome("failed", f"the function returned {type(answer).__name__}, not a result")


_RUNNERS = {Hook.Kind.SCRIPT: _run_script, Hook.Kind.HTTP: _run_http, Hook.Kind.FUNCTION: _run_function}
__all__ = ["HookContext", "HookOutcome", "run_hooks", "sign", "http_payload", "asdict"]
