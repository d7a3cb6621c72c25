"""Drift detection, real: the localfile provider (tests/fixtures/provider) manages a file whose
content the test changes on disk; a drift check (plan -refresh-only) reports it."""

import json
from datetime import timedelta

import pytest
from django.utils import timezone
from django_q.models import Schedule

from executions.drift import drift_schedule_sync, latest_drift, schedule_name, scheduled_drift_check
from executions.models import Notification, WorkspaceTask
from executions.services import next_startable_task, task_confirm, task_queue_drift_check, task_queue_run
from iacplatform.errors import DomainError, WorkspaceLocked
from tests.conftest import wait_for
from tests.fixtures.provider_mirror import required_providers
from workspaces.services import workspace_lock, workspace_unlock, workspace_update
from workspaces.tokens import api_token_create

Status = WorkspaceTask.Status
# Committed rows: the run's heartbeat thread (its own connection) must see its claim, or a run
# longer than IAC_HEARTBEAT_SECONDS believes it lost its claim and stops.
pytestmark = pytest.mark.django_db(transaction=True)


def localfile_code(path, content="as declared", delay=0):
    resource = {"path": str(path), "content": content}
    if delay:
        resource["delay_seconds"] = delay
    return json.dumps({"terraform": required_providers(), "resource": {"localfile_file": {"a": resource}}})


@pytest.fixture
def applied(workspace, user, tmp_path, save_code, run_now, use_provider_mirror):
    target = tmp_path / "managed.txt"
    save_code(workspace, localfile_code(target))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply", user=user))
    apply = run_now(task_confirm(task=plan, user=user))
    assert apply.status == Status.APPLIED, apply.error_message
    assert target.read_text() == "as declared"
    return target


