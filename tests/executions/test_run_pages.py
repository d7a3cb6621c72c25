"""Run pages: runs tab, new run, run page (stages, plan view, buttons), live log polling, actions."""

import json
import re

import pytest
from django.urls import reverse
from django.utils import timezone

from executions.models import TaskLog, WorkspaceTask
from workspaces.code.services import code_version_save
from workspaces.models import StateVersion, Workspace
from workspaces.services import variables_checksum

pytestmark = pytest.mark.django_db
Status = WorkspaceTask.Status

SUMMARY = {
    "add": 1, "change": 1, "destroy": 1, "replace": 0,
    "resources": [
        {"address": "module.web.terraform_data.page", "type": "terraform_data", "name": "page", "module": "module.web",
         "action": "create", "changed_attributes": [{"name": "input", "before": None, "after": "hello",
                                                     "sensitive": False}]},
        {"address": "terraform_data.config", "type": "terraform_data", "name": "config", "module": None,
         "action": "update", "changed_attributes": [
             {"name": "input", "before": "v1", "after": "v2", "sensitive": False},
             {"name": "triggers_replace", "before": "(sensitive)", "after": "(sensitive)", "sensitive": True}]},
        {"address": "terraform_data.old", "type": "terraform_data", "name": "old", "module": None,
         "action": "delete", "changed_attributes": [{"name": "input", "before": "legacy", "after": None,
                                                     "sensitive": False}]},
    ],
    "outputs": [{"name": "token", "action": "create", "sensitive": True}],
}


def make_task(workspace, status, task_type="plan_and_apply", **fields):
    now = timezone.now()
    defaults = {"started_at": now if status not in ("pending", "queued") else None}
    if status in WorkspaceTask.TERMINAL:
        defaults["finished_at"] = now
    defaults.update(fields)
    return WorkspaceTask.objects.create(workspace=workspace, task_type=task_type, status=status, **defaults)


def add_logs(task, *chunks):
    start = TaskLog.objects.filter(task=task).count()
    for i, (stage, text) in enumerate(chunks, start=start + 1):
        TaskLog.objects.create(task=task, seq=i, stage=stage, text=text)


def url(name, workspace, task=None, **query):
    args = [workspace.name] + ([task.pk] if task is not None else [])
    base = reverse(name, args=args)
    return base + ("?" + "&".join(f"{k}={v}" for k, v in query.items()) if query else "")


def confirmable_plan(workspace, **fields):
    """A plan_and_apply task waiting for confirmation, made from the workspace's current inputs."""
    version, _ = code_version_save(workspace=workspace, code='{"resource": {}}')
    return make_task(
        workspace, Status.PLANNED, stage="awaiting_confirmation", code_version=version, plan_file=b"plan",
        change_summary=SUMMARY, has_changes=True,
        context={"code_version": version.number, "variables_checksum": variables_checksum(workspace),
                 "state_serial": None, "resource_versions": {}},
        **fields,
    )


# --- runs tab --------------------------------------------------------------------------------
def test_runs_tab_lists_newest_first_with_changes_and_links(auth_client, workspace, user):
    old = make_task(workspace, Status.APPLIED, message="first change", created_by=user, change_summary=SUMMARY)
    new = make_task(workspace, Status.FAILED, message="second change")
    html = auth_client.get(url("run_list", workspace)).content.decode()
    assert html.index("second change") < html.index("first change")
    assert url("run_detail", workspace, old) in html and url("run_detail", workspace, new) in html
    assert "+1" in html and "~1" in html and "-1" in html
    assert "status-failed" in html and "status-applied" in html


@pytest.mark.parametrize("status_filter, shown, hidden", [
    ("attention", "waiting-run", "done-run"),
    ("running", "busy-run", "done-run"),
    ("errored", "broken-run", "busy-run"),
    ("success", "done-run", "broken-run"),
    ("cancelled", "stopped-run", "done-run"),
])
def test_runs_tab_filters(auth_client, workspace, status_filter, shown, hidden):
    make_task(workspace, Status.PLANNED, message="waiting-run")
    make_task(workspace, Status.RUNNING, message="busy-run")
    make_task(workspace, Status.FAILED, message="broken-run", task_type="plan")
    make_task(workspace, Status.APPLIED, message="done-run")
    make_task(workspace, Status.DISCARDED, message="stopped-run")
    html = auth_client.get(url("run_list", workspace, status=status_filter)).content.decode()
    assert shown in html and hidden not in html


