"""A run is one thing (issue 16): 100 plan & apply requests on one workspace from parallel API
clients, each confirmed as soon as it is planned; then 10 auto-apply workspaces × 3 requests.

Real django-q2 workers (`manage.py qcluster`, IAC_WORKERS, default 2) and the JSON API served by
this process (a threaded WSGI server), tokens as a CI client would use them. Prints:

    BENCH one_run_applied <n>        of ONE_RUN_N (100)
    BENCH one_run_stale <n>          applies refused as stale (0 expected)
    BENCH one_run_max_running <n>    most tasks of the workspace running at once (1 expected)
    BENCH one_run_in_order <0|1>     the applies started in the order of the requests
    BENCH one_run_seconds <s>
    BENCH auto_apply_applied <n>     of 30
    BENCH auto_apply_stale <n>
    BENCH auto_apply_seconds <s>

    DATABASE_URL=postgres://… .venv/bin/python bench/one_run.py
"""

import os
import signal
import subprocess
import sys
import threading
import time

import _setup  # noqa: F401  (Django set up from the repository root)
from django.conf import settings  # noqa: E402
from django.contrib.auth import get_user_model  # noqa: E402
from django.core.handlers.wsgi import WSGIHandler  # noqa: E402
from django.core.management import call_command  # noqa: E402
from django.core.servers.basehttp import ThreadedWSGIServer, WSGIRequestHandler  # noqa: E402

from tests.executions.one_run_load import ALWAYS_CHANGES, figures, run_clients  # noqa: E402
from workspaces.code.services import code_version_save  # noqa: E402
from workspaces.models import Workspace  # noqa: E402
from workspaces.tokens import api_token_create  # noqa: E402

ROOT = _setup.ROOT
N = int(os.environ.get("ONE_RUN_N", "100"))
AUTO_WORKSPACES = int(os.environ.get("AUTO_APPLY_WORKSPACES", "10"))
AUTO_PER_WORKSPACE = int(os.environ.get("AUTO_APPLY_RUNS", "3"))


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args):
        pass


def serve() -> tuple[ThreadedWSGIServer, str]:
    server = ThreadedWSGIServer(("127.0.0.1", 0), QuietHandler, allow_reuse_address=True)
    server.set_app(WSGIHandler())
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, f"http://127.0.0.1:{server.server_port}"


def workspace(name: str, *, auto_apply: bool = False) -> Workspace:
    ws = Workspace.objects.create(name=name, auto_apply=auto_apply)
    code_version_save(workspace=ws, code=ALWAYS_CHANGES)
    return ws


def report_failures(results) -> None:
    for r in results:
        if r.outcome != "applied":
            print(f"# client on plan {r.plan_id} (apply {r.apply_id}): {r.outcome} {r.errors[:2]}", file=sys.stderr)


def main() -> None:
    call_command("migrate", verbosity=0)
    tag = time.strftime("%H%M%S")
    admin = get_user_model().objects.create_superuser(username=f"bench-one-run-{tag}", password=None, email="")
    _, token = api_token_create(user=admin, name="bench one run")
    server, url = serve()
    env = {**os.environ, "IAC_WORKERS": os.environ.get("IAC_WORKERS", "2"), "SECRET_KEY": settings.SECRET_KEY,
           "IAC_ENCRYPTION_KEY": settings.IAC_ENCRYPTION_KEY}
    log = open(ROOT / "var" / f"bench-one-run-{tag}.log", "w") if (ROOT / "var").is_dir() else subprocess.DEVNULL
    worker = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], cwd=ROOT, env=env,
                              stdout=log, stderr=subprocess.STDOUT, start_new_session=True)
    try:
        time.sleep(2)
        ws = workspace(f"bench-one-run-{tag}")
        start = time.monotonic()
        results = run_clients(url, token, [ws.name], N, confirm=True, timeout=60 * 60)
        seconds = time.monotonic() - start
        got = figures([ws.pk])
        report_failures(results)
        print(f"BENCH one_run_applied {got.applied}")
        print(f"BENCH one_run_stale {got.stale}")
        print(f"BENCH one_run_max_running {got.max_running}")
        print(f"BENCH one_run_in_order {int(got.apply_order == got.plan_order)}")
        print(f"BENCH one_run_seconds {seconds:.1f}", flush=True)

        spaces = [workspace(f"bench-auto-{tag}-{i}", auto_apply=True) for i in range(AUTO_WORKSPACES)]
        start = time.monotonic()
        report_failures(run_clients(url, token, [w.name for w in spaces], AUTO_PER_WORKSPACE, confirm=False,
                                    timeout=60 * 60))
        seconds = time.monotonic() - start
        got = figures([w.pk for w in spaces])
        print(f"BENCH auto_apply_applied {got.applied}")
        print(f"BENCH auto_apply_stale {got.stale}")
        print(f"BENCH auto_apply_max_running_per_workspace {got.max_running}")
        print(f"BENCH auto_apply_seconds {seconds:.1f}", flush=True)
    finally:
        server.shutdown()
        os.killpg(worker.pid, signal.SIGTERM)
        try:
            worker.wait(timeout=10)
        except subprocess.TimeoutExpired:
            os.killpg(worker.pid, signal.SIGKILL)


if __name__ == "__main__":
    main()
