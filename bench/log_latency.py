"""Benchmark: how soon a line terraform prints is on the run page (issue 17, point 3).

Run from the repository root:  .venv/bin/python bench/log_latency.py
Uses DATABASE_URL when set (else the local default). It starts the dev server
(``manage.py runserver --noreload`` on a free port) and a real worker (``manage.py qcluster``),
makes a workspace whose apply runs a ``local-exec`` printing ``TS <epoch ms>`` lines 0.3 s
apart, confirms its plan and opens the apply's run page in Debian's chromium (Playwright). A
MutationObserver in the page notes when each line appears; latency = that time minus the
printed timestamp (one machine, one clock). Once with Server-Sent Events, once with the poll
fallback only (EventSource removed from the page). Then it counts the TaskLog rows a big plan
and apply make, with the log's batching window as it is and as it was (0.5 s). It prints

    BENCH log_latency_p50_ms <v>        BENCH log_latency_poll_p50_ms <v>
    BENCH log_latency_p95_ms <v>        BENCH log_latency_poll_p95_ms <v>
    BENCH log_rows_plan_<n> <v>         BENCH log_rows_plan_<n>_window_0.5s <v>   (and apply)
    BENCH load_average_1m <v>

and deletes what it created. Target: log_latency_p95_ms <= 1000.
"""

import json
import os
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")  # Playwright's sync API runs an event loop here
import _setup  # noqa: E402 — first: sets Django up from the repository root
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.db import IntegrityError  # noqa: E402

from executions.executor import runner  # noqa: E402
from executions.executor.logs import LogWriter  # noqa: E402
from executions.models import TaskLog, WorkspaceTask  # noqa: E402
from executions.services import task_confirm, task_queue_run  # noqa: E402
from workspaces.code.services import code_version_save  # noqa: E402
from workspaces.models import Workspace  # noqa: E402