def test_runs_tab_fragment_unknown_filter_and_pagination(auth_client, workspace):
    for i in range(30):
        make_task(workspace, Status.APPLIED, message=f"run-{i:02d}")
    fragment = auth_client.get(url("run_list", workspace, status="bogus"), HTTP_HX_REQUEST="true")
    html = fragment.content.decode()
    assert fragment.status_code == 200 and "<html" not in html and 'id="runs"' in html
    assert "run-29" in html and "run-04" not in html and "Page 1 of 2" in html
    assert "run-04" in auth_client.get(url("run_list", workspace, page=2)).content.decode()


def test_runs_tab_with_100_runs_is_a_bounded_number_of_queries(auth_client, workspace, user,
                                                               django_assert_max_num_queries):
    version, _ = code_version_save(workspace=workspace, code="{}")
    plans = [make_task(workspace, Status.CONFIRMED, code_version=version, created_by=user, change_summary=SUMMARY)
             for _ in range(50)]
    for plan in plans:
        make_task(workspace, Status.APPLIED, task_type="apply", plan_task=plan, code_version=version, created_by=user)
    with django_assert_max_num_queries(10):
        response = auth_client.get(url("run_list", workspace) + "?page=1")
    assert response.status_code == 200 and response.content.decode().count('class="run-link"') == 25


