"""Running one terraform command: own process group, live output, timeout and cancel.

Cancel and timeout end terraform the way an operator would: SIGINT to the whole process
group (terraform stops gracefully and writes partial state; provisioners' children get
it too), a second SIGINT after the grace period, then SIGKILL. Nothing of the group is
left running when ``run`` returns.

Terraform must not die with its worker: its output goes to a file in the work dir (tailed
here), not to a pipe whose reader could die and SIGPIPE it mid-resource, and it gets SIGINT
as its parent-death signal, so a killed worker leaves a terraform that stops between
resources and writes its state (which recovery then saves). The parent-death signal fires
when the *thread* that started terraform ends: ``run`` is called from the run's own thread.
"""

import ctypes
import os
import queue
import shutil
import signal
import subprocess
import threading
import time
from dataclasses import dataclass
from typing import Callable

from django.conf import settings

from executions.executor.terraform import terraform_path

TAIL_LINES = 200  # enough for terraform's final diagnostics, which ``executions.errors`` reads
OUTPUT_FILE = ".terraform-output.log"
PR_SET_PDEATHSIG = 1
_libc = ctypes.CDLL(None, use_errno=True)


def _die_with_parent() -> None:
    """In the child, before exec: SIGINT when the thread that started us ends (a dead worker)."""
    _libc.prctl(PR_SET_PDEATHSIG, signal.SIGINT, 0, 0, 0)


_SETPRIV = shutil.which("setpriv")  # util-linux ≥ 2.33: sets the parent-death signal, then execs


def _spawn(command: list[str], credentials: dict) -> tuple[list[str], dict]:
    """The command and Popen arguments that give terraform SIGINT as its parent-death signal.

    A ``preexec_fn`` makes Python fork the whole worker process (~10 ms for each terraform
    command: its page tables are copied); ``setpriv --pdeathsig`` does the same ``prctl`` in the
    child and lets Python use vfork (~1 ms). As another OS user (``credentials``) Python forks
    anyway, and the uid change would clear a signal set before it: the ``preexec_fn`` then."""
    if _SETPRIV and not credentials:
        return [_SETPRIV, "--pdeathsig", "INT", "--", *command], {}
    return command, {"preexec_fn": _die_with_parent, **credentials}


@dataclass
class RunResult:
    exit_code: int
    cancelled: bool = False
    timed_out: bool = False
    output_tail: str = ""  # redacted, like the log
    pgid: int | None = None


def _waiter(process, exited: threading.Event) -> None:
    """Block on terraform's exit and say so at once: the tail below then reads the last lines
    and ends without waiting out its poll interval (every terraform command paid up to it)."""
    try:
        process.wait()
    finally:
        exited.set()


def _reader(path, exited: threading.Event, lines: "queue.Queue[str | None]") -> None:
    """Tail terraform's output file until terraform has exited and every line is read."""
    try:
        with open(path, encoding="utf-8", errors="replace") as stream:
            partial = ""
            while True:
                chunk = stream.readline()
                if chunk:
                    partial += chunk
                    if partial.endswith("\n"):
                        lines.put(partial)
                        partial = ""
                    continue
                if exited.is_set():
                    rest = partial + stream.read()
                    for line in rest.splitlines(keepends=True):
                        lines.put(line)
                    return
                exited.wait(0.02)
    finally:
        lines.put(None)


def _signal_group(pgid: int, sig: int) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def _stop_gracefully(process, pgid: int, grace: float) -> None:
    for sig in (signal.SIGINT, signal.SIGINT, signal.SIGKILL):
        _signal_group(pgid, sig)
        try:
            process.wait(timeout=grace)
            return
        except subprocess.TimeoutExpired:
            continue


