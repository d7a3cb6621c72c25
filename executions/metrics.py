"""``/metrics``: Prometheus text format, computed from the database at scrape time.

Several web and worker processes on several hosts share one database, so every number here
is read from it when Prometheus scrapes (a custom collector): any web process answers the
same, and nothing is lost when a worker restarts. Counters are counts of rows that only ever
grow (finished runs, state versions, delivery attempts); histograms are bucket counts over
the same rows. No per-process counter is exported: none of what the issue asks for is
per-process (a worker's own counter would be wrong as soon as two workers exist).

Protected by ``IAC_METRICS_TOKEN`` (``Authorization: Bearer <token>``); without a token set,
``/metrics`` answers 401 to everyone.
"""

import hmac
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.decorators import login_not_required
from django.db.models import Count, DurationField, ExpressionWrapper, F, Max, Min, Q, Sum
from django.http import HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_GET
from prometheus_client import CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily
from prometheus_client.exposition import CONTENT_TYPE_LATEST

from executions.models import DeliveryAttempt, NotificationChannel, NotificationDelivery, WorkerBeat, WorkspaceTask
from workspaces.models import StateVersion, Workspace

Status = WorkspaceTask.Status
DURATION_BUCKETS = (1, 5, 10, 30, 60, 120, 300, 600, 1800, 3600, 7200)
WAIT_BUCKETS = (0.5, 1, 2, 5, 10, 30, 60, 300, 900, 3600)


def _histogram(name: str, doc: str, queryset, expression, buckets, labels: dict[str, str] | None = None,
               family: HistogramMetricFamily | None = None) -> HistogramMetricFamily:
    """Bucket counts of a duration expression over a queryset, in one query."""
    labels = labels or {}
    family = family or HistogramMetricFamily(name, doc, labels=list(labels))
    annotated = queryset.annotate(_d=ExpressionWrapper(expression, output_field=DurationField()))
    aggregates = {f"le_{i}": Count("pk", filter=Q(_d__lte=timedelta(seconds=b))) for i, b in enumerate(buckets)}
    row = annotated.aggregate(_count=Count("pk"), _sum=Sum("_d"), **aggregates)
    family.add_metric(list(labels.values()),
                      [(str(float(b)), row[f"le_{i}"]) for i, b in enumerate(buckets)] + [("+Inf", row["_count"])],
                      (row["_sum"] or timedelta()).total_seconds())
    return family