ROOT = _setup.ROOT
Status = WorkspaceTask.Status
LINES, GAP = 20, 0.3
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "2"))  # runs per mode (LINES samples each)
BIG = int(os.environ.get("BENCH_BIG_RESOURCES", "1000"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "bench-pw-" + uuid.uuid4().hex[:8]
OBSERVER = """() => {
  window.__seen = [];
  const lines = document.getElementById("log-lines");
  new MutationObserver((records) => {
    const now = Date.now();
    for (const record of records) for (const node of record.addedNodes) {
      const match = /TS (\\d{13})/.exec(node.textContent || "");
      if (match && !/echo/.test(node.textContent)) window.__seen.push([Number(match[1]), now]);
    }
  }).observe(lines, {childList: true, subtree: true});
}"""


def ticker_code() -> str:
    command = f"sleep 3; for i in $(seq {LINES}); do echo TS $(date +%s%3N); sleep {GAP}; done"
    return json.dumps({"resource": {"terraform_data": {"ticker": {"provisioner": {"local-exec": {"command": command}}}}}})


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait(task_id: int, statuses: set, timeout: float = 300) -> WorkspaceTask:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = WorkspaceTask.objects.defer("plan_file", "plan_json").get(pk=task_id)
        if task.status in statuses:
            return task
        time.sleep(0.05)
    raise SystemExit(f"task {task_id} did not finish in {timeout} s")


def delete(ws) -> None:
    for _ in range(20):
        try:
            ws.delete()
            return
        except IntegrityError:  # the worker records the run's notification just after it ends
            time.sleep(0.25)
    ws.delete()


def one_round(browser, base: str, user, *, poll_only: bool) -> list[float]:
    ws = Workspace.objects.create(name=f"bench-livelog-{uuid.uuid4().hex[:8]}")
    context = browser.new_context(base_url=base)
    try:
        if poll_only:
            context.add_init_script("delete window.EventSource")
        page = context.new_page()
        page.goto("/login/")
        page.fill("#id_username", user.username)
        page.fill("#id_password", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/")
        code_version_save(workspace=ws, code=ticker_code())
        plan = wait(task_queue_run(workspace=ws, kind="plan_and_apply").pk, {Status.PLANNED, Status.FAILED})
        if plan.status != Status.PLANNED:
            raise SystemExit(f"plan failed: {plan.error_message}")
        apply = task_confirm(task=plan)
        page.goto(f"/workspaces/{ws.name}/runs/{apply.pk}/")
        page.evaluate(OBSERVER)
        done = wait(apply.pk, {Status.APPLIED, Status.FAILED, Status.CANCELLED})
        if done.status != Status.APPLIED:
            raise SystemExit(f"apply failed: {done.error_message}")
        time.sleep(2.5)  # the last lines reach the page (the poll answers every second)
        seen = page.evaluate("window.__seen")
        if len(seen) < LINES // 2:
            raise SystemExit(f"only {len(seen)} of {LINES} lines were seen appearing (the page loaded late?)")
        return [shown - printed for printed, shown in seen]
    finally:
        context.close()
        delete(ws)


def percentile(samples: list[float], p: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, int(round(p / 100 * (len(ordered) - 1))))]


def latencies(base: str) -> None:
    from playwright.sync_api import sync_playwright

    user = get_user_model().objects.create_user(username=f"bench-{uuid.uuid4().hex[:8]}", password=PASSWORD,
                                                is_superuser=True)
    try:
        with sync_playwright() as playwright:
            browser = playwright.chromium.launch(executable_path=shutil.which("chromium"), args=CHROMIUM_ARGS)
            try:
                for suffix, poll_only in (("", False), ("_poll", True)):
                    samples = []
                    for _ in range(ROUNDS):
                        samples += one_round(browser, base, user, poll_only=poll_only)
                    print(f"BENCH log_latency{suffix}_samples {len(samples)}")
                    print(f"BENCH log_latency{suffix}_p50_ms {statistics.median(samples):.0f}")
                    print(f"BENCH log_latency{suffix}_p95_ms {percentile(samples, 95):.0f}")
                    print(f"BENCH log_latency{suffix}_max_ms {max(samples):.0f}")
                    sys.stdout.flush()
            finally:
                browser.close()
    finally:
        user.delete()


def big_config(n: int) -> str:
    return json.dumps({"resource": {"terraform_data": {f"r{i}": {"input": f"value-{i}"} for i in range(n)}}})


def rows_for(args: list[str], workdir: Path, window: float) -> tuple[int, int]:
    """TaskLog rows and lines one terraform command makes with this batching window."""
    ws = Workspace.objects.create(name=f"bench-rows-{uuid.uuid4().hex[:8]}")
    try:
        task = WorkspaceTask.objects.create(workspace=ws, task_type="plan")
        log = LogWriter(task)
        log.FLUSH_SECONDS = window
        env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
        result = runner.run(args, cwd=workdir, env=env, log=log, timeout=900)
        log.flush()
        if result.exit_code not in (0, 2):
            raise SystemExit(f"terraform {args[0]} failed: {result.output_tail}")
        texts = list(TaskLog.objects.filter(task=task).values_list("text", flat=True))
        return len(texts), sum(text.count("\n") + 1 for text in texts)
    finally:
        ws.delete()


def rows() -> None:
    for window, suffix in ((LogWriter.FLUSH_SECONDS, ""), (0.5, "_window_0.5s")):
        workdir = Path(tempfile.mkdtemp(prefix="bench-rows-"))
        try:
            (workdir / "main.tf.json").write_text(big_config(BIG))
            plan_rows, plan_lines = rows_for(["plan", "-input=false", "-no-color", "-out=plan.tfplan"], workdir, window)
            apply_rows, apply_lines = rows_for(["apply", "-input=false", "-no-color", "plan.tfplan"], workdir, window)
        finally:
            shutil.rmtree(workdir, ignore_errors=True)
        print(f"BENCH log_rows_plan_{BIG}{suffix} {plan_rows}  ({plan_lines} lines)")
        print(f"BENCH log_rows_apply_{BIG}{suffix} {apply_rows}  ({apply_lines} lines)")
        sys.stdout.flush()


def main() -> None:
    call_command("migrate", verbosity=0)
    call_command("collectstatic", interactive=False, verbosity=0)  # WhiteNoise serves htmx and our JS
    port = free_port()
    env = {**os.environ, "IAC_WORKERS": "1", "SECRET_KEY": settings.SECRET_KEY,
           "IAC_ENCRYPTION_KEY": settings.IAC_ENCRYPTION_KEY}
    started = []
    try:
        for command in (["qcluster"], ["runserver", "--noreload", f"127.0.0.1:{port}"]):
            started.append(subprocess.Popen([sys.executable, str(ROOT / "manage.py"), *command], cwd=ROOT, env=env,
                                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                            start_new_session=True))
        for _ in range(100):
            try:
                socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
                break
            except OSError:
                time.sleep(0.1)
        latencies(f"http://127.0.0.1:{port}")
    finally:
        for process in started:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
    if os.environ.get("BENCH_ROWS", "1") != "0":
        rows()
    print(f"BENCH load_average_1m {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
