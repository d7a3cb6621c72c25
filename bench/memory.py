"""Memory over time: does a worker, or the web process, grow with the work it has done?

(a) Worker: a real ``manage.py qcluster`` with IAC_WORKERS=1 runs 200 consecutive runs of one
    10-resource workspace (auto-apply), each on changed code (10 resources to create or update),
    alternating a plan-only run and a plan & apply run (which saves a state version). django-q2's process
    tree is: qcluster main → sentinel → {worker, monitor, pusher}; terraform runs in a session of
    its own and is gone between runs. The figure is the RSS of the worker process — the one that
    executes the runs, known from the runs' ``worker_pid`` and checked to belong to the cluster's
    process group — sampled with the worker idle after 20 warm-up runs and after the last run:
        BENCH worker_rss_growth_mb         end − warm-up (goal ≤ 20)
        BENCH worker_rss_mb                at the end
        BENCH worker_group_rss_growth_mb   the same for the sum over the whole process group
    A worker django-q2 replaced meanwhile (a new pid) would hide a leak: the bench stops on it.
(b) Web: ``manage.py runserver --noreload`` (DEBUG off, as in production) on a free port serves
    10,000 GETs over one keep-alive connection (``http.client``; re-opened when the server closes
    it), a mix of pages (session cookie) and API endpoints (an API token) over the workspace of (a)
    and its 200 runs: workspace list, overview, runs list, a run page, /api/v1/workspaces,
    /api/v1/tasks/<id> — run ids rotate over all runs. RSS of the server process after 1,000
    warm-up requests and at the end:
        BENCH web_rss_growth_mb  BENCH web_rss_mb  BENCH web_requests_per_s

Intermediate samples are printed as plain lines (not BENCH) to show the trend. Uses DATABASE_URL
when set. Shorter runs: BENCH_RUNS, BENCH_WARMUP_RUNS, BENCH_REQUESTS, BENCH_WARMUP_REQUESTS;
BENCH_PART=worker or web runs one part only (web alone makes its own 20 runs first).

    .venv/bin/python bench/memory.py
"""

import http.client
import os
import signal
import socket
import subprocess
import sys
import time

import _setup
from django.contrib.auth import get_user_model
from django.contrib.sessions.models import Session
from django.core.management import call_command
from django.db import IntegrityError
from django.test import Client

from executions.models import WorkspaceTask
from executions.services import task_queue_run
from workspaces.code.services import code_version_save
from workspaces.models import Workspace
from workspaces.tokens import api_token_create

Status = WorkspaceTask.Status
RUNS = int(os.environ.get("BENCH_RUNS", "200"))
WARMUP_RUNS = int(os.environ.get("BENCH_WARMUP_RUNS", "20"))
REQUESTS = int(os.environ.get("BENCH_REQUESTS", "10000"))
WARMUP_REQUESTS = int(os.environ.get("BENCH_WARMUP_REQUESTS", "1000"))
PART = os.environ.get("BENCH_PART", "")
RESOURCES = 10
ENDED = WorkspaceTask.TERMINAL | {Status.POLICY_OVERRIDE}


def config(run: int) -> str:
    return _setup.terraform_config(RESOURCES).replace('"value-', f'"run{run}-value-')


def one_run(ws: Workspace, run: int) -> WorkspaceTask:
    """Run ``run`` to its end, on new code (10 changes): even ones plan only, odd ones plan & apply."""
    code_version_save(workspace=ws, code=config(run))
    if run % 2:
        plan = wait(task_queue_run(workspace=ws, kind="plan_and_apply").pk, ENDED)
        if plan.status != Status.CONFIRMED:
            raise SystemExit(f"run {run}: plan ended {plan.status}: {plan.error_message}")
        task = wait(WorkspaceTask.objects.get(plan_task=plan).pk, ENDED)
        expected = Status.APPLIED
    else:
        task = wait(task_queue_run(workspace=ws, kind="plan").pk, ENDED)
        expected = Status.PLAN_FINISHED
    if task.status != expected:
        raise SystemExit(f"run {run}: {task.task_type} ended {task.status}: {task.error_message}")
    return task


def wait(task_id: int, statuses: set, timeout: float = 300) -> WorkspaceTask:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        task = WorkspaceTask.objects.only("status", "task_type", "error_message", "worker_pid").get(pk=task_id)
        if task.status in statuses:
            return task
        time.sleep(0.02)
    raise SystemExit(f"task {task_id} did not end in {timeout} s")


def idle_rss(cluster: _setup.WorkerCluster, worker_pid: int) -> tuple[float, float]:
    """(worker RSS, whole group RSS) in MB, once the worker has settled after its run."""
    time.sleep(1.0)  # the run's notification and dispatch happen just after it ends
    group = _setup.group_pids(cluster.pgid)
    if worker_pid not in group:
        raise SystemExit(f"worker pid {worker_pid} is not in the cluster's process group {group}")
    return _setup.rss_mb(worker_pid), sum(_setup.rss_mb(pid) for pid in group)


