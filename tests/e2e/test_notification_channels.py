"""A superuser adds a webhook channel in the browser and sends a test message: a real django-q2
worker delivers it to a local receiver and the channel page shows the delivery; the bell and the
notification center list the run that failed."""

import json
import re

import pytest
from playwright.sync_api import expect

from executions.models import NotificationDelivery
from tests.conftest import wait_for
from tests.e2e.conftest import PASSWORD, shot
from tests.executions.receivers import WebhookReceiver

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


@pytest.fixture
def root_page(page, django_user_model, transactional_db):
    django_user_model.objects.create_superuser("root", "root@example.com", PASSWORD)
    page.goto("/")
    page.fill("#id_username", "root")
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def test_add_a_channel_and_send_a_test_message(root_page, live_worker):
    page = root_page
    with WebhookReceiver([200]) as hook:
        page.click("#notification-bell")
        page.click("text=Channels")
        page.fill("#id_name", "on-call hook")
        page.select_option("#id_kind", "webhook")
        page.fill("#id_target", hook.url)
        page.fill("#id_secret", "browser-secret")
        page.check("input[name=levels][value=emergency]")
        page.click("#channel-form button[type=submit]")
        expect(page.locator("h1")).to_contain_text("on-call hook")
        page.click("text=Send test")
        expect(page.locator(".delivery-table")).to_contain_text("Test message for channel on-call hook")
        wait_for(lambda: NotificationDelivery.objects.filter(status="succeeded").exists(), timeout=60,
                 message="the worker to deliver the test message")
        page.reload()
        expect(page.locator(".delivery-table")).to_contain_text("Delivered")
        shot(page, "channel-detail")
    [request] = hook.requests
    assert json.loads(request["body"])["event"] == "test"
    assert "browser-secret" not in page.content() and hook.url not in page.content()
