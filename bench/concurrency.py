"""Many workspaces at once: 20 workspaces × plan & apply of 100 terraform_data resources, queued
all at once, on a real worker cluster of 2 and then 4 workers, against the same 20 jobs done by
bare terraform with the same parallelism (a pool of 2 or 4 threads, each job in its own temp dir:
``init``, ``plan -out``, ``show -json``, ``apply <planfile>`` — the platform's apply task also runs
its own ``init`` first, since it may run on another host than its plan; the bare jobs do not).

The workspaces auto-apply: a plan with changes confirms itself, its apply task queues behind it.
The platform's time runs from the first run queued to the end of the last run (its ``finished_at``).

    BENCH concurrent_platform_w{n}_s   wall time of the 20 runs through the platform
    BENCH concurrent_bare_w{n}_s       wall time of the 20 bare jobs with a pool of n
    BENCH concurrent_ratio_w{n}        platform / bare
    BENCH max_running_total_w{n}       most tasks running at one moment (≤ n expected)
    BENCH concurrent_busy_w{n}_s       worker-seconds spent in runs (claim to end), of which
    BENCH concurrent_terraform_w{n}_s  in terraform commands; BENCH concurrent_idle_w{n}_s the
                                       worker-seconds with no run (n × wall − busy: queue and
                                       dispatch gaps, the batch's tail); and for comparison
    BENCH concurrent_bare_busy_w{n}_s  pool-seconds in the bare jobs
    BENCH lost_runs                    runs (over every worker count) not ended applied with a state
                                       version saved: failed, stuck past BENCH_TIMEOUT, lost
    BENCH max_running_per_workspace    most overlapping running tasks of one workspace, from the
                                       tasks' started_at/finished_at intervals (1 expected)

The machine may be shared: run ``uptime`` alongside. Uses DATABASE_URL when set.
Shorter runs: BENCH_WORKSPACES, BENCH_RESOURCES, BENCH_WORKERS (e.g. "2"), BENCH_TIMEOUT (s).

    .venv/bin/python bench/concurrency.py
"""

import os
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import _setup
from django.core.management import call_command
from django.db.models import Max
from django.utils import timezone

from executions.models import WorkspaceTask
from executions.services import task_queue_run
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Workspace

Status = WorkspaceTask.Status
WORKSPACES = int(os.environ.get("BENCH_WORKSPACES", "20"))
RESOURCES = int(os.environ.get("BENCH_RESOURCES", "100"))
WORKER_COUNTS = tuple(int(n) for n in os.environ.get("BENCH_WORKERS", "2,4").split(","))
TIMEOUT = float(os.environ.get("BENCH_TIMEOUT", "1800"))
ENDED = {Status.FAILED, Status.CANCELLED, Status.DISCARDED, Status.PLANNED_NO_CHANGES, Status.POLICY_OVERRIDE}


def bare_job(index: int) -> float:
    start = time.perf_counter()
    with tempfile.TemporaryDirectory(prefix=f"bench-conc-{index}-") as tmp:
        cwd = Path(tmp)
        (cwd / "main.tf.json").write_text(_setup.terraform_config(RESOURCES))
        _setup.bare_terraform(["init", "-input=false", "-no-color"], cwd)
        _setup.bare_terraform(["plan", "-input=false", "-no-color", "-out=plan.tfplan", "-detailed-exitcode"], cwd)
        _setup.bare_terraform(["show", "-json", "plan.tfplan"], cwd)
        _setup.bare_terraform(["apply", "-input=false", "-no-color", "plan.tfplan"], cwd)
    return time.perf_counter() - start


def bare(workers: int) -> tuple[float, float]:
    """(wall seconds, pool-seconds spent in the jobs)."""
    start = time.perf_counter()
    with ThreadPoolExecutor(max_workers=workers) as pool:
        busy = sum(pool.map(bare_job, range(WORKSPACES)))
    return time.perf_counter() - start, busy


def create_workspaces(tag: str, count: int, resources: int) -> list[Workspace]:
    workspaces = []
    for i in range(count):
        ws = Workspace.objects.create(name=f"bench-conc-{tag}-{i}", auto_apply=True)
        code_version_save(workspace=ws, code=_setup.terraform_config(resources))
        workspaces.append(ws)
    return workspaces


def wait_all(workspaces: list[Workspace], timeout: float) -> int:
    """Wait until every workspace's run has ended (applied with its state saved, or failed);
    returns how many did not end applied with a state version.

    It looks every 0.5 s with one query: the end is read from the runs' own ``finished_at``
    (``ended_at``), so a tighter poll would only compete with the runs for the two cores."""
    ids = [ws.pk for ws in workspaces]
    deadline = time.monotonic() + timeout
    while True:
        applied = set(StateVersion.objects.filter(workspace_id__in=ids, task__status=Status.APPLIED)
                      .values_list("workspace_id", flat=True))
        if len(applied) == len(ids):
            return 0
        ended = set(WorkspaceTask.objects.filter(workspace_id__in=ids, status__in=ENDED)
                    .values_list("workspace_id", flat=True))
        if len(applied | ended) == len(ids) or time.monotonic() > deadline:
            return len(ids) - len(applied)
        time.sleep(0.5)


