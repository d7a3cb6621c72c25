"""Parallel API clients requesting plan & apply runs: the load of issue 16 ("a run is one thing").

Shared by tests/executions/test_run_is_one_thing.py (a few runs, in CI) and bench/one_run.py
(100 runs). Each client is a thread that speaks only the JSON API with a token: it requests a
plan & apply run, confirms it as soon as it is planned, and waits for its apply to end.
The figures are read back from the database afterwards.
"""

import threading
import time
from dataclasses import dataclass, field

import requests

from executions.models import WorkspaceTask

Status = WorkspaceTask.Status
TaskType = WorkspaceTask.TaskType
# Terraform's timestamp() is unknown while planning: every plan of this code has a change to apply.
ALWAYS_CHANGES = '{"resource": {"terraform_data": {"r": {"input": "${timestamp()}"}}}}'
ENDED = {s.value for s in WorkspaceTask.TERMINAL} - {Status.CONFIRMED}
WAITING = {Status.PENDING, Status.QUEUED}


@dataclass
class ClientResult:
    workspace: str
    plan_id: int | None = None
    apply_id: int | None = None
    outcome: str = ""  # the apply's status, or what stopped the client
    errors: list[str] = field(default_factory=list)


class Api:
    """A token client; at most ``limit`` requests in flight across all clients (the server is small)."""

    def __init__(self, base_url: str, token: str, limit: threading.Semaphore):
        self.base = base_url.rstrip("/") + "/api/v1"
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {token}"
        self.limit = limit

    def call(self, method: str, path: str, json=None) -> requests.Response:
        with self.limit:
            return self.session.request(method, self.base + path, json=json, timeout=60)


def _wait(api: Api, task_id: int, done, deadline: float) -> dict:
    """Poll a task until ``done(body)``; slowly while it waits its turn, quickly once it runs."""
    while True:
        body = api.call("GET", f"/tasks/{task_id}").json()
        if done(body):
            return body
        if time.monotonic() > deadline:
            raise TimeoutError(f"task {task_id} still {body['status']}")
        time.sleep(2.0 if body["status"] in WAITING else 0.3)


def plan_and_apply_client(api: Api, workspace: str, result: ClientResult, *, confirm: bool, deadline: float) -> None:
    try:
        response = api.call("POST", f"/workspaces/{workspace}/runs",
                            json={"kind": "plan_and_apply", "message": f"load from {threading.current_thread().name}"})
        if response.status_code != 201:
            result.outcome = f"refused {response.status_code}"
            result.errors.append(response.text[:300])
            return
        result.plan_id = response.json()["id"]
        # auto-apply confirms a plan a moment after it is planned: without confirming, wait for its apply
        plan = _wait(api, result.plan_id, lambda b: b["status"] in ENDED or b["apply_task_ids"]
                     or (confirm and b["status"] == Status.PLANNED), deadline)
        if plan["status"] == Status.PLANNED and confirm:
            confirmed = api.call("POST", f"/tasks/{result.plan_id}/confirm", json={"comment": "as soon as planned"})
            if confirmed.status_code != 201:
                result.outcome = f"confirm refused {confirmed.status_code}"
                result.errors.append(confirmed.text[:300])
                return
            result.apply_id = confirmed.json()["id"]
        elif plan["apply_task_ids"]:
            result.apply_id = plan["apply_task_ids"][0]  # auto-apply confirmed it
        elif plan["status"] == Status.CONFIRMED:
            result.apply_id = _wait(api, result.plan_id, lambda b: b["apply_task_ids"], deadline)["apply_task_ids"][0]
        else:
            result.outcome = f"plan {plan['status']}"
            result.errors.append(plan.get("error_message", ""))
            return
        result.outcome = _wait(api, result.apply_id, lambda b: b["status"] in ENDED, deadline)["status"]
    except Exception as exc:  # a client's failure is a figure, not a crash of the others
        result.outcome = result.outcome or "client error"
        result.errors.append(repr(exc))


def run_clients(base_url: str, token: str, workspaces: list[str], per_workspace: int, *, confirm: bool,
                timeout: float) -> list[ClientResult]:
    """Start ``per_workspace`` clients on each workspace at once; wait for all of them."""
    limit = threading.Semaphore(8)
    deadline = time.monotonic() + timeout
    results, threads = [], []
    for ws in workspaces:
        for i in range(per_workspace):
            result = ClientResult(workspace=ws)
            results.append(result)
            api = Api(base_url, token, limit)
            threads.append(threading.Thread(target=plan_and_apply_client, name=f"{ws}-{i}", daemon=True,
                                            args=(api, ws, result), kwargs={"confirm": confirm, "deadline": deadline}))
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(max(deadline - time.monotonic(), 0) + 30)
    return results


@dataclass
class Figures:
    applied: int
    stale: int
    max_running: int
    apply_order: list[int]  # plan ids in the order their applies started
    plan_order: list[int]  # plan ids in request order


def figures(workspace_ids: list[int]) -> Figures:
    """Read what happened back from the database: applied, stale, the most tasks running at once on one workspace."""
    tasks = WorkspaceTask.objects.filter(workspace_id__in=workspace_ids)
    applies = tasks.filter(task_type=TaskType.APPLY)
    stale = applies.filter(error_category="stale_plan").count()
    max_running = 0
    for ws_id in workspace_ids:
        events = []
        for start, end in tasks.filter(workspace_id=ws_id, started_at__isnull=False).values_list("started_at",
                                                                                               "finished_at"):
            events += [(start, 1), (end or start, -1)]
        running = 0
        for _, step in sorted(events, key=lambda e: (e[0], e[1])):  # an end before a start at the same instant
            running += step
            max_running = max(max_running, running)
    ordered = applies.filter(started_at__isnull=False).order_by("workspace_id", "started_at")
    return Figures(
        applied=applies.filter(status=Status.APPLIED).count(), stale=stale, max_running=max_running,
        apply_order=list(ordered.values_list("plan_task_id", flat=True)),
        plan_order=list(tasks.filter(task_type=TaskType.PLAN_AND_APPLY).order_by("workspace_id", "id")
                        .values_list("id", flat=True)),
    )