def worker_part(ws: Workspace, runs: int, *, report: bool = True) -> None:
    with _setup.WorkerCluster(workers=1) as cluster:
        worker_pid = None
        warm = None
        for run in range(runs):
            task = one_run(ws, run)
            if worker_pid is None:
                worker_pid = task.worker_pid
            elif task.worker_pid != worker_pid:
                raise SystemExit(f"run {run} ran in worker pid {task.worker_pid}, not {worker_pid}: "
                                 "django-q2 replaced the worker, the RSS figures would mean nothing")
            done = run + 1
            if done == WARMUP_RUNS:
                warm = idle_rss(cluster, worker_pid)
            if report and (done % 25 == 0 or done == runs):
                worker, group = idle_rss(cluster, worker_pid)
                print(f"worker rss after {done} runs: {worker:.1f} MB (group {group:.1f} MB)", flush=True)
        end = idle_rss(cluster, worker_pid)
    if not report:
        return
    warm = warm or end
    print(f"BENCH worker_rss_growth_mb {end[0] - warm[0]:.1f}")
    print(f"BENCH worker_rss_mb {end[0]:.1f}")
    print(f"BENCH worker_group_rss_growth_mb {end[1] - warm[1]:.1f}")
    sys.stdout.flush()


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def web_part(ws: Workspace) -> None:
    user = get_user_model().objects.create_user(f"bench-memory-{int(time.time())}", is_superuser=True, is_staff=True)
    client = Client()
    client.force_login(user)
    session = client.cookies["sessionid"].value
    _, token = api_token_create(user=user, name="bench-memory")
    run_ids = list(WorkspaceTask.objects.filter(workspace=ws).order_by("pk").values_list("pk", flat=True))
    port = free_port()
    env = {**os.environ, "DEBUG": "False", "SECRET_KEY": _setup.settings.SECRET_KEY,
           "IAC_ENCRYPTION_KEY": _setup.settings.IAC_ENCRYPTION_KEY}
    server = subprocess.Popen([sys.executable, str(_setup.ROOT / "manage.py"), "runserver", "--noreload",
                               f"127.0.0.1:{port}"], cwd=_setup.ROOT, env=env, stdout=subprocess.DEVNULL,
                              stderr=subprocess.DEVNULL, start_new_session=True)
    try:
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
        wait_listening(port)
        page = {"Cookie": f"sessionid={session}"}
        api = {"Authorization": f"Bearer {token}"}

        def request(i: int) -> None:
            run_id = run_ids[i % len(run_ids)]
            url, headers = [
                ("/", page),
                (f"/workspaces/{ws.name}/", page),
                (f"/workspaces/{ws.name}/runs/", page),
                (f"/workspaces/{ws.name}/runs/{run_id}/", page),
                ("/api/v1/workspaces", api),
                (f"/api/v1/tasks/{run_id}", api),
            ][i % 6]
            conn.request("GET", url, headers=headers)
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise SystemExit(f"GET {url}: {response.status}")

        for i in range(WARMUP_REQUESTS):
            request(i)
        warm = _setup.rss_mb(server.pid)
        start = time.perf_counter()
        for i in range(WARMUP_REQUESTS, REQUESTS):
            request(i)
            if (i + 1) % 2000 == 0:
                print(f"web rss after {i + 1} requests: {_setup.rss_mb(server.pid):.1f} MB", flush=True)
        seconds = time.perf_counter() - start
        end = _setup.rss_mb(server.pid)
        conn.close()
    finally:
        os.killpg(server.pid, signal.SIGTERM)
        server.wait(timeout=10)
        Session.objects.filter(session_key=session).delete()
        user.delete()  # and its token
    print(f"BENCH web_rss_growth_mb {end - warm:.1f}")
    print(f"BENCH web_rss_mb {end:.1f}")
    print(f"BENCH web_requests_per_s {(REQUESTS - WARMUP_REQUESTS) / seconds:.1f}")


def wait_listening(port: int) -> None:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"runserver did not listen on port {port} in 30 s")


def main() -> None:
    call_command("migrate", verbosity=0)
    ws = Workspace.objects.create(name=f"bench-memory-{int(time.time())}", auto_apply=True)
    try:
        if PART in ("", "worker"):
            worker_part(ws, RUNS)
        if PART == "web":
            worker_part(ws, WARMUP_RUNS, report=False)  # runs for the pages to show
        if PART in ("", "web"):
            web_part(ws)
    finally:
        for _ in range(20):  # the worker records the last run's notification just after it ends
            try:
                ws.delete()
                break
            except IntegrityError:
                time.sleep(0.25)


if __name__ == "__main__":
    main()
