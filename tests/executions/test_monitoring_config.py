"""The shipped monitoring files work: promtool accepts them, and a real Prometheus scraping a live
test server answers every expression of every dashboard panel after a few runs."""

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
import yaml

from executions.delivery import deliveries_due, delivery_attempt
from executions.notifications import channel_create
from executions.services import task_confirm, task_queue_run
from tests.executions.conftest import file_resource, tf_json
from tests.executions.receivers import WebhookReceiver, free_port

DEPLOY = Path(__file__).resolve().parents[2] / "deploy"
TOKEN = "prom-test-token"


def _ensure_prometheus() -> None:
    """Debian's package, installed when missing (CI does the same in .ci/run)."""
    if shutil.which("promtool") and shutil.which("prometheus"):
        return
    if os.geteuid() != 0:
        pytest.skip("prometheus is not installed and this user cannot apt-get install it")
    env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
    if subprocess.run(["apt-get", "install", "-y", "prometheus"], env=env, capture_output=True).returncode:
        subprocess.run(["apt-get", "update"], env=env, capture_output=True, check=True)
        subprocess.run(["apt-get", "install", "-y", "prometheus"], env=env, capture_output=True, check=True)


@pytest.fixture
def prometheus_dir(tmp_path):
    _ensure_prometheus()
    target = tmp_path / "prometheus"
    shutil.copytree(DEPLOY / "prometheus", target)
    (target / "iac_metrics_token").write_text(TOKEN)
    return target


def _promtool(*args) -> str:
    result = subprocess.run(["promtool", *args], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_promtool_accepts_the_shipped_config_and_rules(prometheus_dir):
    assert "SUCCESS" in _promtool("check", "config", str(prometheus_dir / "prometheus.yml"))
    out = _promtool("check", "rules", str(prometheus_dir / "alerts.yml"))
    assert "SUCCESS" in out
    names = {r["alert"] for g in yaml.safe_load((prometheus_dir / "alerts.yml").read_text())["groups"]
             for r in g["rules"]}
    assert {"IacStateSaveFailed", "IacRunStuck", "IacQueueBacklog", "IacWorkerMissing",
            "IacNotificationChannelFailing"} <= names


def _query(base: str, expr: str) -> list:
    url = f"{base}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
    with urllib.request.urlopen(url, timeout=10) as response:
        body = json.loads(response.read())
    assert body["status"] == "success", body
    return body["data"]["result"]


def _wait(predicate, timeout, what):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except OSError:
            pass
        time.sleep(0.5)
    raise AssertionError(f"timed out waiting for {what}")


def _dashboard_expressions() -> list[tuple[str, str]]:
    dashboard = json.loads((DEPLOY / "grafana" / "dashboard.json").read_text())
    return [(panel["title"], target["expr"]) for panel in dashboard["panels"] for target in panel["targets"]]


@pytest.mark.django_db(transaction=True)
def test_every_dashboard_panel_has_data_from_a_live_server(prometheus_dir, live_server, settings, tmp_path,
                                                           workspace, save_code, run_now, django_user_model):
    settings.IAC_METRICS_TOKEN = TOKEN
    config = yaml.safe_load((prometheus_dir / "prometheus.yml").read_text())
    config["global"] = {"scrape_interval": "1s", "evaluation_interval": "1s"}
    job = config["scrape_configs"][0]
    job["static_configs"] = [{"targets": [live_server.url.removeprefix("http://")]}]
    (prometheus_dir / "prometheus.yml").write_text(yaml.safe_dump(config))
    _promtool("check", "config", str(prometheus_dir / "prometheus.yml"))
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    log = open(tmp_path / "prometheus.log", "w")
    server = subprocess.Popen(
        ["prometheus", f"--config.file={prometheus_dir / 'prometheus.yml'}",
         f"--storage.tsdb.path={tmp_path / 'tsdb'}", f"--web.listen-address=127.0.0.1:{port}"],
        stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait(lambda: [r for r in _query(base, 'up{job="iacplatform"}') if r["value"][1] == "1"], 60,
              "Prometheus to scrape the live server")
        # A few runs: an applied plan-and-apply, a failed plan, a queued one; a notification attempt.
        superuser = django_user_model.objects.create_superuser("root", "r@example.com", "pw")
        with WebhookReceiver([500]) as hook:
            channel_create(user=superuser, name="hook", kind="webhook", target=hook.url, secret="s")
            save_code(workspace, tf_json({"a": file_resource(tmp_path / "a.txt")}))
            plan = run_now(task_queue_run(workspace=workspace, kind="plan_and_apply"))
            assert run_now(task_confirm(task=plan)).status == "applied"
            save_code(workspace, json.dumps({"variable": {"x": {"type": "string"}}, "resource": {}}))
            assert run_now(task_queue_run(workspace=workspace, kind="plan")).status == "failed"
            task_queue_run(workspace=workspace, kind="plan")
            for pk in deliveries_due(send=lambda pk: None):
                delivery_attempt(pk)
        time.sleep(4)  # a few scrapes after the runs
        missing = []
        for title, expr in _dashboard_expressions():
            result = _query(base, expr)
            values = [r["value"][1] for r in result]
            if not values or all(v == "NaN" for v in values):
                missing.append(f"{title}: {expr} → {result}")
        assert not missing, "panels without data:\n" + "\n".join(missing)
        # and the alert rules load and evaluate against the live data
        rules = json.loads(urllib.request.urlopen(f"{base}/api/v1/rules", timeout=10).read())
        assert all(r["health"] == "ok" for g in rules["data"]["groups"] for r in g["rules"]), rules
    finally:
        server.terminate()
        server.wait(timeout=30)
        log.close()
