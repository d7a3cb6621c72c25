"""Issue 16 on the pages and the API: a plan and its apply are one run; a stale plan looks stale."""

import json
from datetime import timedelta

import pytest
from django.urls import reverse
from django.utils import timezone

from executions.models import WorkspaceTask
from executions.runs import Run
from workspaces.code.services import code_version_save
from workspaces.services import variables_checksum

pytestmark = pytest.mark.django_db
Status = WorkspaceTask.Status


def _url(name, workspace, task=None, **query):
    base = reverse(name, args=[workspace.name] + ([task.pk] if task is not None else []))
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def _planned(workspace, **fields):
    """A plan & apply run waiting for confirmation, made from the workspace's current inputs."""
    version = workspace.current_code_version or code_version_save(workspace=workspace, code="{}")[0]
    workspace.refresh_from_db()
    return WorkspaceTask.objects.create(
        workspace=workspace, task_type="plan_and_apply", status=Status.PLANNED, stage="awaiting_confirmation",
        code_version=version, plan_file=b"plan", has_changes=True, started_at=timezone.now(),
        change_summary={"add": 1, "change": 0, "destroy": 0, "replace": 0, "resources": [], "outputs": []},
        context={"code_version": version.number, "variables_checksum": variables_checksum(workspace),
                 "state_serial": None, "resource_versions": {}},
        **fields,
    )


def _plan_with_errored_apply(workspace):
    t0 = timezone.now() - timedelta(minutes=10)
    plan = WorkspaceTask.objects.create(
        workspace=workspace, task_type="plan_and_apply", status=Status.CONFIRMED, stage="done",
        message="ship it", started_at=t0, finished_at=t0 + timedelta(seconds=190),
        stage_times={"planning": {"started": t0.isoformat(), "ended": (t0 + timedelta(seconds=10)).isoformat()},
                     "awaiting_confirmation": {"started": (t0 + timedelta(seconds=10)).isoformat(),
                                               "ended": (t0 + timedelta(seconds=190)).isoformat()}},
    )
    apply = WorkspaceTask.objects.create(
        workspace=workspace, task_type="apply", plan_task=plan, status=Status.FAILED, stage="done",
        started_at=t0 + timedelta(seconds=200), finished_at=t0 + timedelta(seconds=207),
        error_message="Error: provisioner failed",
    )
    return plan, apply


# --- runs list ---------------------------------------------------------------------------------
def test_a_plan_whose_apply_errored_is_one_red_run_in_the_list(auth_client, workspace):
    plan, apply = _plan_with_errored_apply(workspace)
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status=Status.PLAN_FINISHED, message="spec",
                                 started_at=timezone.now(), finished_at=timezone.now())
    html = auth_client.get(_url("run_list", workspace)).content.decode()
    assert html.count('class="run-link"') == 2  # two runs, not three tasks
    row = html[html.index(f'data-run="{plan.pk}"'):]
    row = row[:row.index("</tr>")]
    assert "status-failed" in row and "Apply errored" in row and "Confirmed" not in row
    assert f"#{apply.pk}" in row  # the apply task is still reachable from its run's row
    # plan 10 s, waited 3 min for a person, apply 7 s: the waiting is in neither phase
    assert "plan 10s" in row and "waited 3m 00s" in row and "apply 7s" in row


def test_filters_count_runs_by_their_outcome(auth_client, workspace):
    _plan_with_errored_apply(workspace)
    html = auth_client.get(_url("run_list", workspace, status="errored")).content.decode()
    assert "ship it" in html
    counts = dict(
        (key, int(html.split(f"filter-{key}")[1].split('class="count">')[1].split("<")[0]))
        for key in ("all", "errored", "success", "running")
    )
    assert counts == {"all": 1, "errored": 1, "success": 0, "running": 0}
    assert "ship it" not in auth_client.get(_url("run_list", workspace, status="success")).content.decode()


def test_the_apply_task_url_shows_the_same_run(auth_client, workspace):
    plan, apply = _plan_with_errored_apply(workspace)
    for task in (plan, apply):
        html = auth_client.get(_url("run_detail", workspace, task)).content.decode()
        status = html[html.index('id="run-status"'):]
        assert "Apply errored" in status[:200] and "status-failed" in html[html.index("badge badge-lg"):][:60]
        phases = html[html.index('id="run-phases"'):html.index("</ol>", html.index('id="run-phases"'))]
        assert 'data-phase="plan"' in phases and 'data-phase="apply"' in phases and "Waited for confirmation" in phases
        assert f"#{plan.pk}" in phases and f"#{apply.pk}" in phases


