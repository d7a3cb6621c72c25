"""terraform gets SIGINT when the worker thread that started it dies (it then stops between
resources and writes its state), however it was started."""

import subprocess
import sys
import threading
import time

import pytest

from executions.executor import runner

# Python, not sh: a shell started with SIGINT ignored (as under a backgrounded CI script) cannot
# trap it, while a program that asks for it gets it — as terraform does (Go's signal.Notify).
SCRIPT = ("import pathlib, signal, sys, time\n"
          "def stop(*_):\n    pathlib.Path({out!r}).write_text('interrupted')\n    sys.exit(0)\n"
          "signal.signal(signal.SIGINT, stop)\npathlib.Path({ready!r}).write_text('ready')\n"
          "while True:\n    time.sleep(0.05)\n")


@pytest.mark.parametrize("use_setpriv", [True, False])
def test_the_child_is_interrupted_when_its_starting_thread_ends(tmp_path, monkeypatch, use_setpriv):
    if not use_setpriv:
        monkeypatch.setattr(runner, "_SETPRIV", None)
    elif runner._SETPRIV is None:
        pytest.skip("no setpriv on this host")
    out, ready = tmp_path / "out", tmp_path / "ready"
    command, spawn = runner._spawn([sys.executable, "-c", SCRIPT.format(out=str(out), ready=str(ready))], {})
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
    try:
        assert started[0].wait(timeout=10) == 0
    finally:
        started[0].kill()  # nothing left looping when the signal did not come
    assert out.read_text().strip() == "interrupted"


def test_as_another_user_the_signal_is_set_by_python_in_the_child():
    command, spawn = runner._spawn(["terraform", "plan"], {"user": 1234, "group": 1234})
    assert command == ["terraform", "plan"]
    assert spawn["preexec_fn"] is runner._die_with_parent and spawn["user"] == 1234