def test_a_drift_check_reports_the_changed_attribute_and_a_reconcile_plan_restores_it(
        workspace, user, applied, run_now, auth_client):
    applied.write_text("edited by hand")
    check = run_now(task_queue_drift_check(workspace=workspace, user=user))
    assert check.task_type == "drift_check"
    assert check.status == Status.PLAN_FINISHED and check.has_changes, check.error_message
    (resource,) = check.change_summary["resources"]
    assert resource["address"] == "localfile_file.a" and resource["action"] == "update"
    content = next(a for a in resource["changed_attributes"] if a["name"] == "content")
    assert content["before"] == "as declared" and content["after"] == "edited by hand"
    assert not check.plan_file  # never applied: no plan kept
    assert applied.read_text() == "edited by hand"  # a drift check changes nothing
    # drift_detected: the notification
    note = Notification.objects.get(task=check)
    assert note.level == "warning" and note.title == f"Drift detected on workspace {workspace.name}"
    assert "localfile_file.a: content" in note.message
    run_page = auth_client.get(f"/workspaces/{workspace.name}/runs/{check.pk}/")
    assert run_page.status_code == 200 and "Drift check" in run_page.content.decode()

    # the overview shows it, the list has the badge, the API says so
    page = auth_client.get(f"/workspaces/{workspace.name}/").content.decode()
    assert "Drift detected" in page and "localfile_file.a" in page and "edited by hand" in page
    assert "Plan to reconcile" in page
    assert "Drifted" in auth_client.get("/").content.decode()
    token = api_token_create(user=user, name="t")[1]
    drift = auth_client.get(f"/api/v1/workspaces/{workspace.name}/drift",
                            HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert drift["status"] == "drifted" and drift["resources"][0]["address"] == "localfile_file.a"
    listed = auth_client.get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert [w["drifted"] for w in listed if w["name"] == workspace.name] == [True]

    # "plan to reconcile" → a plan & apply run; confirmed, it restores the file
    response = auth_client.post(f"/workspaces/{workspace.name}/drift/{check.pk}/reconcile/")
    assert response.status_code == 302
    plan = WorkspaceTask.objects.filter(workspace=workspace, task_type="plan_and_apply").latest("id")
    assert f"drift check #{check.pk}" in plan.message
    plan = run_now(plan)
    assert plan.status == Status.PLANNED, plan.error_message
    apply = run_now(task_confirm(task=plan, user=user))
    assert apply.status == Status.APPLIED, apply.error_message
    assert applied.read_text() == "as declared"
    assert latest_drift(workspace)["drifted"] is False
    assert "Drifted" not in auth_client.get("/").content.decode()

    # the next check finds no drift
    again = run_now(task_queue_drift_check(workspace=workspace, user=user))
    assert again.status == Status.PLANNED_NO_CHANGES and again.has_changes is False
    assert "No drift" in auth_client.get(f"/workspaces/{workspace.name}/").content.decode()


def test_a_workspace_without_drift_reports_no_drift(workspace, user, applied, run_now, auth_client):
    token = api_token_create(user=user, name="t")[1]
    response = auth_client.post(f"/api/v1/workspaces/{workspace.name}/drift-checks",
                                HTTP_AUTHORIZATION=f"Bearer {token}")
    assert response.status_code == 201, response.content
    check = run_now(WorkspaceTask.objects.get(pk=response.json()["id"]))
    assert check.status == Status.PLANNED_NO_CHANGES, check.error_message
    assert check.change_summary["resources"] == []
    assert not Notification.objects.filter(task=check).exists()
    drift = auth_client.get(f"/api/v1/workspaces/{workspace.name}/drift",
                            HTTP_AUTHORIZATION=f"Bearer {token}").json()
    assert drift["status"] == "no_drift" and drift["drifted"] is False
    page = auth_client.get(f"/workspaces/{workspace.name}/").content.decode()
    assert "No drift" in page


def test_start_by_hand_from_the_overview(workspace, user, applied, auth_client):
    response = auth_client.post(f"/workspaces/{workspace.name}/drift/check/")
    assert response.status_code == 302
    check = WorkspaceTask.objects.get(workspace=workspace, task_type="drift_check")
    assert check.status == Status.QUEUED and response.url.endswith(f"/runs/{check.pk}/")


def test_a_drift_check_yields_to_an_operators_run_and_is_never_applied(workspace, user, applied):
    check = task_queue_drift_check(workspace=workspace, user=user)
    operator = task_queue_run(workspace=workspace, kind="plan", user=user)
    assert next_startable_task(workspace.pk).pk == operator.pk  # queued later, starts first
    with pytest.raises(DomainError):
        task_confirm(task=check, user=user)


def test_scheduled_check_is_skipped_when_busy_or_locked_and_retried_later(workspace, user, applied, settings):
    settings.IAC_DRIFT_RETRY_SECONDS = 120
    workspace_lock(workspace=workspace, reason="maintenance", user=user)
    assert scheduled_drift_check(workspace.pk).startswith("skipped: Workspace demo is locked")
    retry = Schedule.objects.get(name=f"drift-check-retry-{workspace.pk}")
    assert retry.schedule_type == Schedule.ONCE and retry.next_run > timezone.now() + timedelta(seconds=100)
    assert not WorkspaceTask.objects.filter(task_type="drift_check").exists()
    with pytest.raises(WorkspaceLocked):  # by hand, a locked workspace refuses it as any run
        task_queue_drift_check(workspace=workspace, user=user)
    workspace_unlock(workspace=workspace, user=user)
    busy = task_queue_run(workspace=workspace, kind="plan", user=user)
    assert scheduled_drift_check(workspace.pk).startswith(f"skipped: Run #{busy.pk}")
    busy.transition(Status.CANCELLED)
    assert scheduled_drift_check(workspace.pk).startswith("queued drift check #")


def test_the_schedule_setting_makes_a_django_q_schedule(workspace, user):
    assert workspace.drift_schedule == "off"  # off by default
    assert not Schedule.objects.filter(name=schedule_name(workspace.pk)).exists()
    workspace = workspace_update(workspace=workspace, user=user, drift_schedule="hourly")
    drift_schedule_sync(workspace)  # (on commit in production; the test transaction never commits)
    schedule = Schedule.objects.get(name=schedule_name(workspace.pk))
    assert schedule.schedule_type == Schedule.HOURLY and schedule.func == "executions.drift.scheduled_drift_check"
    workspace = workspace_update(workspace=workspace, user=user, drift_schedule="cron", drift_cron="15 */6 * * *")
    drift_schedule_sync(workspace)
    schedule.refresh_from_db()
    assert schedule.schedule_type == Schedule.CRON and schedule.cron == "15 */6 * * *"
    assert schedule.next_run.minute == 15
    with pytest.raises(DomainError, match="not a cron expression"):
        workspace_update(workspace=workspace, user=user, drift_schedule="cron", drift_cron="every tuesday")
    workspace = workspace_update(workspace=workspace, user=user, drift_schedule="off")
    drift_schedule_sync(workspace)
    assert not Schedule.objects.filter(name=schedule_name(workspace.pk)).exists()


def test_the_settings_page_sets_the_schedule(workspace, user, auth_client):
    page = auth_client.get(f"/workspaces/{workspace.name}/settings/").content.decode()
    assert "Drift detection" in page
    response = auth_client.post(f"/workspaces/{workspace.name}/settings/",
                                {"drift_schedule": "daily", "drift_cron": ""})
    assert response.status_code == 302
    workspace.refresh_from_db()
    assert workspace.drift_schedule == "daily"


@pytest.mark.worker
def test_a_drift_check_never_runs_while_another_run_of_the_workspace_runs(
        start_worker, workspace, user, tmp_path, save_code, settings, use_provider_mirror):
    """A long apply (the provider sleeps in its create) runs on a real worker; a drift check
    queued meanwhile starts only after the apply has finished."""
    target = tmp_path / "slow.txt"
    save_code(workspace, localfile_code(target, delay=6))
    start_worker(workers=2, env={"IAC_PROVIDER_MIRROR": str(use_provider_mirror)})
    plan = task_queue_run(workspace=workspace, kind="plan_and_apply", user=user)
    wait_for(lambda: WorkspaceTask.objects.get(pk=plan.pk).status == Status.PLANNED, timeout=90,
             message="the plan")
    apply = task_confirm(task=WorkspaceTask.objects.get(pk=plan.pk), user=user)
    wait_for(lambda: WorkspaceTask.objects.get(pk=apply.pk).stage == "applying", timeout=60, message="applying")
    assert scheduled_drift_check(workspace.pk).startswith(f"skipped: Run #{apply.pk}")  # the schedule yields
    check = task_queue_drift_check(workspace=workspace, user=user)  # by hand: queued behind it
    wait_for(lambda: WorkspaceTask.objects.get(pk=check.pk).status in (Status.PLAN_FINISHED,
                                                                        Status.PLANNED_NO_CHANGES, Status.FAILED),
             timeout=120, message="the drift check")
    apply.refresh_from_db()
    check.refresh_from_db()
    assert apply.status == Status.APPLIED, apply.error_message
    assert check.status == Status.PLANNED_NO_CHANGES, check.error_message
    assert check.started_at >= apply.finished_at
    assert target.read_text() == "as declared"


def test_a_running_drift_check_yields_to_an_operators_new_run(workspace, user, applied):
    check = task_queue_drift_check(workspace=workspace, user=user)
    WorkspaceTask.objects.filter(pk=check.pk).update(status=Status.RUNNING)
    operator = task_queue_run(workspace=workspace, kind="plan", user=user)
    check.refresh_from_db()
    assert check.cancel_requested  # its worker stops terraform; the operator's run starts next
    assert operator.status == Status.QUEUED
