"""terraform gets SIGINT when the worker thread that started it dies (it then stops between
resources and writes its state), however it was started."""

import subprocess
import threading
import time

import pytest

from executions.executor import runner

SCRIPT = "trap 'echo interrupted > {out}; exit 0' INT; echo ready > {ready}; while :; do sleep 0.05; done"


@pytest.mark.parametrize("use_setpriv", [True, False])
def test_the_child_is_interrupted_when_its_starting_thread_ends(tmp_path, monkeypatch, use_setpriv):
    if not use_setpriv:
        monkeypatch.setattr(runner, "_SETPRIV", None)
    elif runner._SETPRIV is None:
        pytest.skip("no setpriv on this host")
    out, ready = tmp_path / "out", tmp_path / "ready"
    command, spawn = runner._spawn(["sh", "-c", SCRIPT.format(out=out, ready=ready)], {})
    assert ("preexec_fn" not in spawn) is use_setpriv  # no preexec_fn: Python may vfork
    started = []

    def start():
        started.append(subprocess.Popen(command, start_new_session=True, **spawn))
        deadline = time.monotonic() + 10
        while not ready.exists() and time.monotonic() < deadline:
            time.sleep(0.02)

    thread = threading.Thread(target=start)
    thread.start()
    thread.join()  # the starting thread is gone: the child gets SIGINT
    assert started[0].wait(timeout=10) == 0
    assert out.read_text().strip() == "interrupted"


def test_as_another_user_the_signal_is_set_by_python_in_the_child():
    command, spawn = runner._spawn(["terraform", "plan"], {"user": 1234, "group": 1234})
    assert command == ["terraform", "plan"]
    assert spawn["preexec_fn"] is runner._die_with_parent and spawn["user"] == 1234