def ended_at(workspaces: list[Workspace]):
    """When the last run of these workspaces ended (its worker's own timestamp)."""
    return WorkspaceTask.objects.filter(workspace__in=workspaces).aggregate(end=Max("finished_at"))["end"]


def overlaps(intervals: list[tuple]) -> int:
    """Most intervals open at one moment (an end at the same instant as a start does not overlap)."""
    events = sorted([(start, 1) for start, _ in intervals] + [(end, -1) for _, end in intervals])
    open_now = most = 0
    for _, step in events:
        open_now += step
        most = max(most, open_now)
    return most


def intervals_of(workspaces: list[Workspace]) -> dict[int, list[tuple]]:
    rows = (WorkspaceTask.objects.filter(workspace__in=workspaces, started_at__isnull=False)
            .values_list("workspace_id", "started_at", "finished_at"))
    far = max((end for _, _, end in rows if end), default=None)
    out: dict[int, list[tuple]] = {}
    for ws_id, start, end in rows:
        out.setdefault(ws_id, []).append((start, end or far or start))  # still running: open to the end
    return out


def worker_seconds(workspaces: list[Workspace]) -> tuple[float, float]:
    """(worker-seconds in runs, of which in terraform) over the runs of these workspaces."""
    busy = terraform = 0.0
    rows = WorkspaceTask.objects.filter(workspace__in=workspaces, started_at__isnull=False, finished_at__isnull=False)
    for started, finished, context in rows.values_list("started_at", "finished_at", "context"):
        busy += (finished - started).total_seconds()
        timings = (context or {}).get("timings") or {}
        terraform += sum(v for k, v in timings.items() if k.startswith("terraform_"))
    return busy, terraform


def platform(workers: int) -> tuple[float, int, int, int, float, float]:
    """(wall seconds, runs lost, most running tasks of one workspace, most running tasks overall,
    worker-seconds in runs, of which in terraform)."""
    tag = f"w{workers}-{int(time.time())}"
    warm = create_workspaces(f"{tag}-warm", workers, 1)
    workspaces = create_workspaces(tag, WORKSPACES, RESOURCES)
    try:
        with _setup.WorkerCluster(workers=workers):
            # Warm-up: each worker process pays its imports and terraform check once.
            for ws in warm:
                task_queue_run(workspace=ws, kind="plan")
            wait_warm(warm)
            start = timezone.now()
            for ws in workspaces:
                task_queue_run(workspace=ws, kind="plan_and_apply")
            lost = wait_all(workspaces, TIMEOUT)
            wall = ((ended_at(workspaces) or timezone.now()) - start).total_seconds()
            per_workspace = intervals_of(workspaces)
        most_per_ws = max((overlaps(spans) for spans in per_workspace.values()), default=0)
        most_total = overlaps([span for spans in per_workspace.values() for span in spans])
        return wall, lost, most_per_ws, most_total, *worker_seconds(workspaces)
    finally:
        for ws in warm + workspaces:
            _setup.delete_workspace(ws)


def wait_warm(workspaces: list[Workspace]) -> None:
    deadline = time.monotonic() + 120
    while WorkspaceTask.objects.filter(workspace__in=workspaces).exclude(
            status__in=WorkspaceTask.TERMINAL).exists():
        if time.monotonic() > deadline:
            raise SystemExit("the warm-up runs did not finish in 120 s: is the worker cluster starting?")
        time.sleep(0.1)


def main() -> None:
    call_command("migrate", verbosity=0)
    lost_total, most_per_ws = 0, 0
    for workers in WORKER_COUNTS:
        wall, lost, per_ws, total, busy, in_terraform = platform(workers)
        bare_s, bare_busy = bare(workers)
        lost_total += lost
        most_per_ws = max(most_per_ws, per_ws)
        print(f"BENCH concurrent_platform_w{workers}_s {wall:.3f}")
        print(f"BENCH concurrent_bare_w{workers}_s {bare_s:.3f}")
        print(f"BENCH concurrent_ratio_w{workers} {wall / bare_s:.3f}")
        print(f"BENCH max_running_total_w{workers} {total}")
        # Where the difference goes: worker-seconds in runs (and in terraform) against the bare
        # pool's; the idle worker-seconds are queue and dispatch gaps (and the tail of the batch).
        print(f"BENCH concurrent_busy_w{workers}_s {busy:.1f}")
        print(f"BENCH concurrent_terraform_w{workers}_s {in_terraform:.1f}")
        print(f"BENCH concurrent_idle_w{workers}_s {workers * wall - busy:.1f}")
        print(f"BENCH concurrent_bare_busy_w{workers}_s {bare_busy:.1f}")
        sys.stdout.flush()
    print(f"BENCH lost_runs {lost_total}")
    print(f"BENCH max_running_per_workspace {most_per_ws}")


if __name__ == "__main__":
    main()
