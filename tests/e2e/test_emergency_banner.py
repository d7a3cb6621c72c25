"""The emergency that matters most, end to end: a real database outage (a temporary PostgreSQL
cluster stopped) while an apply saves its state → every save attempt fails → the state goes to a
backup → once the database is back the sweep locks the workspace and raises the emergency → a real
django-q2 worker delivers it to a configured webhook (signature verified) → the banner shows on
every page in a real browser until a superuser acknowledges it (who and when recorded)."""

import hashlib
import hmac
import json
import os
import re
import subprocess
import sys
import urllib.request

import pytest
from django.conf import settings as django_settings
from django.contrib.auth import get_user_model
from playwright.sync_api import expect

from executions.models import Notification, NotificationDelivery, WorkspaceTask
from executions.notifications import channel_create
from executions.services import task_queue_run
from executions.tasks import sweep
from tests.conftest import WorkerProcess, wait_for
from tests.e2e.conftest import shot
from tests.executions.conftest import file_resource, tf_json
from tests.executions.receivers import WebhookReceiver, free_port
from tests.pgcluster import outage_tolerant
from workspaces.code.services import code_version_save
from workspaces.models import Workspace

pytestmark = [pytest.mark.e2e, pytest.mark.worker]
SECRET = "emergency-hook-secret"
PASSWORD = "pw-e2e-root-123"


class WebServer:
    """``manage.py runserver`` on the temporary database (pytest-django's live_server would use
    the shared test database, which an outage must not touch)."""

    def __init__(self, data_dir, database_url):
        self.port = free_port()
        self.log = open(os.path.join(str(data_dir), "web.log"), "w")
        env = {**os.environ, "DATABASE_URL": database_url, "IAC_DATA_DIR": str(data_dir), "DEBUG": "true",
               "SECRET_KEY": django_settings.SECRET_KEY, "IAC_ENCRYPTION_KEY": django_settings.IAC_ENCRYPTION_KEY}
        env.pop("REDIS_URL", None)
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(django_settings.BASE_DIR, "manage.py"), "runserver", "--noreload",
             f"127.0.0.1:{self.port}"], env=env, stdout=self.log, stderr=subprocess.STDOUT,
            cwd=str(django_settings.BASE_DIR))
        self.url = f"http://127.0.0.1:{self.port}"
        wait_for(self._up, timeout=60, message="the web server")

    def _up(self) -> bool:
        try:
            urllib.request.urlopen(f"{self.url}/login/", timeout=2)
            return True
        except OSError:
            return False

    def stop(self):
        self.process.terminate()
        self.process.wait(timeout=30)
        self.log.close()


def test_a_state_save_failure_reaches_the_channel_and_the_banner(django_on_temp_postgres, tmp_path, settings,
                                                                   browser):
    pg = django_on_temp_postgres.pg
    settings.IAC_WORK_DIR = tmp_path / "work"
    settings.IAC_STATE_BACKUP_DIR = tmp_path / "state-backups"
    root = get_user_model().objects.create_superuser("root", "root@example.com", PASSWORD)
    ws = Workspace.objects.create(name="emergency", auto_apply=True)
    files = tmp_path / "files"
    files.mkdir()
    code_version_save(workspace=ws, code=tf_json({f"r{i}": file_resource(files / f"r{i}.txt", sleep=2)
                                                  for i in range(3)}))
    with WebhookReceiver([200]) as hook:
        channel_create(user=root, name="on-call", kind="webhook", target=hook.url, secret=SECRET,
                       levels=["emergency"])
        worker = WorkerProcess(tmp_path, workers=1, env={
            "DATABASE_URL": django_on_temp_postgres.url, "IAC_HEARTBEAT_SECONDS": "1",
            "IAC_STATE_SAVE_BACKOFF": "0"})
        web = None
        try:
            task_queue_run(workspace=ws, kind="plan_and_apply")
            apply = wait_for(lambda: WorkspaceTask.objects.filter(task_type="apply", stage="applying").first(),
                             timeout=90, message="the apply to run")
            pg.stop()  # the injected fault: the database is gone while the apply ends and saves its state
            wait_for(lambda: len(list(files.glob("*.txt"))) == 3
                     and list(settings.IAC_STATE_BACKUP_DIR.glob("*.pending.json")), timeout=90,
                     message="the apply to end with its state in a backup and a pending recovery")
            pg.start()
            wait_for(outage_tolerant(lambda: Workspace.objects.filter(pk=ws.pk).exists()), timeout=30,
                     message="the database to answer")
            assert sweep()["recovered"]  # what the outage left undone: lock, emergency (then delivery)
            emergency = Notification.objects.get(level="emergency", workspace=ws)
            assert emergency.event == "state_save_failed" and emergency.task_id == apply.pk
            # the worker (not this process) delivers it to the channel
            wait_for(lambda: NotificationDelivery.objects.filter(notification=emergency, status="succeeded").exists(),
                     timeout=60, message="the worker to deliver the emergency")
            [request] = [r for r in hook.requests if json.loads(r["body"])["event"] == "state_save_failed"]
            expected = "sha256=" + hmac.new(SECRET.encode(), request["body"], hashlib.sha256).hexdigest()
            assert hmac.compare_digest(request["headers"]["X-IAC-Signature"], expected)
            body = json.loads(request["body"])
            assert body["level"] == "emergency" and body["workspace"] == "emergency" and body["run"]["id"] == apply.pk
            assert SECRET not in request["body"].decode()

            web = WebServer(tmp_path, django_on_temp_postgres.url)
            context = browser.new_context(base_url=web.url, viewport={"width": 1440, "height": 900})
            context.set_default_timeout(15_000)
            page = context.new_page()
            try:
                page.goto("/")
                page.fill("#id_username", "root")
                page.fill("#id_password", PASSWORD)
                page.click("button[type=submit]")
                page.wait_for_url(re.compile(r"/$"))
                banner = page.locator("#emergency-banner")
                expect(banner).to_contain_text("State of workspace emergency not saved")
                expect(page.locator("#notification-unread")).to_be_visible()
                page.goto("/workspaces/emergency/")  # every page, not only the list
                expect(page.locator("#emergency-banner")).to_be_visible()
                shot(page, "emergency-banner")
                page.locator("#emergency-banner button", has_text="Acknowledge").first.click()
                page.wait_for_load_state()
                expect(page.locator("#emergency-banner")).to_have_count(0)
                assert page.url.endswith("/workspaces/emergency/")  # back where the operator was
                page.goto("/notifications/?level=emergency")
                expect(page.locator(".notification-table")).to_contain_text("acknowledged by root")
            finally:
                context.close()
            emergency.refresh_from_db()
            assert emergency.acknowledged and emergency.acknowledged_by == root and emergency.acknowledged_at
        finally:
            print(worker.output()[-3000:])
            worker.stop()
            if web is not None:
                web.stop()
