"""Platform overhead against bare Terraform.

Runs the same terraform_data configuration (100 and 500 resources):
  (a) bare — the terraform commands the platform itself needs for the same result, in a temp dir:
      init + plan -out + show -json for a plan; init + apply <planfile> for an apply;
  (b) through the platform end to end with a real django-q2 worker: enqueue → plan task done with its
      summary and plan JSON stored; confirm → apply task done with the state version saved.
  (c) the same as (b) with one advisory script hook, one policy set (Rego, advisory) and cost
      estimation with a catalog that prices terraform_data (``*_checks_*`` figures).
Prints `BENCH <metric> <value>` lines. Uses DATABASE_URL when set (else the local SQLite file).
  (d) the same as (b) with monitoring on (issue 14): one global webhook channel wanting every event
      (a local receiver answering 200) and /metrics scraped every 5 s (``*_monitored`` figures).
Each repeat runs (a)–(d) back to back, so the host's load changes hit every variant alike.
Then ``BENCH phase_<name>_ms``: where the platform's own time goes in (b) at 500 resources (medians):
queue waits, claim, pre-checks, work dir, each terraform command, plan JSON parse, summary and
masking, encryption, storing, cost, policies, hooks, state save, and ``*_platform_own`` — a run's
time in the worker outside terraform.

    .venv/bin/python bench/overhead.py
    BENCH_SIZES=500 BENCH_VARIANTS=plain,checks BENCH_REPEATS=9 .venv/bin/python bench/overhead.py
"""

import http.server
import json
import os
import shutil
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path

import _setup  # noqa: F401 — first: sets Django up from the repository root
from _setup import WorkerCluster, bare_terraform as terraform, delete_workspace, terraform_config as config

from django.conf import settings  # noqa: E402
from django.core.management import call_command  # noqa: E402

from django.contrib.auth import get_user_model  # noqa: E402
from django.test import Client  # noqa: E402

from executions.hooks import hook_save  # noqa: E402
from executions.models import NotificationChannel, WorkspaceTask  # noqa: E402
from executions.notifications import channel_create  # noqa: E402
from executions.policies import policy_set_save  # noqa: E402
from executions.services import task_confirm, task_queue_run  # noqa: E402
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Workspace  # noqa: E402

Status = WorkspaceTask.Status
REPEATS = int(os.environ.get("BENCH_REPEATS", "3"))
# /metrics scrapes during the monitored runs: 6× the shipped interval (deploy/prometheus: 30 s).
SCRAPE_SECONDS = float(os.environ.get("BENCH_SCRAPE_SECONDS", "5"))


def bare(n: int) -> tuple[float, float]:
    with tempfile.TemporaryDirectory() as tmp:
        cwd = Path(tmp)
        (cwd / "main.tf.json").write_text(config(n))
        times = BARE_PHASES.setdefault(n, [])
        times.append({})

        def timed(name, args):
            start = time.perf_counter()
            terraform(args, cwd)
            times[-1][name] = time.perf_counter() - start

        timed("plan_init", ["init", "-input=false", "-no-color"])
        timed("plan_plan", ["plan", "-input=false", "-no-color", "-out=plan.tfplan", "-detailed-exitcode"])
        timed("plan_show", ["show", "-json", "plan.tfplan"])
        shutil.rmtree(cwd / ".terraform", ignore_errors=True)
        timed("apply_init", ["init", "-input=false", "-no-color"])
        timed("apply_apply", ["apply", "-input=false", "-no-color", "plan.tfplan"])
        row = times[-1]
        return row["plan_init"] + row["plan_plan"] + row["plan_show"], row["apply_init"] + row["apply_apply"]


BARE_PHASES: dict = {}  # n → [{command: seconds}] of each bare run


def wait(task_id: int, statuses: set, timeout: float = 600) -> WorkspaceTask:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = WorkspaceTask.objects.defer("plan_file", "plan_json").get(pk=task_id)
        if task.status in statuses:
            return task
        time.sleep(0.02)
    raise SystemExit(f"task {task_id} did not finish in {timeout} s")


BENCH_POLICY = """package bench.values

import rego.v1

deny contains msg if {
  some rc in input.plan.resource_changes
  rc.type == "terraform_data"
  not startswith(rc.change.after.input, "value-")
  msg := sprintf("%s: unexpected input", [rc.address])
}

warn contains "cost rises by more than 1000 a month" if { input.cost.diff > 1000 }
"""
PRICES = {"prices": {"terraform_data": {"monthly": 0.5}}}


