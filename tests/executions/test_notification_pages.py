"""Channel settings, the notification center, the bell and the emergency banner: who may do what."""

import pytest
from django.urls import reverse

from executions.delivery import delivery_attempt
from executions.models import Notification, NotificationChannel, NotificationDelivery
from executions.notifications import can_manage_channels, channel_create, notify_event
from iacplatform.errors import Forbidden
from tests.executions.receivers import WebhookReceiver
from workspaces.models import Role, WorkspaceMember
from workspaces.services import workspace_lock, workspace_unlock


@pytest.fixture
def superuser(django_user_model):
    return django_user_model.objects.create_superuser("root", "root@example.com", "pw")


@pytest.fixture
def staff(workspace, django_user_model):
    """The workspace's admin (the role that manages its channels); the name is historical."""
    account = django_user_model.objects.create_user("staff", password="pw")
    WorkspaceMember.objects.create(workspace=workspace, user=account, role=Role.ADMIN)
    return account


@pytest.fixture
def plain(workspace, django_user_model):
    """A reader of the workspace: sees its notifications, manages nothing."""
    account = django_user_model.objects.create_user("plain", password="pw")
    WorkspaceMember.objects.create(workspace=workspace, user=account, role=Role.READER)
    return account


def test_who_manages_which_channels(workspace, superuser, staff, plain, django_user_model):
    anonymous = django_user_model()  # an unsaved, inactive-looking user stands in for "not signed in"
    assert can_manage_channels(superuser, None) and can_manage_channels(superuser, workspace)
    assert not can_manage_channels(staff, None) and can_manage_channels(staff, workspace)
    assert not can_manage_channels(plain, None) and not can_manage_channels(plain, workspace)
    with pytest.raises(Forbidden):
        channel_create(user=staff, name="g", kind="webhook", target="http://x.invalid/", secret="s")
    with pytest.raises(Forbidden):
        channel_create(user=plain, name="w", kind="webhook", target="http://x.invalid/", secret="s",
                       workspace=workspace)
    assert channel_create(user=staff, name="w", kind="webhook", target="http://x.invalid/", secret="s",
                          workspace=workspace).workspace == workspace
    assert anonymous.pk is None


def test_channel_pages(client, workspace, superuser, staff, plain):
    url = reverse("channel_list")
    assert client.get(url).status_code == 302  # anonymous: to the login page
    client.force_login(plain)
    assert client.get(url).status_code == 404
    client.force_login(staff)
    page = client.get(url)
    assert page.status_code == 200
    response = client.post(url, {"name": "global", "kind": "webhook", "target": "http://127.0.0.1:9/", "secret": "s"})
    assert response.status_code == 400  # staff must pick a workspace
    client.force_login(superuser)
    response = client.post(url, {"name": "bad", "kind": "apprise", "target": "nonsense"})
    assert response.status_code == 400 and "Not a valid Apprise URL" in response.content.decode()
    response = client.post(url, {"name": "hook", "kind": "webhook", "target": "http://127.0.0.1:9/"})
    assert response.status_code == 400 and "Required for a webhook" in response.content.decode()
    response = client.post(url, {"name": "hook", "kind": "webhook", "target": "http://127.0.0.1:9/", "secret": "s",
                                 "levels": ["emergency"]}, HTTP_HX_REQUEST="true")
    channel = NotificationChannel.objects.get(name="hook")
    assert response.status_code == 200 and response["HX-Redirect"] == reverse("channel_detail", args=[channel.pk])
    assert channel.levels == ["emergency"] and channel.workspace is None
    detail = client.get(reverse("channel_detail", args=[channel.pk])).content.decode()
    assert "127.0.0.1:9" not in detail  # the URL is never shown again
    client.force_login(staff)
    assert client.get(reverse("channel_detail", args=[channel.pk])).status_code == 404  # global: superusers only
    assert client.post(reverse("channel_test", args=[channel.pk])).status_code == 404


def test_send_test_resend_and_the_failing_flag(client, workspace, superuser, settings):
    settings.IAC_NOTIFY_FAILING_AFTER = 2
    with WebhookReceiver([500]) as hook:
        channel = channel_create(user=superuser, name="hook", kind="webhook", target=hook.url, secret="s")
        client.force_login(superuser)
        assert client.post(reverse("channel_test", args=[channel.pk])).status_code == 302
        first = NotificationDelivery.objects.get()
        assert first.notification.event == "test"
        delivery_attempt(first.pk)
        client.post(reverse("delivery_resend", args=[first.pk]))
        second = NotificationDelivery.objects.exclude(pk=first.pk).get()
        assert second.notification_id == first.notification_id and second.delivery_id != first.delivery_id
        delivery_attempt(second.pk)
    page = client.get(reverse("channel_detail", args=[channel.pk])).content.decode()
    assert "This channel is failing" in page and "HTTP 500" in page
    assert str(first.delivery_id) in page and str(second.delivery_id) in page
    log = client.get(reverse("notification_detail", args=[first.notification_id])).content.decode()
    assert "Waiting to retry" in log and "#1" in log
    assert "channel-failing" in client.get(reverse("channel_list")).content.decode()


def test_the_bell_the_list_filters_and_the_banner(client, workspace, superuser, plain):
    other = type(workspace).objects.create(name="other")
    notify_event("run_applied", workspace=workspace, title="applied on demo")
    notify_event("run_failed", workspace=other, title="failed on other")
    emergency = notify_event("state_save_failed", workspace=workspace, title="state of demo not saved")
    WorkspaceMember.objects.create(workspace=other, user=plain, role=Role.READER)
    client.force_login(plain)
    home = client.get(reverse("workspace_list")).content.decode()
    assert 'id="notification-unread">3<' in home
    assert 'id="emergency-banner"' in home and "state of demo not saved" in home
    assert "Acknowledge" not in home  # only a superuser acknowledges
    listing = client.get(reverse("notification_list"), {"level": "warning"}).content.decode()
    assert "failed on other" in listing and "applied on demo" not in listing
    listing = client.get(reverse("notification_list"), {"workspace": "demo"}, HTTP_HX_REQUEST="true").content.decode()
    assert "applied on demo" in listing and "failed on other" not in listing and "<html" not in listing
    client.get(reverse("notification_list"))
    assert 'id="notification-unread"' not in client.get(reverse("workspace_list")).content.decode()
    assert client.post(reverse("notification_acknowledge", args=[emergency.pk])).status_code == 403
    emergency.refresh_from_db()
    assert not emergency.acknowledged
    client.force_login(superuser)
    client.post(reverse("notification_acknowledge", args=[emergency.pk]), {"next": "/"})
    emergency.refresh_from_db()
    assert emergency.acknowledged and emergency.acknowledged_by == superuser and emergency.acknowledged_at
    assert 'id="emergency-banner"' not in client.get(reverse("workspace_list")).content.decode()
    assert "acknowledged by root" in client.get(reverse("notification_list")).content.decode()


def test_locking_and_unlocking_a_workspace_notifies(workspace, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        workspace_lock(workspace=workspace, reason="maintenance")
        workspace_lock(workspace=workspace, reason="again")  # already locked: no second note
        workspace_unlock(workspace=workspace)
    events = list(Notification.objects.order_by("id").values_list("event", "level"))
    assert events == [("workspace_locked", "warning"), ("workspace_unlocked", "info")]