class PlatformCollector:
    """Everything the dashboard and the alerts read, from the database."""

    def collect(self):
        now = timezone.now()
        tasks = WorkspaceTask.objects

        runs = CounterMetricFamily("iac_runs", "Finished runs by type, status and error category",
                                   labels=["type", "status", "error_category"])
        for row in (tasks.filter(finished_at__isnull=False).values("task_type", "status", "error_category")
                    .annotate(n=Count("pk")).order_by()):
            runs.add_metric([row["task_type"], row["status"], row["error_category"] or "none"], row["n"])
        yield runs

        finished = tasks.filter(finished_at__isnull=False, started_at__isnull=False)
        durations = HistogramMetricFamily("iac_run_duration_seconds", "Run duration (start to end) by type",
                                          labels=["type"])
        for task_type in WorkspaceTask.TaskType.values:
            _histogram("", "", finished.filter(task_type=task_type), F("finished_at") - F("started_at"),
                       DURATION_BUCKETS, {"type": task_type}, family=durations)
        yield durations

        yield self._stage_histogram()

        yield _histogram("iac_queue_wait_seconds", "Time from queued to started",
                         tasks.filter(queued_at__isnull=False, started_at__isnull=False),
                         F("started_at") - F("queued_at"), WAIT_BUCKETS)

        per_workspace = {
            "iac_runs_queued": ("Queued runs per workspace", Q(status=Status.QUEUED)),
            "iac_runs_running": ("Running runs per workspace", Q(status=Status.RUNNING)),
            "iac_runs_awaiting_confirmation": ("Plans awaiting confirmation per workspace", Q(status=Status.PLANNED)),
        }
        names = dict(Workspace.objects.values_list("pk", "name"))
        for name, (doc, condition) in per_workspace.items():
            gauge = GaugeMetricFamily(name, doc, labels=["workspace"])
            counts = dict(tasks.filter(condition).values_list("workspace_id").annotate(n=Count("pk")).order_by())
            for workspace_id, workspace_name in sorted(names.items(), key=lambda item: item[1]):
                gauge.add_metric([workspace_name], counts.get(workspace_id, 0))
            yield gauge

        oldest = tasks.filter(status=Status.QUEUED).aggregate(t=Min("queued_at"))["t"]
        yield GaugeMetricFamily("iac_oldest_queued_run_age_seconds", "Age of the oldest queued run (0: none)",
                                value=(now - oldest).total_seconds() if oldest else 0)
        running = tasks.filter(status=Status.RUNNING).aggregate(started=Min("started_at"), beat=Min("heartbeat_at"))
        yield GaugeMetricFamily("iac_oldest_running_run_age_seconds", "Age of the longest-running run (0: none)",
                                value=(now - running["started"]).total_seconds() if running["started"] else 0)
        yield GaugeMetricFamily("iac_running_run_heartbeat_age_max_seconds",
                                "Oldest heartbeat among running runs (0: none)",
                                value=(now - running["beat"]).total_seconds() if running["beat"] else 0)

        saves = CounterMetricFamily("iac_state_saves", "Stored state versions by source", labels=["source"])
        for source, n in StateVersion.objects.values_list("source").annotate(n=Count("pk")).order_by():
            saves.add_metric([source], n)
        yield saves
        failures = CounterMetricFamily("iac_state_save_failures",
                                       "Runs whose state could not be stored (kept as a backup)", labels=["reason"])
        for reason in ("state_save", "state_conflict"):
            failures.add_metric([reason], tasks.filter(error_category=reason).count())
        yield failures
        lost = tasks.filter(error_category="worker_lost")
        yield self._by_type("iac_lost_runs", "Runs whose worker was lost", lost)
        yield CounterMetricFamily("iac_recovered_runs", "Lost applies whose state was recovered and workspace locked",
                                  value=lost.filter(task_type=WorkspaceTask.TaskType.APPLY).count())

        yield GaugeMetricFamily("iac_workspaces_locked", "Locked workspaces",
                                value=Workspace.objects.filter(locked=True).count())
        yield GaugeMetricFamily("iac_workspaces", "Workspaces", value=len(names))

        beats = dict(WorkerBeat.objects.values_list("host", "seen_at"))
        for host, beat in tasks.filter(status=Status.RUNNING).values_list("worker_host").annotate(b=Max("heartbeat_at")):
            if host and beat and (host not in beats or beat > beats[host]):
                beats[host] = beat
        heartbeat = GaugeMetricFamily("iac_worker_heartbeat_age_seconds", "Seconds since each worker host was last seen",
                                      labels=["host"])
        for host, seen in sorted(beats.items()):
            heartbeat.add_metric([host], max((now - seen).total_seconds(), 0))
        yield heartbeat

        deliveries = CounterMetricFamily("iac_notification_delivery_attempts",
                                         "Notification delivery attempts by outcome", labels=["outcome"])
        counts = dict(DeliveryAttempt.objects.values_list("ok").annotate(n=Count("pk")).order_by())
        deliveries.add_metric(["success"], counts.get(True, 0))
        deliveries.add_metric(["failure"], counts.get(False, 0))
        yield deliveries
        by_status = GaugeMetricFamily("iac_notification_deliveries", "Notification deliveries by status",
                                      labels=["status"])
        counts = dict(NotificationDelivery.objects.values_list("status").annotate(n=Count("pk")).order_by())
        for status in NotificationDelivery.Status.values:
            by_status.add_metric([status], counts.get(status, 0))
        yield by_status
        failing = GaugeMetricFamily("iac_notification_channel_consecutive_failures",
                                    "Failed attempts in a row per channel", labels=["channel", "workspace"])
        for name, workspace, n in NotificationChannel.objects.values_list("name", "workspace__name",
                                                                          "consecutive_failures"):
            failing.add_metric([name, workspace or ""], n)
        yield failing

    def _stage_histogram(self) -> HistogramMetricFamily:
        """Per-stage durations recorded by the executor at the end of each run (``stage_seconds``)."""
        family = HistogramMetricFamily("iac_stage_duration_seconds", "Time spent in each stage of a run",
                                       labels=["stage"])
        observed: dict[str, list[float]] = {}
        for times in WorkspaceTask.objects.exclude(stage_seconds={}).values_list("stage_seconds", flat=True).iterator():
            for stage, seconds in (times or {}).items():
                observed.setdefault(stage, []).append(float(seconds))
        for stage, values in sorted(observed.items()):
            buckets = [(str(float(b)), sum(1 for v in values if v <= b)) for b in DURATION_BUCKETS]
            family.add_metric([stage], buckets + [("+Inf", len(values))], sum(values))
        return family

    @staticmethod
    def _by_type(name: str, doc: str, queryset) -> CounterMetricFamily:
        family = CounterMetricFamily(name, doc, labels=["type"])
        counts = dict(queryset.values_list("task_type").annotate(n=Count("pk")).order_by())
        for task_type in WorkspaceTask.TaskType.values:
            family.add_metric([task_type], counts.get(task_type, 0))
        return family


def render_metrics() -> bytes:
    registry = CollectorRegistry(auto_describe=False)
    registry.register(PlatformCollector())
    return generate_latest(registry)


@login_not_required
@require_GET
def metrics_view(request):
    token = settings.IAC_METRICS_TOKEN
    given = request.headers.get("Authorization", "")
    if not token or not hmac.compare_digest(given.encode(), f"Bearer {token}".encode()):
        reason = "A bearer token is required." if token else "Metrics are off: IAC_METRICS_TOKEN is not set."
        response = HttpResponse(reason + "\n", status=401, content_type="text/plain")
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
        return response
    return HttpResponse(render_metrics(), content_type=CONTENT_TYPE_LATEST)