def platform(n: int, tag: str, checks: bool = False) -> tuple[float, float]:
    ws = Workspace.objects.create(name=f"bench-{tag}-{n}-{int(time.time())}")
    try:
        code_version_save(workspace=ws, code=config(n))
        if checks:
            hook_save(workspace=ws, name="bench-hook", stage="post_plan", kind="script", enforcement="advisory",
                      command='test -s "$IAC_PLAN_JSON"', timeout=30)
            policy_set_save(workspace=ws, name="bench-policy", enforcement="advisory", rego=BENCH_POLICY)
        start = time.perf_counter()
        plan = task_queue_run(workspace=ws, kind="plan_and_apply")
        plan = wait(plan.pk, {Status.PLANNED, Status.FAILED})
        plan_s = time.perf_counter() - start
        if plan.status != Status.PLANNED or plan.change_summary.get("add") != n or not plan.plan_json:
            raise SystemExit(f"plan did not complete as expected: {plan.status} {plan.error_message}")
        start = time.perf_counter()
        apply = task_confirm(task=plan)
        apply = wait(apply.pk, {Status.APPLIED, Status.FAILED, Status.CANCELLED})
        while not StateVersion.objects.filter(task=apply).exists():
            time.sleep(0.02)
        apply_s = time.perf_counter() - start
        if apply.status != Status.APPLIED:
            raise SystemExit(f"apply failed: {apply.error_message}")
        PHASES.setdefault((n, tag.split("_", 1)[1] if "_" in tag else ""), []).append(phases(plan, apply))
        return plan_s, apply_s
    finally:
        delete_workspace(ws)


PHASES: dict = {}  # (n, variant) → [{phase: seconds}] of each run


def phases(plan: WorkspaceTask, apply: WorkspaceTask) -> dict:
    """Where one plan & apply spent its time: the queue waits (the apply's includes the dispatch
    after the confirmation) and the worker's own timings (``context["timings"]``)."""
    plan.refresh_from_db()
    apply.refresh_from_db()
    out = {"plan_queue_wait": (plan.started_at - plan.queued_at).total_seconds(),
           "apply_queue_wait": (apply.started_at - apply.queued_at).total_seconds()}
    for prefix, task in (("plan", plan), ("apply", apply)):
        timings = (task.context or {}).get("timings") or {}
        for name, seconds in timings.items():
            out[f"{prefix}_{name}"] = seconds
        busy = (task.finished_at - task.started_at).total_seconds()
        terraform = sum(v for k, v in timings.items() if k.startswith("terraform_"))
        out[f"{prefix}_platform_own"] = busy - terraform  # the run's time in the worker outside terraform
    return out


def print_phases() -> None:
    for name in sorted({key for row in BARE_PHASES.get(max(SIZES), []) for key in row}):
        value = statistics.median(row[name] for row in BARE_PHASES[max(SIZES)]) * 1000
        print(f"BENCH bare_phase_{name}_ms {value:.1f}")
    for (n, variant), rows in sorted(PHASES.items()):
        if n != max(SIZES):
            continue
        for name in sorted({key for row in rows for key in row}):
            value = statistics.median(row.get(name, 0.0) for row in rows) * 1000
            print(f"BENCH phase_{variant + '_' if variant else ''}{name}_ms {value:.1f}")


def queue_start_latency(samples: int = 10) -> float:
    ws = Workspace.objects.create(name=f"bench-queue-{int(time.time())}")
    try:
        code_version_save(workspace=ws, code=config(1))
        delays = []
        for _ in range(samples):
            queued = task_queue_run(workspace=ws, kind="plan")
            task = wait(queued.pk, {Status.PLAN_FINISHED, Status.FAILED})
            delays.append((task.started_at - task.queued_at).total_seconds())
        return statistics.median(delays)
    finally:
        delete_workspace(ws)


class _Receiver(http.server.BaseHTTPRequestHandler):
    received = 0

    def do_POST(self):  # noqa: N802
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        _Receiver.received += 1
        self.send_response(200)
        self.end_headers()

    def log_message(self, *args):
        pass


