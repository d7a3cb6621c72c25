"""Issue 16: a plan and its apply are one run, in the queue too.

N plan & apply requests on one workspace from parallel API clients, each confirmed as soon
as it is planned, with real django-q2 workers: every run is applied, none is stale, one task
runs at a time and the applies follow the order of the requests (a confirmed plan's apply
goes before any run requested after it). ``ONE_RUN_N`` sets N (bench/one_run.py does 100).
"""

import os

import pytest

from executions.models import WorkspaceTask
from executions.services import next_startable_task, task_confirm, task_queue_run
from resources.aggregation import resource_version_map
from tests.executions.one_run_load import ALWAYS_CHANGES, figures, run_clients
from workspaces.code.services import code_version_save
from workspaces.models import Workspace
from workspaces.services import variables_checksum
from workspaces.tokens import api_token_create

Status = WorkspaceTask.Status
N = int(os.environ.get("ONE_RUN_N", "8"))


@pytest.mark.worker
def test_parallel_plan_and_apply_requests_are_all_applied_in_order(live_server, start_worker, django_user_model):
    admin = django_user_model.objects.create_superuser(username="loader", password="pw-loader-123", email="")
    _, token = api_token_create(user=admin, name="load")
    ws = Workspace.objects.create(name="one-run")
    code_version_save(workspace=ws, code=ALWAYS_CHANGES)
    worker = start_worker(workers=2)

    results = run_clients(live_server.url, token, [ws.name], N, confirm=True, timeout=110 + 12 * N)

    got = figures([ws.pk])
    outcomes = sorted(r.outcome for r in results)
    assert outcomes == [Status.APPLIED] * N, ([(r.plan_id, r.outcome, r.errors) for r in results],
                                              worker.output()[-3000:])
    assert (got.applied, got.stale, got.max_running) == (N, 0, 1)
    assert got.apply_order == got.plan_order  # applied in request order


def test_a_confirmed_plans_apply_goes_before_runs_requested_after_it(db):
    """The scheduler alone: the apply queues at its plan's position, not behind later requests."""
    ws = Workspace.objects.create(name="order")
    code_version_save(workspace=ws, code=ALWAYS_CHANGES)
    first = task_queue_run(workspace=ws, kind="plan_and_apply")
    second = task_queue_run(workspace=ws, kind="plan_and_apply")
    assert next_startable_task(ws.pk) == first
    # As the plan pipeline leaves it: planned, with a plan file and the inputs it was made from.
    WorkspaceTask.objects.filter(pk=first.pk).update(status=Status.PLANNED, stage="awaiting_confirmation",
                                                     plan_file=b"plan", context=_inputs_of(ws))
    assert next_startable_task(ws.pk) is None  # a plan awaiting confirmation holds later runs back
    apply = task_confirm(task=first)
    assert apply.pk > second.pk
    assert next_startable_task(ws.pk) == apply


def _inputs_of(ws):
    ws.refresh_from_db()
    return {"code_version": ws.current_code_version.number, "variables_checksum": variables_checksum(ws),
            "state_serial": None, "resource_versions": resource_version_map(ws)}