def run(
    args: list[str],
    *,
    cwd,
    env: dict,
    log,
    timeout: float,
    should_cancel: Callable[[], bool] = lambda: False,
    on_start: Callable[[int], None] = lambda pgid: None,
    poll_seconds: float = 0.1,
    check_every: float = 1.0,
    credentials: dict | None = None,
) -> RunResult:
    """Run ``terraform <args>``; stream its output to ``log`` (a LogWriter).

    ``on_start`` gets the process group id as soon as terraform runs (to find what a dead
    worker left behind).
    """
    command = [terraform_path(), *args]
    credentials = dict(credentials or {})
    env = {**env, **credentials.pop("env_extra", {})}
    log.info(f"$ terraform {' '.join(args)}")
    output_path = os.path.join(cwd, OUTPUT_FILE)
    command, spawn = _spawn(command, credentials)
    with open(output_path, "wb") as output:
        process = subprocess.Popen(
            command, cwd=cwd, env=env, stdout=output, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True, **spawn,
        )
    pgid = process.pid
    on_start(pgid)
    lines: "queue.Queue[str | None]" = queue.Queue()
    exited = threading.Event()
    threading.Thread(target=_waiter, args=(process, exited), daemon=True).start()
    reader = threading.Thread(target=_reader, args=(output_path, exited, lines), daemon=True)
    reader.start()
    tail: list[str] = []
    started = time.monotonic()
    last_check = started
    cancelled = timed_out = False
    interrupt_at: float | None = None
    interrupts = 0
    grace = settings.IAC_CANCEL_GRACE_SECONDS
    stream_done = False
    exited_at: float | None = None

    def drain(wait: float = 0.0):
        """Take the lines read so far; with ``wait``, block up to that long for the first one
        (so output and the end of the stream are seen at once, not at the next tick)."""
        nonlocal stream_done
        while True:
            try:
                line = lines.get(timeout=wait) if wait and not stream_done else lines.get_nowait()
            except queue.Empty:
                return
            wait = 0.0
            if line is None:
                stream_done = True
                return
            log.add(line)
            tail.append(log.redact(line))
            del tail[:-TAIL_LINES]

    try:
        while True:
            # Wait for output, but no longer than the log's batching window: a line is stored
            # at once after a quiet spell, and within ~0.1 s while output keeps coming.
            drain(wait=log.flush_due_in(poll_seconds))
            log.maybe_flush()
            now = time.monotonic()
            if process.poll() is not None:
                exited_at = exited_at or now
                if stream_done or not reader.is_alive() or now - exited_at > 2:
                    break
            if not (cancelled or timed_out):
                if now - started > timeout:
                    timed_out = True
                    log.add(f"[platform] timeout after {int(timeout)} s: stopping terraform")
                elif now - last_check >= check_every:
                    last_check = now
                    if should_cancel():
                        cancelled = True
                        log.add("[platform] cancel requested: stopping terraform (SIGINT)")
                if cancelled or timed_out:
                    _signal_group(pgid, signal.SIGINT)
                    interrupts, interrupt_at = 1, now
            elif interrupt_at is not None and now - interrupt_at >= grace and process.poll() is None:
                if interrupts == 1:
                    log.add("[platform] still running: second SIGINT")
                    _signal_group(pgid, signal.SIGINT)
                    interrupts, interrupt_at = 2, now
                else:
                    log.add("[platform] still running: SIGKILL")
                    _signal_group(pgid, signal.SIGKILL)
                    interrupt_at = None
            if stream_done and process.poll() is None:
                time.sleep(poll_seconds / 5)  # output closed, process still exiting
    except BaseException:
        # Our own code failed (e.g. the database went away mid-log): terraform must not go on
        # unwatched in a work dir that is about to be cleaned up. Stop it as a cancel would.
        _stop_gracefully(process, pgid, grace)
        raise
    # Whatever the group left behind (a provisioner's child that ignored SIGINT) goes now.
    _signal_group(pgid, signal.SIGKILL)
    reader.join(timeout=5)
    drain()
    log.flush()
    return RunResult(exit_code=process.returncode, cancelled=cancelled, timed_out=timed_out,
                     output_tail="".join(tail), pgid=pgid)


def group_processes(pgid: int, workdir=None) -> list[int]:
    """Live (non-zombie) processes of process group ``pgid`` on this host.

    With ``workdir``, only those working in it or started with it in their environment
    (terraform and its provisioners): a recycled group id of an unrelated program does
    not count.
    """
    found = []
    marker = str(workdir).encode() if workdir else None
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as handle:
                fields = handle.read().rsplit(")", 1)[1].split()
            if fields[0] == "Z" or int(fields[2]) != pgid:
                continue
            if marker is not None:
                cwd = os.readlink(f"/proc/{entry}/cwd").encode()
                if not cwd.startswith(marker):
                    with open(f"/proc/{entry}/environ", "rb") as handle:
                        if marker not in handle.read():
                            continue
        except (OSError, IndexError, ValueError):
            continue
        found.append(int(entry))
    return found


def capture(args: list[str], *, cwd, env: dict, timeout: float, credentials: dict | None = None
            ) -> subprocess.CompletedProcess:
    """Run terraform for its stdout (e.g. ``show -json``), not logged.

    The timeout is a timer killing the process group, not ``communicate(timeout=…)``: with a
    timeout, Python 3.11 waits for the child's exit by polling (sleeps of up to 50 ms once the
    output has ended), which cost every plan tenths of a second."""
    credentials = dict(credentials or {})
    env = {**env, **credentials.pop("env_extra", {})}
    command, spawn = _spawn([terraform_path(), *args], credentials)
    process = subprocess.Popen(
        command, cwd=cwd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL, start_new_session=True, **spawn,
    )
    expired = threading.Event()

    def expire():
        expired.set()
        _signal_group(process.pid, signal.SIGKILL)

    timer = threading.Timer(timeout, expire)
    timer.daemon = True
    timer.start()
    try:
        stdout, stderr = process.communicate()
    finally:
        timer.cancel()
    if expired.is_set():
        raise subprocess.TimeoutExpired(process.args, timeout, output=stdout, stderr=stderr)
    return subprocess.CompletedProcess(process.args, process.returncode, stdout, stderr)