class Monitoring:
    """One channel (a local webhook answering 200) and a scraper hitting /metrics every SCRAPE_SECONDS."""

    def __init__(self):
        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), _Receiver)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        user, _ = get_user_model().objects.get_or_create(username="bench-root", defaults={"is_superuser": True,
                                                                                         "is_staff": True})
        self.channel = channel_create(user=user, name=f"bench-{int(time.time())}", kind="webhook",
                                      target=f"http://127.0.0.1:{self.server.server_address[1]}/", secret="bench")
        settings.IAC_METRICS_TOKEN = "bench-token"
        self.stop = threading.Event()
        self.scrapes = 0
        self.thread = threading.Thread(target=self._scrape, daemon=True)
        self.thread.start()

    def _scrape(self):
        client = Client(HTTP_HOST="127.0.0.1")
        while not self.stop.wait(SCRAPE_SECONDS):
            response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer bench-token")
            assert response.status_code == 200, response.status_code
            self.scrapes += 1

    def close(self):
        self.stop.set()
        self.thread.join()
        NotificationChannel.objects.filter(pk=self.channel.pk).delete()
        self.server.shutdown()
        return self.scrapes


def monitored(n: int, tag: str, totals: dict) -> tuple[float, float]:
    monitoring = Monitoring()
    try:
        return platform(n, tag)
    finally:
        totals["scrapes"] += monitoring.close()


_WANTED = os.environ.get("BENCH_VARIANTS", "plain,checks,monitored").split(",")
VARIANTS = tuple(suffix for suffix, name in (("", "plain"), ("_checks", "checks"), ("_monitored", "monitored"))
                 if name in _WANTED)
SIZES = tuple(int(n) for n in os.environ.get("BENCH_SIZES", "100,500").split(","))


def measure() -> None:
    """Each repeat runs bare terraform and the three platform variants back to back (plain; with
    one advisory hook, one policy set and cost estimation; with metrics scraped and one channel),
    so a change of the host's load hits every variant alike; the medians are printed."""
    totals = {"scrapes": 0}
    runners = {"": lambda n, i: platform(n, f"run{i}"),
               "_checks": lambda n, i: platform(n, f"run{i}_checks", checks=True),
               "_monitored": lambda n, i: monitored(n, f"run{i}_monitored", totals)}
    for n in SIZES:
        rows = {variant: [] for variant in VARIANTS}
        bares = []
        for i in range(REPEATS):
            bares.append(bare(n))
            for variant in VARIANTS:
                rows[variant].append(runners[variant](n, i))
        bare_plan = statistics.median(b[0] for b in bares)
        bare_apply = statistics.median(b[1] for b in bares)
        for suffix in VARIANTS:
            if suffix and "" in rows:
                # What a variant adds, paired repeat by repeat (both ran back to back): steadier
                # than the difference of two medians when the host's load drifts.
                for i, name in ((0, "plan"), (1, "apply")):
                    delta = statistics.median(v[i] - p[i] for v, p in zip(rows[suffix], rows[""]))
                    base = bare_plan if i == 0 else bare_apply
                    print(f"BENCH {name}_ratio_{n}{suffix}_paired_delta {delta / base:+.3f}")
            plat_plan = statistics.median(p[0] for p in rows[suffix])
            plat_apply = statistics.median(p[1] for p in rows[suffix])
            print(f"# samples {n}{suffix or '_plain'}: plan " + " ".join(f"{p[0]:.2f}" for p in rows[suffix])
                  + " | apply " + " ".join(f"{p[1]:.2f}" for p in rows[suffix]) + " | bare plan "
                  + " ".join(f"{b[0]:.2f}" for b in bares))
            print(f"BENCH bare_plan_{n}_s{suffix} {bare_plan:.3f}")
            print(f"BENCH platform_plan_{n}_s{suffix} {plat_plan:.3f}")
            print(f"BENCH plan_ratio_{n}{suffix} {plat_plan / bare_plan:.3f}")
            print(f"BENCH bare_apply_{n}_s{suffix} {bare_apply:.3f}")
            print(f"BENCH platform_apply_{n}_s{suffix} {plat_apply:.3f}")
            if n == 500:
                print(f"BENCH apply_ratio_{n}{suffix} {plat_apply / bare_apply:.3f}")
        sys.stdout.flush()
    print_phases()
    print(f"BENCH monitored_scrapes {totals['scrapes']}")
    print(f"BENCH monitored_notifications_received {_Receiver.received}")
    print(f"BENCH queue_start_median_s {queue_start_latency():.3f}")


def main() -> None:
    call_command("migrate", verbosity=0)
    prices = Path(tempfile.mkdtemp()) / "prices.json"
    prices.write_text(json.dumps(PRICES))
    with WorkerCluster(workers=2, IAC_PRICING_FILE=str(prices)):
        queue_start_latency(4)  # warm-up: each worker process pays its imports and terraform check once
        measure()


if __name__ == "__main__":
    main()