# --- new run ---------------------------------------------------------------------------------
def test_new_run_page_and_fragment(auth_client, workspace):
    page = auth_client.get(url("run_new", workspace))
    assert page.status_code == 200 and b"Plan and apply" in page.content and b"Plan only" in page.content
    fragment = auth_client.get(url("run_new", workspace), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'id="run-form"' in fragment.content


def test_new_run_queues_a_task_and_opens_its_page(auth_client, workspace, user):
    code_version_save(workspace=workspace, code='{"resource": {}}')
    response = auth_client.post(url("run_new", workspace), {
        "kind": "plan_and_apply", "message": "scale up",
        "targets": "module.web.terraform_data.page\n\nterraform_data.a[\"k\"]\nmodule.web.terraform_data.page",
    })
    task = WorkspaceTask.objects.get()
    assert response.status_code == 302 and response["Location"] == url("run_detail", workspace, task)
    assert (task.status, task.task_type, task.message, task.created_by) == ("queued", "plan_and_apply", "scale up", user)
    assert task.targets == ["module.web.terraform_data.page", 'terraform_data.a["k"]']


@pytest.mark.parametrize("data, text", [
    ({"kind": "destroy"}, "Select a valid choice"),
    ({"kind": "plan", "targets": "not an address!"}, "is not a resource address"),
    ({"kind": "plan", "message": "x" * 501}, "at most 500 characters"),
])
def test_new_run_with_bad_input_shows_the_error_and_queues_nothing(auth_client, workspace, data, text):
    response = auth_client.post(url("run_new", workspace), data)
    assert response.status_code == 400 and text in response.content.decode()
    assert not WorkspaceTask.objects.exists()


def test_new_run_on_a_locked_workspace_is_refused_with_the_reason(auth_client, workspace):
    Workspace.objects.filter(pk=workspace.pk).update(locked=True, lock_reason="state restore", locked_at=timezone.now())
    page = auth_client.get(url("run_new", workspace)).content.decode()
    assert "This workspace is locked" in page and "state restore" in page
    response = auth_client.post(url("run_new", workspace), {"kind": "plan"})
    assert response.status_code == 423
    assert "is locked: state restore" in response.content.decode()
    assert not WorkspaceTask.objects.exists()


# --- run page --------------------------------------------------------------------------------
def test_planned_run_shows_plan_view_and_confirm_discard_but_no_cancel(auth_client, workspace):
    task = confirmable_plan(workspace, message="add page")
    add_logs(task, ("init", "Initializing..."), ("planning", "Plan: 1 to add"), ("complete", "Run finished"))
    response = auth_client.get(url("run_detail", workspace, task))
    html = response.content.decode()
    assert response.status_code == 200
    assert "Needs confirmation" in html and "add page" in html
    assert 'id="confirm-button"' in html and 'id="discard-button"' in html and 'id="cancel-button"' not in html
    assert url("run_confirm", workspace, task) in html and url("run_discard", workspace, task) in html
    # the plan view: counts, resources by action with attributes, sensitive masked
    assert re.search(r'id="plan-counts">.*\+1.*~1.*-1', html, re.S)
    assert "1 will be created" in html and "1 will be updated in-place" in html and "1 will be destroyed" in html
    assert "module.web.terraform_data.page" in html and "&quot;hello&quot;" in html
    assert "&quot;v1&quot;" in html and "&quot;v2&quot;" in html and "(sensitive)" in html
    # stages: planning done, waiting for confirmation
    assert 'class="step step-done" data-stage="saving_plan"' in html
    assert 'class="step step-waiting" data-stage="awaiting_confirmation"' in html
    # the log is complete: no poller
    assert re.search(r'id="log-poller"[^>]* data-final="1"></div>', html) and "every 1s" not in html


def test_speculative_plan_can_never_be_confirmed(auth_client, workspace):
    task = make_task(workspace, Status.PLAN_FINISHED, task_type="plan", change_summary=SUMMARY)
    html = auth_client.get(url("run_detail", workspace, task)).content.decode()
    assert "confirm-button" not in html and "discard-button" not in html and "cancel-button" not in html
    assert "speculative plan" in html
    assert 'data-stage="awaiting_confirmation"' not in html


def test_running_run_shows_numbered_log_poller_and_cancel(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, stage="planning")
    add_logs(task, ("init", "$ terraform init\nInitializing the backend..."), ("planning", "$ terraform plan"))
    html = auth_client.get(url("run_detail", workspace, task)).content.decode()
    assert 'id="cancel-button"' in html and "confirm-button" not in html
    assert re.search(r'id="L1".*>1</a><span class="lt">\$ terraform init</span>', html)
    assert re.search(r'id="L3".*>3</a><span class="lt">\$ terraform plan</span>', html)
    assert html.count('class="line section"') == 2
    poller = re.search(r'<div id="log-poller"[^>]*>', html).group(0)
    assert 'hx-trigger="every 1s"' in poller and 'hx-swap="beforeend"' in poller and 'hx-target="#log-lines"' in poller
    assert "after=2&amp;line=3&amp;stage=planning&amp;status=running&amp;task_stage=planning" in poller
    assert 'class="step step-done" data-stage="init"' in html
    assert 'class="step step-current" data-stage="planning"' in html
    assert "The plan appears here when Terraform has finished planning" in html


def test_cancel_requested_hides_the_cancel_button(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, stage="planning", cancel_requested=True)
    html = auth_client.get(url("run_detail", workspace, task)).content.decode()
    assert "Cancel requested" in html and 'id="cancel-button"' not in html


def test_failed_run_shows_the_error_and_where_it_stopped(auth_client, workspace):
    task = make_task(workspace, Status.FAILED, stage="done", error_message="terraform plan failed (exit code 1).")
    add_logs(task, ("init", "ok"), ("planning", "Error: boom"), ("complete", "Run finished: Errored"))
    html = auth_client.get(url("run_detail", workspace, task)).content.decode()
    assert "The run failed while planning." in html and "terraform plan failed (exit code 1)." in html
    assert 'class="step step-failed" data-stage="planning"' in html
    assert 'class="step step-skipped" data-stage="saving_plan"' in html
    assert "cancel-button" not in html and "confirm-button" not in html


def test_cancelled_apply_stopped_while_applying_even_if_its_partial_state_was_saved(auth_client, workspace):
    plan = confirmable_plan(workspace)
    WorkspaceTask.objects.filter(pk=plan.pk).update(status=Status.CONFIRMED, stage="done")
    apply = make_task(workspace, Status.CANCELLED, task_type="apply", plan_task=plan, error_category="cancelled")
    add_logs(apply, ("applying", "Interrupt received."), ("saving_state", "state saved"), ("complete", "Cancelled"))
    StateVersion.objects.create(workspace=workspace, serial=2, lineage="l", checksum="c", content="{}", task=apply)
    html = auth_client.get(url("run_detail", workspace, apply)).content.decode()
    assert 'class="step step-cancelled" data-stage="applying"' in html
    assert 'class="step step-done" data-stage="saving_state"' in html
    assert "This run was cancelled." in html


def test_apply_whose_state_save_failed_shows_it_at_saving_state(auth_client, workspace):
    plan = confirmable_plan(workspace)
    WorkspaceTask.objects.filter(pk=plan.pk).update(status=Status.CONFIRMED, stage="done")
    apply = make_task(workspace, Status.FAILED, task_type="apply", plan_task=plan, error_category="state_save",
                      error_message="state could not be saved; backup at /x")
    add_logs(apply, ("applying", "Apply complete!"), ("saving_state", "attempt 5/5 failed"))
    html = auth_client.get(url("run_detail", workspace, apply)).content.decode()
    assert 'class="step step-done" data-stage="applying"' in html
    assert 'class="step step-failed" data-stage="saving_state"' in html
    assert "The run failed while saving state." in html and "backup at /x" in html


def test_applied_run_links_its_plan_code_and_state(auth_client, workspace):
    plan = confirmable_plan(workspace)
    WorkspaceTask.objects.filter(pk=plan.pk).update(status=Status.CONFIRMED, stage="done",
                                                    context={**plan.context, "confirmed_by": "operator",
                                                             "confirm_comment": "ship it"})
    apply = make_task(workspace, Status.APPLIED, task_type="apply", plan_task=plan, code_version=plan.code_version)
    StateVersion.objects.create(workspace=workspace, serial=1, lineage="l", checksum="c", content="{}", task=apply)
    html = auth_client.get(url("run_detail", workspace, apply)).content.decode()
    assert url("run_detail", workspace, plan) in html
    assert reverse("state_version_detail", args=["demo", 1]) in html
    assert reverse("code_version_detail", args=["demo", 1]) in html
    assert "Plan being applied" in html and "module.web.terraform_data.page" in html
    assert all(f'class="step step-done" data-stage="{s}"' in html for s in ("planning", "applying", "saving_state"))
    plan_html = auth_client.get(url("run_detail", workspace, plan)).content.decode()
    assert url("run_detail", workspace, apply) in plan_html and "ship it" in plan_html and "by operator" in plan_html


def test_run_refresh_fragment_carries_plan_and_details_out_of_band(auth_client, workspace):
    task = confirmable_plan(workspace)
    response = auth_client.get(url("run_detail", workspace, task), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html
    assert html.lstrip().startswith('<div id="run-summary"')
    assert 'id="run-plan" hx-swap-oob="true"' in html and 'id="run-details" hx-swap-oob="true"' in html
    assert 'id="log"' not in html


def test_run_of_another_workspace_is_404(auth_client, workspace):
    other = Workspace.objects.create(name="other")
    task = make_task(other, Status.APPLIED)
    assert auth_client.get(url("run_detail", workspace, task)).status_code == 404
    assert auth_client.get(url("run_logs", workspace, task)).status_code == 404
    assert auth_client.post(url("run_cancel", workspace, task)).status_code == 404


def test_run_page_with_100_log_chunks_is_a_bounded_number_of_queries(auth_client, workspace,
                                                                     django_assert_max_num_queries):
    plan = confirmable_plan(workspace)
    for _ in range(3):
        make_task(workspace, Status.QUEUED, task_type="apply", plan_task=plan)
    add_logs(plan, *[("planning", f"line {i}") for i in range(100)])
    # 12, plus the 4 of the staleness check a plan awaiting confirmation gets (code, variables, state, resources)
    with django_assert_max_num_queries(16):
        assert auth_client.get(url("run_detail", workspace, plan)).status_code == 200


# --- live log --------------------------------------------------------------------------------
def test_log_poll_returns_only_new_lines_numbered_on_and_the_next_poller(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, stage="planning")
    add_logs(task, ("init", "a\nb"), ("planning", "c"), ("planning", "d\ne"))
    response = auth_client.get(url("run_logs", workspace, task, after=2, line=3, stage="planning",
                                   status="running", task_stage="planning"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 200
    assert ">4</a><span class=\"lt\">d</span>" in html and ">5</a><span class=\"lt\">e</span>" in html
    assert ">c<" not in html and ">a<" not in html and 'class="line section"' not in html
    poller = re.search(r'<div id="log-poller"[^>]*>', html).group(0)
    assert 'hx-swap-oob="true"' in poller and "after=3&amp;line=5" in poller and 'every 1s' in poller
    assert "HX-Trigger" not in response  # nothing changed for the header


def test_log_poll_with_nothing_new_keeps_polling(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, stage="planning")
    add_logs(task, ("planning", "x"))
    response = auth_client.get(url("run_logs", workspace, task, after=1, line=1, stage="planning",
                                   status="running", task_stage="planning"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and 'class="line' not in response.content.decode()
    assert "after=1&amp;line=1" in response.content.decode()


def test_log_poll_fires_run_updated_when_the_stage_moved(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, stage="planning")
    add_logs(task, ("planning", "x"))
    response = auth_client.get(url("run_logs", workspace, task, after=1, line=1, stage="init",
                                   status="running", task_stage="init"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200
    assert json.loads(response["HX-Trigger"]) == {"run-updated": {"status": "running", "stage": "planning"}}


def test_log_poll_stops_with_286_when_the_log_is_complete(auth_client, workspace):
    task = make_task(workspace, Status.PLANNED_NO_CHANGES, stage="done")
    add_logs(task, ("planning", "No changes."), ("complete", "Run finished: No changes"))
    response = auth_client.get(url("run_logs", workspace, task, after=0, line=0, status="running",
                                   task_stage="planning"), HTTP_HX_REQUEST="true")
    html = response.content.decode()
    assert response.status_code == 286
    assert "No changes." in html and "Run finished: No changes" in html
    # the next poller is inert
    assert re.search(r'<div id="log-poller" [^>]*data-final="1" hx-swap-oob="true"></div>', html)
    assert "hx-get" not in html
    assert "run-updated" in response["HX-Trigger"]


def test_log_poll_keeps_going_briefly_after_the_end_until_the_marker_arrives(auth_client, workspace):
    task = make_task(workspace, Status.FAILED, stage="done")
    add_logs(task, ("planning", "Error"))
    response = auth_client.get(url("run_logs", workspace, task, after=1, line=1, status="failed",
                                   task_stage="done"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200  # ended just now, marker not written yet
    earlier = timezone.now() - timezone.timedelta(seconds=10)
    WorkspaceTask.objects.filter(pk=task.pk).update(started_at=earlier, finished_at=earlier)
    response = auth_client.get(url("run_logs", workspace, task, after=1, line=1, status="failed",
                                   task_stage="done"), HTTP_HX_REQUEST="true")
    assert response.status_code == 286


def test_log_poll_with_garbage_parameters_starts_from_the_beginning(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, stage="init")
    add_logs(task, ("init", "first"))
    response = auth_client.get(url("run_logs", workspace, task, after="x", line="-4"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and ">1</a><span class=\"lt\">first</span>" in response.content.decode()


def test_raw_log_and_download(auth_client, workspace):
    task = make_task(workspace, Status.APPLIED)
    add_logs(task, ("init", "one\ntwo"), ("complete", "done"))
    raw = auth_client.get(url("run_logs", workspace, task))
    assert raw.status_code == 200 and raw["Content-Type"].startswith("text/plain")
    assert raw.content.decode() == "--- Initializing ---\none\ntwo\n--- done ---\n"
    download = auth_client.get(url("run_logs", workspace, task, download=1))
    assert f'filename="demo-run-{task.pk}.log"' in download["Content-Disposition"]


# --- confirm, discard, cancel ---------------------------------------------------------------
def test_confirm_queues_the_apply_and_opens_it(auth_client, workspace, user):
    plan = confirmable_plan(workspace)
    response = auth_client.post(url("run_confirm", workspace, plan), {"comment": "looks right"}, follow=True)
    apply = WorkspaceTask.objects.get(task_type="apply")
    assert apply.plan_task == plan and apply.status == Status.QUEUED and apply.created_by == user
    assert response.redirect_chain[-1][0] == url("run_detail", workspace, apply)
    assert f"Plan confirmed: apply run #{apply.pk} queued." in response.content.decode()
    plan.refresh_from_db()
    assert plan.status == Status.CONFIRMED and plan.context["confirm_comment"] == "looks right"


def test_confirming_a_stale_plan_says_why_and_applies_nothing(auth_client, workspace):
    plan = confirmable_plan(workspace)
    code_version_save(workspace=workspace, code='{"resource": {"terraform_data": {}}}')
    response = auth_client.post(url("run_confirm", workspace, plan), follow=True)
    html = response.content.decode()
    assert response.redirect_chain[-1][0] == url("run_detail", workspace, plan)
    assert "The plan is stale: the code changed since the plan" in html and "flash-error" in html
    assert not WorkspaceTask.objects.filter(task_type="apply").exists()


def test_confirming_twice_is_refused_visibly(auth_client, workspace):
    plan = confirmable_plan(workspace)
    auth_client.post(url("run_confirm", workspace, plan))
    response = auth_client.post(url("run_confirm", workspace, plan), follow=True)
    assert "not waiting for confirmation" in response.content.decode()
    assert WorkspaceTask.objects.filter(task_type="apply").count() == 1


def test_discard_ends_the_plan(auth_client, workspace):
    plan = confirmable_plan(workspace)
    response = auth_client.post(url("run_discard", workspace, plan), follow=True)
    plan.refresh_from_db()
    assert plan.status == Status.DISCARDED and "discarded" in response.content.decode()
    assert "This plan was discarded" in response.content.decode()


def test_cancel_a_queued_run(auth_client, workspace):
    task = make_task(workspace, Status.QUEUED)
    response = auth_client.post(url("run_cancel", workspace, task), follow=True)
    task.refresh_from_db()
    assert task.status == Status.CANCELLED and f"Run #{task.pk} cancelled." in response.content.decode()


def test_cancel_a_running_run_asks_the_worker_to_stop(auth_client, workspace):
    task = make_task(workspace, Status.RUNNING, stage="planning")
    response = auth_client.post(url("run_cancel", workspace, task), follow=True)
    task.refresh_from_db()
    assert task.cancel_requested and task.status == Status.RUNNING
    assert "Terraform is being stopped" in response.content.decode()


def test_cancel_a_finished_run_is_refused_visibly(auth_client, workspace):
    task = make_task(workspace, Status.APPLIED)
    response = auth_client.post(url("run_cancel", workspace, task), follow=True)
    assert "has already finished" in response.content.decode()


def test_actions_are_post_only(auth_client, workspace):
    task = confirmable_plan(workspace)
    for name in ("run_confirm", "run_discard", "run_cancel"):
        assert auth_client.get(url(name, workspace, task)).status_code == 405
    task.refresh_from_db()
    assert task.status == Status.PLANNED


# --- with real terraform (in this process, as a worker would) -----------------------------------
def test_plan_then_confirm_through_the_pages_with_real_terraform(auth_client, workspace, tmp_path, run_now):
    from tests.executions.conftest import file_resource, tf_json

    target = tmp_path / "made.txt"
    code_version_save(workspace=workspace, code=tf_json({"made": file_resource(target, "hello")}))
    auth_client.post(url("run_new", workspace), {"kind": "plan_and_apply", "message": "make a file"})
    plan = run_now(WorkspaceTask.objects.get())
    assert plan.status == Status.PLANNED, plan.error_message
    html = auth_client.get(url("run_detail", workspace, plan)).content.decode()
    assert "terraform_data.made" in html and "1 will be created" in html and 'id="confirm-button"' in html
    assert "$ terraform plan" in html and "Run finished: Needs confirmation" in html

    auth_client.post(url("run_confirm", workspace, plan), {"comment": "go"})
    apply = run_now(WorkspaceTask.objects.get(task_type="apply"))
    assert apply.status == Status.APPLIED and target.read_text().strip() == "hello"
    html = auth_client.get(url("run_detail", workspace, apply)).content.decode()
    assert "the new state is" in html and reverse("state_version_detail", args=["demo", 1]) in html
    assert "Apply complete!" in html


@pytest.mark.parametrize("text, tone", [
    ("  # terraform_data.a will be created", ""),
    ("  + resource \"terraform_data\" \"a\" {", "add"),
    ("      ~ input = \"v1\" -> \"v2\"", "change"),
    ("-/+ resource \"terraform_data\" \"a\" {", ""),
    ("  -/+ resource \"terraform_data\" \"a\" {", "change"),
    ("  - resource \"terraform_data\" \"old\" {", "destroy"),
    ("- web in modules/web", ""),
    ("Error: local-exec provisioner error", "error"),
    ("│ Warning: Deprecated", "warning"),
    ("$ terraform plan -input=false", "command"),
    ("Apply complete! Resources: 2 added, 0 changed, 0 destroyed.", "summary"),
])
def test_log_lines_are_toned_like_terraform_colours_them(text, tone):
    from executions.selectors import line_tone

    assert line_tone(text) == tone


def test_queued_run_says_what_it_waits_for(auth_client, workspace):
    waiting = make_task(workspace, Status.PLANNED, stage="awaiting_confirmation")
    queued = make_task(workspace, Status.QUEUED)
    html = auth_client.get(url("run_detail", workspace, queued)).content.decode()
    assert f"#{waiting.pk}</a> is waiting for confirmation; this run starts after it." in html
    speculative = make_task(workspace, Status.QUEUED, task_type="plan")
    html = auth_client.get(url("run_detail", workspace, speculative)).content.decode()
    assert "Waiting for a worker to pick it up." in html
    page = auth_client.get(url("run_new", workspace)).content.decode()
    assert f"#{waiting.pk}</a> is waiting for confirmation" in page


def test_a_log_poll_costs_a_handful_of_queries(auth_client, workspace, django_assert_max_num_queries):
    task = make_task(workspace, Status.RUNNING, stage="planning")
    add_logs(task, *[("planning", f"line {i}") for i in range(100)])
    with django_assert_max_num_queries(6):  # session, user, workspace, task, logs
        response = auth_client.get(url("run_logs", workspace, task, after=50, line=50, stage="planning",
                                       status="running", task_stage="planning"), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and response.content.decode().count('class="line') == 50


def test_the_run_page_shows_the_last_lines_of_a_long_log_and_raw_has_them_all(auth_client, workspace):
    task = make_task(workspace, "planned")
    lines = [f"  # terraform_data.r{i} will be created" for i in range(1, 5001)]
    add_logs(task, *(("planning", "\n".join(lines[i:i + 500])) for i in range(0, 5000, 500)))
    page = auth_client.get(url("run_detail", workspace, task)).content.decode()
    assert "4,000 earlier lines are not shown here" in page
    assert 'id="L5000"' in page and 'id="L4001"' in page and 'id="L4000"' not in page
    assert "terraform_data.r5000 will" in page and "terraform_data.r4000 will" not in page
    raw = auth_client.get(url("run_logs", workspace, task)).content.decode()
    assert "terraform_data.r1 will be created" in raw and "terraform_data.r5000 will" in raw
