"""Terraform's output is stored as it comes (the run page shows a line within a second), yet a
burst of output stays a few chunks, not one INSERT per line."""

import json
import os
import threading
import time

from django.db import connection

from executions.executor import runner
from executions.executor.logs import LogWriter
from executions.models import TaskLog, WorkspaceTask
from workspaces.models import Workspace


def _task(name):
    return WorkspaceTask.objects.create(workspace=Workspace.objects.create(name=name), task_type="plan")


def test_a_line_after_a_quiet_spell_is_stored_at_once(db):
    task = _task("quiet")
    log = LogWriter(task)
    time.sleep(log.FLUSH_SECONDS + 0.05)  # nothing written for longer than the batching window
    log.add("a lone line")
    log.maybe_flush()
    assert list(TaskLog.objects.filter(task=task).values_list("text", flat=True)) == ["a lone line"]


def test_a_burst_of_lines_is_batched(db):
    task = _task("burst")
    log = LogWriter(task)
    for number in range(5000):
        log.add(f"line {number}")
        log.maybe_flush()
    log.flush()
    chunks = list(TaskLog.objects.filter(task=task).values_list("text", flat=True))
    assert "\n".join(chunks).split("\n") == [f"line {number}" for number in range(5000)]
    assert len(chunks) <= 5000 // log.FLUSH_LINES + 5  # a chunk per window or per 200 lines, never per line


def test_each_line_is_stored_while_terraform_still_runs(transactional_db, tmp_path):
    """Lines printed 0.4 s apart, then a long sleep: each is in the database well before the next
    one is printed (the old 0.5 s timer held the later ones back up to half a second)."""
    task = _task("live")
    command = "for i in 1 2 3 4 5; do echo TS $(date +%s%3N); sleep 0.4; done; sleep 3"
    (tmp_path / "main.tf.json").write_text(json.dumps({"resource": {"terraform_data": {
        "ticker": {"provisioner": {"local-exec": {"command": command}}}}}}))
    seen: dict[str, float] = {}
    done = threading.Event()

    def watch():
        try:
            while not done.is_set():
                for text in TaskLog.objects.filter(task=task).values_list("text", flat=True):
                    for line in text.split("\n"):
                        if "TS " in line and "echo" not in line:
                            seen.setdefault(line.rsplit("TS ", 1)[1].strip(), time.time())
                time.sleep(0.01)
        finally:
            connection.close()

    watcher = threading.Thread(target=watch)
    watcher.start()
    env = {**os.environ, "TF_IN_AUTOMATION": "1", "TF_INPUT": "0", "CHECKPOINT_DISABLE": "1"}
    log = LogWriter(task)
    try:
        result = runner.run(["apply", "-input=false", "-no-color", "-auto-approve"], cwd=tmp_path, env=env,
                            log=log, timeout=60)
        finished = time.time()
        log.flush()
    finally:
        done.set()
        watcher.join()
    assert result.exit_code == 0, result.output_tail
    assert len(seen) == 5, seen
    delays = sorted(stored - int(printed) / 1000 for printed, stored in seen.items())
    assert all(stored < finished - 2 for stored in seen.values())  # while terraform still ran
    assert delays[len(delays) // 2] < 0.3, delays  # the median line: stored within 0.3 s of its print
    assert delays[-1] < 1.0, delays  # wide margin for a loaded machine
