"""Fault drills: is a Terraform state ever lost? Real worker processes, real PostgreSQL, real faults.

- kill drill: an apply of 200 terraform_data resources whose local-exec provisioners write a
  file each; `kill -9` of the worker process mid-apply (5 times) and of the whole qcluster
  process group (5 times, a new cluster started at once, as a supervisor would):
    BENCH kill_states_lost       runs with an applied resource (its file exists) in no stored state
    BENCH kill_reap_s            median seconds from the kill to "workspace locked + emergency raised"
    BENCH kill_next_plan_adds    resources already applied that the next plan wants to create again
    BENCH kill_next_plan_replaces  tainted (interrupted) resources the next plan replaces
- outage drill: the database stopped near the end of an apply (so during its state save) and
  started 30 s later:
    BENCH outage_states_lost     applied resources in no stored state once recovered
    BENCH outage_recovered_s     seconds from the restart to the state stored (by the sweep)
- ownership drill: two worker clusters with different host names (IAC_WORKER_HOST) on one
  database; the one running an apply is frozen (SIGSTOP) past the reap time, the other takes the
  run over, then the frozen one is resumed:
    BENCH double_runs            writes of the resumed worker after it lost the run (state
                                 versions, log chunks, status changes) and second applies
Also checked after every drill: no terraform or provisioner process left, no work dir left.

The drills run on a throwaway PostgreSQL cluster of their own (`tests.pgcluster.TempPostgres`,
initdb + pg_ctl on a free port): the outage drill stops it, which must never happen to the
machine's server. About 10 minutes on 2 cores.

    .venv/bin/python bench/drills.py [kill|outage|ownership ...]
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from tests.pgcluster import TempPostgres, migrate, outage_tolerant  # noqa: E402

PG = TempPostgres().start()
DB_URL = PG.create_database("drills")
migrate(DB_URL)
os.environ["DATABASE_URL"] = DB_URL
DATA = Path(tempfile.mkdtemp(prefix="iac-drills-"))
os.environ["IAC_DATA_DIR"] = str(DATA)

import _setup  # noqa: E402,F401  (Django, on the drill database)
from django.conf import settings  # noqa: E402

from executions.executor.runner import group_processes  # noqa: E402
from executions.models import Notification, TaskLog, WorkspaceTask  # noqa: E402
from executions.services import task_queue_run  # noqa: E402
from workspaces.code.services import code_version_save  # noqa: E402
from workspaces.models import StateVersion, Workspace  # noqa: E402
from workspaces.services import workspace_unlock  # noqa: E402

Status = WorkspaceTask.Status
DRILL_ENV = {"IAC_HEARTBEAT_SECONDS": "2", "IAC_CHECKPOINT_SECONDS": "2", "IAC_CANCEL_GRACE_SECONDS": "5",
             "IAC_REAPER_STALE_SECONDS": "20", "IAC_WORKERS": "1"}
settings.IAC_STATE_BACKUP_DIR = DATA / "state-backups"


class Cluster:
    """A `manage.py qcluster` in its own process group."""

    def __init__(self, host: str = "", **env):
        self.log = open(DATA / f"cluster-{host or 'local'}-{time.time_ns()}.log", "w")
        full = {**os.environ, **DRILL_ENV, "DATABASE_URL": DB_URL, "IAC_DATA_DIR": str(DATA),
                "SECRET_KEY": settings.SECRET_KEY, "IAC_ENCRYPTION_KEY": settings.IAC_ENCRYPTION_KEY,
                "LOG_LEVEL": "INFO", **env}
        if host:
            full["IAC_WORKER_HOST"] = host
        full.pop("REDIS_URL", None)
        self.process = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], env=full,
                                        stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True, cwd=ROOT)

    def signal(self, sig) -> None:
        try:
            os.killpg(self.process.pid, sig)
        except ProcessLookupError:
            pass

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        self.process.wait(timeout=30)

    def stop(self) -> None:
        if self.process.poll() is None:
            self.signal(signal.SIGCONT)
            self.signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()
        self.log.close()


def wait_for(predicate, timeout: float, what: str, interval: float = 0.2):
    deadline = time.monotonic() + timeout
    poll = outage_tolerant(predicate)
    while time.monotonic() < deadline:
        value = poll()
        if value:
            return value
        time.sleep(interval)
    raise SystemExit(f"drill stuck: {what} (after {timeout} s); logs in {DATA}")


def apply_workspace(name: str, count: int, sleep: float) -> tuple[Workspace, Path]:
    files = DATA / "files" / name
    files.mkdir(parents=True)
    resources = {f"r{i:03d}": {"input": f"v{i}", "provisioner": {"local-exec": {
        "command": f"sleep {sleep}; echo applied > {files}/r{i:03d}"}}} for i in range(count)}
    ws = Workspace.objects.create(name=name, auto_apply=True)
    code_version_save(workspace=ws, code=json.dumps({"resource": {"terraform_data": resources}}))
    return ws, files


def running_apply(ws: Workspace) -> WorkspaceTask:
    return wait_for(lambda: WorkspaceTask.objects.filter(workspace=ws, task_type="apply", stage="applying",
                                                         status=Status.RUNNING).first(), 180, "the apply to run")


def lost_resources(ws: Workspace, files: Path) -> set[str]:
    """Applied resources (their file exists) that no stored state version holds."""
    stored: set[str] = set()
    for content in StateVersion.objects.filter(workspace=ws).values_list("content", flat=True):
        stored |= {r["name"] for r in json.loads(content).get("resources", [])}
    return {p.name for p in files.iterdir()} - stored


def leftovers(task: WorkspaceTask) -> list[str]:
    problems = []
    task.refresh_from_db()
    if task.pgid and group_processes(task.pgid):
        problems.append(f"terraform/provisioner processes of run #{task.pk} still running")
    if task.work_dir and os.path.exists(task.work_dir):
        problems.append(f"work dir {task.work_dir} left on disk")
    return problems


def next_plan(ws: Workspace, files: Path) -> tuple[int, int]:
    """(creates of already-applied resources, replaces) in the plan after the operator unlocks."""
    workspace_unlock(workspace=ws)
    plan = task_queue_run(workspace=ws, kind="plan")
    plan = wait_for(lambda: WorkspaceTask.objects.filter(pk=plan.pk, status__in=[
        Status.PLAN_FINISHED, Status.PLANNED_NO_CHANGES, Status.FAILED]).first(), 300, "the next plan")
    applied = {p.name for p in files.iterdir()}
    rows = (plan.change_summary or {}).get("resources", [])
    if os.environ.get("DRILL_DEBUG"):
        versions = [(v.serial, v.source, v.resource_count, v.created_at.strftime("%H:%M:%S.%f"))
                    for v in StateVersion.objects.filter(workspace=ws).order_by("serial")]
        again = sorted(r["name"] for r in rows if r["action"] == "create" and r["name"] in applied)
        print(f"    versions {versions}; plan #{plan.pk} on serial {plan.context.get('state_serial')}, "
              f"creates again {again[:5]}", flush=True)
    creates = sum(1 for r in rows if r["action"] == "create" and r["name"] in applied)
    replaces = sum(1 for r in rows if r["action"] == "replace")
    return creates, replaces


def kill_drill(rounds: int = int(os.environ.get("DRILL_ROUNDS", "5")), count: int = 200) -> None:
    lost_runs, reap_times, adds, replaces, problems = 0, [], 0, 0, []
    cluster = Cluster()
    for mode in os.environ.get("DRILL_MODES", "worker,cluster").split(","):
        for i in range(rounds):
            ws, files = apply_workspace(f"kill-{mode}-{i}", count, sleep=0.2)
            task_queue_run(workspace=ws, kind="plan_and_apply")
            apply = running_apply(ws)
            wait_for(lambda: sum(1 for _ in files.iterdir()) >= count // 3, 180, "a third of the resources")
            apply.refresh_from_db()
            if os.environ.get("DRILL_DEBUG"):
                from executions.models import StateCheckpoint
                print("    before kill:", StateCheckpoint.objects.filter(task=apply).count(), "checkpoints",
                      apply.work_dir, apply.pgid, apply.worker_pid,
                      os.listdir(apply.work_dir) if apply.work_dir else None, flush=True)
            killed_at = time.monotonic()
            if mode == "worker":
                os.kill(apply.worker_pid, signal.SIGKILL)  # the cluster replaces the worker
            else:
                cluster.kill()  # the whole cluster; a supervisor starts it again
                cluster = Cluster()
            wait_for(lambda: Workspace.objects.filter(pk=ws.pk, locked=True).exists()
                     and Notification.objects.filter(workspace=ws, level="emergency").exists(), 300,
                     "the lost run to be locked and alerted")
            reap_times.append(time.monotonic() - killed_at)
            wait_for(lambda: not group_processes(apply.pgid), 60, "terraform of the lost run to end")
            lost = lost_resources(ws, files)
            lost_runs += bool(lost)
            if lost:
                print("    lock reason:", Workspace.objects.get(pk=ws.pk).lock_reason, flush=True)
            problems += leftovers(apply)
            a, r = next_plan(ws, files)
            adds, replaces = adds + a, replaces + r
            print(f"  kill {mode} #{i}: {sum(1 for _ in files.iterdir())} applied, lost {sorted(lost)}, "
                  f"reap {reap_times[-1]:.1f} s, next plan creates {a} again, replaces {r}", flush=True)
    cluster.stop()
    print(f"BENCH kill_states_lost {lost_runs}")
    print(f"BENCH kill_reap_s {statistics.median(reap_times):.1f}")
    print(f"BENCH kill_reap_max_s {max(reap_times):.1f}")
    print(f"BENCH kill_next_plan_adds {adds}")
    print(f"BENCH kill_next_plan_replaces {replaces}")
    print(f"BENCH kill_leftovers {len(problems)}" + (f"  # {problems}" if problems else ""))


def outage_drill(count: int = 200, down_seconds: float = 30) -> None:
    cluster = Cluster(IAC_STATE_SAVE_BACKOFF="2")
    ws, files = apply_workspace("outage", count, sleep=0.1)
    task_queue_run(workspace=ws, kind="plan_and_apply")
    apply = running_apply(ws)
    wait_for(lambda: sum(1 for _ in files.iterdir()) >= count - 5, 300, "the apply to near its end")
    PG.stop()  # during the last resources and the state save
    time.sleep(down_seconds)
    PG.start()
    restarted = time.monotonic()
    wait_for(lambda: StateVersion.objects.filter(workspace=ws).exists(), 300, "the state to be stored")
    recovered_s = time.monotonic() - restarted
    wait_for(lambda: WorkspaceTask.objects.filter(pk=apply.pk).exclude(status=Status.RUNNING).exists(), 120,
             "the run to end")
    lost = lost_resources(ws, files)
    problems = leftovers(apply)
    apply.refresh_from_db()
    ws.refresh_from_db()
    print(f"  outage: run #{apply.pk} {apply.status}, workspace locked={ws.locked}, lost {sorted(lost)}, "
          f"versions {list(StateVersion.objects.filter(workspace=ws).values_list('serial', 'source'))}", flush=True)
    cluster.stop()
    print(f"BENCH outage_states_lost {len(lost)}")
    print(f"BENCH outage_recovered_s {recovered_s:.1f}")
    print(f"BENCH outage_leftovers {len(problems)}" + (f"  # {problems}" if problems else ""))


def ownership_drill() -> None:
    hosts = {"host-a": Cluster("host-a"), "host-b": Cluster("host-b")}
    ws, files = apply_workspace("owned", 40, sleep=8)
    task_queue_run(workspace=ws, kind="plan_and_apply")
    apply = running_apply(ws)
    wait_for(lambda: any(files.iterdir()), 120, "the first resources")
    frozen_host = apply.worker_host
    frozen = hosts[frozen_host]
    frozen.signal(signal.SIGSTOP)  # the worker (and its heartbeat) freezes; terraform goes on
    frozen_at = time.monotonic()
    reaped = wait_for(lambda: WorkspaceTask.objects.filter(pk=apply.pk, status=Status.FAILED).first(), 300,
                      "the other host to take the run over")
    reaped_after = time.monotonic() - frozen_at
    reap_time = reaped.finished_at
    versions_at_reap = StateVersion.objects.filter(workspace=ws).count()
    frozen.signal(signal.SIGCONT)
    time.sleep(30)  # the resumed worker notices it lost the run, stops terraform, keeps its state out
    apply.refresh_from_db()
    writes = (StateVersion.objects.filter(workspace=ws, created_at__gt=reap_time).exclude(source="recovered").count()
              + TaskLog.objects.filter(task=apply, created_at__gt=reap_time).count()
              + (apply.status != Status.FAILED)
              + WorkspaceTask.objects.filter(workspace=ws, task_type="apply").exclude(pk=apply.pk).count())
    problems = leftovers(apply)
    print(f"  ownership: frozen {frozen_host}, reaped after {reaped_after:.0f} s, versions at reap "
          f"{versions_at_reap}, after {StateVersion.objects.filter(workspace=ws).count()}, "
          f"lock: {Workspace.objects.get(pk=ws.pk).lock_reason[:160]}", flush=True)
    for cluster in hosts.values():
        cluster.stop()
    print(f"BENCH double_runs {writes}")
    print(f"BENCH ownership_reap_s {reaped_after:.0f}")
    print(f"BENCH ownership_leftovers {len(problems)}" + (f"  # {problems}" if problems else ""))


DRILLS = {"kill": kill_drill, "outage": outage_drill, "ownership": ownership_drill}

if __name__ == "__main__":
    try:
        for name in sys.argv[1:] or list(DRILLS):
            print(f"--- {name} drill", flush=True)
            DRILLS[name]()
    finally:
        PG.destroy()
