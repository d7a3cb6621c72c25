"""Issue 16, bug 6: old flash messages neither stay on screen nor come back on later pages.

An HTMX answer is a fragment: it never rendered base.html's messages, so a message added while
making it waited in the session and popped up on a later page, and the messages already on
screen stayed after the action. Now an HTMX answer carries the messages box out of band.
"""

from pathlib import Path

import pytest
from django.conf import settings
from django.urls import reverse

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}
EMPTY_OOB_BOX = '<div class="messages" id="messages" aria-live="polite" hx-swap-oob="true"></div>'


def url(name, *args):
    return reverse(name, args=["demo", *args])


def test_a_message_made_during_an_htmx_request_is_shown_by_it_and_not_later(auth_client, make_resource):
    a, b = make_resource("a"), make_resource("b")
    response = auth_client.post(url("resource_dependencies", b.pk), {"depends_on": [a.pk]}, follow=True, **HX)
    assert "Saved the dependencies of terraform_data.b." in response.content.decode()
    for page in ("resource_list", "workspace_overview"):
        assert "Saved the dependencies" not in auth_client.get(url(page)).content.decode()


def test_an_htmx_action_clears_the_messages_already_on_screen(auth_client, make_resource):
    a, b = make_resource("a"), make_resource("b")
    auth_client.post(url("resource_dependencies", b.pk), {"depends_on": [a.pk]})
    shown = auth_client.get(url("resource_dependencies", b.pk)).content.decode()
    assert "Saved the dependencies" in shown  # on screen now, from the full page
    refused = auth_client.post(url("resource_dependencies", a.pk), {"depends_on": [b.pk]}, **HX)
    assert refused.status_code == 400 and refused.content.decode().rstrip().endswith(EMPTY_OOB_BOX)


def test_an_htmx_poll_without_messages_leaves_the_screen_alone(auth_client, workspace):
    html = auth_client.get(url("resource_list"), **HX).content.decode()
    assert 'id="messages"' not in html


def test_a_full_page_shows_messages_once_and_htmx_does_not_repeat_them(auth_client, workspace):
    auth_client.post(reverse("workspace_lock", args=["demo"]), {"reason": "maintenance"})
    first = auth_client.get(url("workspace_overview")).content.decode()
    assert "Workspace locked" in first
    again = auth_client.get(url("resource_list"), **HX).content.decode()
    assert "Workspace locked" not in again


def test_htmx_navigation_and_back_do_not_bring_old_messages_back(auth_client, workspace):
    page = auth_client.get(url("resource_list")).content.decode()
    assert '<div class="messages" id="messages"' in page  # always there, for out-of-band swaps
    assert "js/app.js" in page
    script = (Path(settings.BASE_DIR) / "static" / "js" / "app.js").read_text()
    assert 'addEventListener("htmx:beforeHistorySave", clearFlashMessages)' in script
    assert 'addEventListener("htmx:pushedIntoHistory", clearFlashMessages)' in script
