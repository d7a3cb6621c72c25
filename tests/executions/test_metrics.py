"""/metrics: bearer token, and numbers read from the database (the same from every process)."""

import json

from prometheus_client.parser import text_string_to_metric_families

from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import file_resource, tf_json


def _samples(response) -> dict:
    found = {}
    for family in text_string_to_metric_families(response.content.decode()):
        for sample in family.samples:
            found[(sample.name, tuple(sorted(sample.labels.items())))] = sample.value
    return found


def test_metrics_need_the_bearer_token(client, settings, db):
    settings.IAC_METRICS_TOKEN = ""
    assert client.get("/metrics").status_code == 401  # off
    settings.IAC_METRICS_TOKEN = "tok-123"
    assert client.get("/metrics").status_code == 401
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong")
    assert response.status_code == 401 and response["WWW-Authenticate"].startswith("Bearer")
    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok-123").status_code == 200


def test_metrics_count_runs_stages_queue_and_state(client, settings, workspace, save_code, run_now, tmp_path):
    settings.IAC_METRICS_TOKEN = "tok"
    save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
    plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
    apply = run_now(task_confirm(task=plan))
    assert apply.status == "applied" and set(apply.stage_seconds) >= {"init", "applying", "saving_state"}
    save_code(workspace, json.dumps({"variable": {"x": {"type": "string"}}, "resource": {}}))
    run_now(task_queue_run(workspace=workspace, kind="plan"))
    task_queue_run(workspace=workspace, kind="plan")  # stays queued
    samples = _samples(client.get("/metrics", HTTP_AUTHORIZATION="Bearer tok"))
    assert samples[("iac_runs_total", (("error_category", "none"), ("status", "applied"), ("type", "apply")))] == 1
    assert samples[("iac_runs_total", (("error_category", "variable"), ("status", "failed"), ("type", "plan")))] == 1
    assert samples[("iac_run_duration_seconds_count", (("type", "apply"),))] == 1
    assert samples[("iac_stage_duration_seconds_count", (("stage", "applying"),))] == 1
    assert samples[("iac_queue_wait_seconds_count", ())] == 3
    assert samples[("iac_runs_queued", (("workspace", workspace.name),))] == 1
    assert samples[("iac_oldest_queued_run_age_seconds", ())] > 0
    assert samples[("iac_state_saves_total", (("source", "apply"),))] == 1
    assert samples[("iac_state_save_failures_total", (("reason", "state_save"),))] == 0
    assert samples[("iac_workspaces_locked", ())] == 0
    assert ("iac_notification_delivery_attempts_total", (("outcome", "failure"),)) in samples
