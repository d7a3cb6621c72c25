"""What every bench script needs: Django set up from the repository root, a page timer, bare
terraform calls, a real worker cluster in its own process group, and RSS readings from /proc.

Import it first: ``import _setup`` (the script's own folder is on sys.path when run as
``.venv/bin/python bench/<name>.py``).
"""

import json
import os
import signal
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
os.environ.setdefault("DJANGO_SETTINGS_MODULE", "iacplatform.settings")
os.environ.setdefault("LOG_LEVEL", "WARNING")

import django  # noqa: E402

django.setup()

from django.conf import settings  # noqa: E402
from django.db import IntegrityError  # noqa: E402

from executions.executor.runner import group_processes  # noqa: E402


def time_page(client, url: str, repeat: int) -> tuple[float, list[float]]:
    """Median server time (ms) of ``repeat`` GETs of ``url`` after one warm-up request."""
    response = client.get(url)  # warm-up (templates, caches)
    assert response.status_code == 200, (url, response.status_code)
    samples = []
    for _ in range(repeat):
        start = time.perf_counter()
        response = client.get(url)
        samples.append((time.perf_counter() - start) * 1000)
        assert response.status_code == 200
    return statistics.median(samples), samples


def terraform_config(n: int) -> str:
    """``n`` terraform_data resources (no provider to download) as main.tf.json."""
    return json.dumps({"resource": {"terraform_data": {f"r{i}": {"input": f"value-{i}"} for i in range(n)}}})


def bare_terraform(args: list[str], cwd) -> None:
    """One call of the embedded terraform as the platform makes it, outside the platform."""
    env = {"PATH": os.environ["PATH"], "HOME": str(cwd), "TF_IN_AUTOMATION": "1", "TF_INPUT": "0",
           "CHECKPOINT_DISABLE": "1", "TF_CLI_CONFIG_FILE": os.devnull}
    result = subprocess.run([settings.TERRAFORM_BIN, *args], cwd=cwd, env=env, capture_output=True)
    if result.returncode not in (0, 2):
        raise SystemExit(f"terraform {args[0]} failed: {result.stderr.decode()[-2000:]}")


class WorkerCluster:
    """A real ``manage.py qcluster`` in its own process group (its workers, monitor and pusher are
    its children), stopped with the whole group: ``with WorkerCluster(workers=2) as cluster: …``."""

    def __init__(self, *, workers: int, **env: str):
        self.workers = workers
        self.env = env
        self.process = None

    def __enter__(self) -> "WorkerCluster":
        env = {**os.environ, "IAC_WORKERS": str(self.workers), "SECRET_KEY": settings.SECRET_KEY,
               "IAC_ENCRYPTION_KEY": settings.IAC_ENCRYPTION_KEY, **self.env}
        self.process = subprocess.Popen([sys.executable, str(ROOT / "manage.py"), "qcluster"], cwd=ROOT, env=env,
                                        stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                        start_new_session=True)
        time.sleep(2)
        return self

    def __exit__(self, *exc) -> None:
        self.stop()

    @property
    def pgid(self) -> int:
        return self.process.pid

    def stop(self) -> None:
        """SIGTERM to the main process, which stops its children (django-q2 hangs when the whole
        group gets it: the main process waits forever on its stopped sentinel), then SIGKILL to
        whatever of the group is left."""
        if self.process is None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            pass
        deadline = time.monotonic() + 5
        while group_pids(self.pgid) and time.monotonic() < deadline:
            time.sleep(0.2)
        try:
            os.killpg(self.pgid, signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait()
        self.process = None


def group_pids(pgid: int) -> list[int]:
    """The live processes of a process group (from /proc; zombies left out)."""
    return group_processes(pgid)


def delete_workspace(ws) -> None:
    """The worker records the run's notification just after the run ends: retry until it has."""
    for _ in range(20):
        try:
            ws.delete()
            return
        except IntegrityError:
            time.sleep(0.25)
    ws.delete()


def rss_mb(pid: int) -> float:
    """Resident memory of one process in MB (VmRSS), 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as handle:
            for line in handle:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0
