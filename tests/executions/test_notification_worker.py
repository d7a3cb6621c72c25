"""With a real django-q2 worker: a channel whose receiver accepts connections and never answers
does not change how long a run takes (its deliveries are separate tasks that time out on their own)."""

import statistics

import pytest

from executions.models import NotificationDelivery, WorkspaceTask
from executions.notifications import channel_create
from executions.services import task_queue_run
from tests.conftest import WorkerProcess, wait_for
from tests.executions.conftest import file_resource, tf_json
from tests.executions.receivers import SilentReceiver
from workspaces.code.services import code_version_save
from workspaces.models import Workspace

pytestmark = pytest.mark.worker
TIMEOUT = 4


def _plans(tag, count, tmp_path) -> list[WorkspaceTask]:
    """Plans with changes (each in its own workspace: a plan awaiting confirmation blocks the next)."""
    done = []
    for i in range(count):
        ws = Workspace.objects.create(name=f"{tag}-{i}")
        code_version_save(workspace=ws, code=tf_json({"a": file_resource(tmp_path / f"{tag}-{i}.txt")}))
        task = task_queue_run(workspace=ws, kind="plan_and_apply")
        done.append(wait_for(lambda: WorkspaceTask.objects.filter(pk=task.pk, status="planned").first(),
                             timeout=120, message=f"plan {tag}-{i}"))
    return done


def _seconds(tasks) -> list[float]:
    """A plan awaiting confirmation has no finished_at: its stages' times, as the executor measured them."""
    return [round(sum(t.stage_seconds.values()), 3) for t in tasks]


def test_a_dead_receiver_does_not_change_the_run_duration(start_worker, tmp_path, django_user_model):
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    worker = start_worker(workers=2, env={"IAC_NOTIFY_TIMEOUT_SECONDS": str(TIMEOUT)})
    _plans("warm", 2, tmp_path)  # each worker process pays its imports and terraform check once
    baseline = _seconds(_plans("plain", 3, tmp_path))
    with SilentReceiver() as dead:
        channel_create(user=root, name="dead", kind="webhook", target=dead.url, secret="s")
        with_dead = _seconds(_plans("dead", 3, tmp_path))
        wait_for(lambda: NotificationDelivery.objects.filter(channel__name="dead", attempts__gte=1)
                 .exclude(status="sending").count() >= 3, timeout=60, message="the deliveries to time out")
    print(f"plan durations without a channel {baseline}, with a dead one {with_dead}")
    print(worker.output()[-2000:])
    assert statistics.median(with_dead) < statistics.median(baseline) * 1.5 + 0.5
    errors = set(NotificationDelivery.objects.filter(channel__name="dead").values_list("last_error", flat=True))
    assert all("timed out" in e for e in errors if e), errors  # the receiver really hung every attempt


def _queue_waits(tasks) -> list[float]:
    return [(t.started_at - t.queued_at).total_seconds() for t in tasks]


def test_with_a_notification_cluster_a_hanging_receiver_never_holds_a_run_worker(start_worker, tmp_path,
                                                                                 django_user_model):
    """One run worker only, and a receiver that hangs every attempt: with IAC_NOTIFY_CLUSTER the
    deliveries go to their own cluster, so the next run never waits behind one."""
    root = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
    env = {"IAC_NOTIFY_TIMEOUT_SECONDS": str(TIMEOUT), "IAC_NOTIFY_CLUSTER": "notify"}
    runs = start_worker(workers=1, env=env)
    (tmp_path / "notify").mkdir()  # its own log file
    notifier = WorkerProcess(tmp_path / "notify", workers=1, env={**env, "Q_CLUSTER_NAME": "notify"})
    try:
        _plans("warm", 1, tmp_path)
        with SilentReceiver() as dead:
            channel_create(user=root, name="dead", kind="webhook", target=dead.url, secret="s")
            plans = _plans("hang", 3, tmp_path)
            wait_for(lambda: NotificationDelivery.objects.filter(channel__name="dead", attempts__gte=1)
                     .exclude(status="sending").count() >= 3, timeout=60, message="the deliveries to time out")
        notified = notifier.output()
    finally:
        notifier.stop()
    waits = _queue_waits(plans)
    print(f"queue waits {waits}")
    assert max(waits) < TIMEOUT * 0.75, waits  # no run waited for a hanging delivery
    assert "executions.delivery" not in runs.output()  # the run worker never sent one
    assert "executions.delivery" in notified
