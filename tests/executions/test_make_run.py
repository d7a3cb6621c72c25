"""Issue 16, bug 8: SIGTERM stops `make run` (web server and worker) as quickly as Ctrl-C (the bug: a
worker hung in "stopping" for over a minute; the bound here leaves room for a loaded CI host).

The recipe ran runserver in the foreground, so the shell's trap waited for it, and the worker
shared the process group: a SIGTERM to make went nowhere, and one to the group killed
django-q's sentinel mid-wait, leaving the cluster hung in "stopping".
"""

import os
import shutil
import signal
import socket
import subprocess
import time
import uuid
from pathlib import Path

import pytest
from django.conf import settings

from tests.conftest import _database_url_for_subprocess, wait_for

pytestmark = [pytest.mark.worker, pytest.mark.skipif(not shutil.which("make") or not shutil.which("setsid"),
                                                     reason="needs make and setsid")]
ROOT = Path(settings.BASE_DIR)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _processes_with(token: str) -> list[int]:
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            if token.encode() in (entry / "environ").read_bytes() and (entry / "stat").read_text().split()[2] != "Z":
                found.append(int(entry.name))
        except OSError:
            continue
    return found


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5):
            return True
    except OSError:
        return False


def _as_in_a_terminal():
    """The signal dispositions of a command typed in a terminal. A test run started in the
    background (``cmd &`` in a non-interactive shell, as CI scripts do) inherits SIGINT ignored,
    and a POSIX shell can neither trap nor reset a signal ignored on entry: Ctrl-C would then
    reach nobody, whatever the recipe does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)


@pytest.fixture
def make_run(transactional_db, tmp_path):
    token = f"iac-make-run-{uuid.uuid4().hex}"
    port = _free_port()
    env = {**os.environ, "DATABASE_URL": _database_url_for_subprocess(), "IAC_DATA_DIR": str(tmp_path),
           "IAC_WORKERS": "1", "SECRET_KEY": settings.SECRET_KEY, "IAC_ENCRYPTION_KEY": settings.IAC_ENCRYPTION_KEY,
           "IAC_MAKE_RUN_TOKEN": token, "IAC_ADMIN_PASSWORD": "pw-make-run-1234"}
    env.pop("REDIS_URL", None)
    log = tmp_path / "make-run.log"
    with open(log, "w") as out:
        # -o: never reinstall the venv from a test
        process = subprocess.Popen(["make", "-o", ".venv/.installed", "run", f"PORT={port}"], cwd=ROOT, env=env,
                                   stdout=out, stderr=subprocess.STDOUT, start_new_session=True,
                                   preexec_fn=_as_in_a_terminal)
    try:
        wait_for(lambda: _answers(port) and "running." in log.read_text(), timeout=90, message="make run started")
        yield process, token, log
    finally:
        for pid in _processes_with(token):  # whatever is left (the old recipe leaves a hung worker)
            try:
                os.kill(pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
        process.wait(timeout=10)


def _stopped_within(process, token, seconds) -> bool:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if process.poll() is not None and not _processes_with(token):
            return True
        time.sleep(0.2)
    return False


def test_sigterm_to_make_stops_server_and_worker(make_run):
    process, token, log = make_run
    process.send_signal(signal.SIGTERM)
    assert _stopped_within(process, token, 30), log.read_text()[-2000:]
    assert "has stopped" in log.read_text()  # the worker's graceful stop


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=["sigterm", "ctrl-c"])
def test_a_signal_to_the_process_group_stops_them_too(make_run, sig):
    process, token, log = make_run
    os.killpg(process.pid, sig)  # SIGINT to the group is what Ctrl-C in a terminal does
    assert _stopped_within(process, token, 30), log.read_text()[-2000:]
    assert "has stopped" in log.read_text()