def test_phase_durations_leave_out_the_wait_for_confirmation():
    t0 = timezone.now() - timedelta(hours=1)
    plan = WorkspaceTask(task_type="plan_and_apply", status=Status.CONFIRMED, started_at=t0,
                         finished_at=t0 + timedelta(minutes=30),
                         stage_times={"awaiting_confirmation": {"started": (t0 + timedelta(seconds=20)).isoformat(),
                                                                "ended": (t0 + timedelta(minutes=30)).isoformat()}})
    apply = WorkspaceTask(task_type="apply", status=Status.APPLIED, started_at=t0 + timedelta(minutes=31),
                          finished_at=t0 + timedelta(minutes=31, seconds=5))
    run = Run(plan=plan, apply=apply)
    assert (run.plan_seconds, run.waiting_seconds, run.apply_seconds) == (20.0, 30 * 60 - 20.0, 5.0)
    assert (run.status, run.status_label) == (Status.APPLIED, "Applied")


# --- a stale plan ------------------------------------------------------------------------------
def test_a_stale_plan_shows_why_and_cannot_be_confirmed(auth_client, workspace):
    plan = _planned(workspace, targets=["terraform_data.a"])
    fresh = auth_client.get(_url("run_detail", workspace, plan)).content.decode()
    assert 'id="stale-reason"' not in fresh and 'id="plan-again-button"' not in fresh
    code_version_save(workspace=workspace, code='{"resource": {"terraform_data": {"a": {"input": "v2"}}}}')
    html = auth_client.get(_url("run_detail", workspace, plan)).content.decode()
    assert 'id="stale-reason"' in html and "the code changed since the plan" in html
    button = html[html.index('id="confirm-button"'):]
    assert button.index("disabled") < button.index(">")
    assert 'id="plan-again-button"' in html


def test_plan_again_discards_the_stale_plan_and_queues_a_run_with_the_same_targets(auth_client, workspace):
    plan = _planned(workspace, targets=["terraform_data.a"])
    code_version_save(workspace=workspace, code='{"resource": {"terraform_data": {"a": {"input": "v2"}}}}')
    response = auth_client.post(_url("run_plan_again", workspace, plan), follow=True)
    new = WorkspaceTask.objects.exclude(pk=plan.pk).get()
    plan.refresh_from_db()
    assert plan.status == Status.DISCARDED
    assert (new.status, new.task_type, new.targets) == (Status.QUEUED, "plan_and_apply", ["terraform_data.a"])
    assert response.redirect_chain[-1][0] == _url("run_detail", workspace, new)
    # a run that is still planning cannot be planned again: a clear message, nothing queued
    response = auth_client.post(_url("run_plan_again", workspace, new), follow=True)
    assert "wait for it to end" in response.content.decode()
    assert WorkspaceTask.objects.count() == 2


# --- the API keeps both task ids -----------------------------------------------------------------
def test_api_task_objects_name_their_run_and_both_task_ids(auth_client, workspace):
    plan, apply = _plan_with_errored_apply(workspace)
    for task in (plan, apply):
        body = auth_client.get(f"/api/v1/tasks/{task.pk}").json()
        assert (body["run_id"], body["apply_task_id"]) == (plan.pk, apply.pk)
        assert (body["run_status"], body["run_status_label"]) == ("failed", "Apply errored")
    assert auth_client.get(f"/api/v1/tasks/{plan.pk}").json()["apply_task_ids"] == [apply.pk]
    assert auth_client.get(f"/api/v1/tasks/{apply.pk}").json()["plan_task_id"] == plan.pk
    stale = _planned(workspace)
    code_version_save(workspace=workspace, code='{"resource": {"terraform_data": {"b": {"input": "x"}}}}')
    response = auth_client.post(f"/api/v1/tasks/{stale.pk}/plan-again", data=json.dumps({}),
                                content_type="application/json")
    assert response.status_code == 201 and response.json()["run_status"] == "queued"


def test_the_overview_shows_the_latest_run_with_its_real_outcome(auth_client, workspace):
    plan, _ = _plan_with_errored_apply(workspace)
    html = auth_client.get(reverse("workspace_overview", args=[workspace.name])).content.decode()
    card = html[html.index('id="latest-run"'):]
    card = card[:card.index("</section>")]
    assert f"#{plan.pk}" in card and "Apply errored" in card and "status-failed" in card
