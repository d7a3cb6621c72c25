"""Error pages say what happened, in the console's frame, with a way back."""

import pytest
from django.core.exceptions import PermissionDenied

from workspaces.views import page_not_found, permission_denied

pytestmark = pytest.mark.django_db


def test_404_of_a_missing_run_is_the_console_page(auth_client, workspace, settings):
    settings.DEBUG = False
    response = auth_client.get("/workspaces/demo/runs/999999/")
    html = response.content.decode()
    assert response.status_code == 404
    assert "There is nothing at this address" in html and "Back to workspaces" in html and "app.css" in html


def test_403_says_why(rf, user):
    request = rf.get("/")
    request.user = user
    response = permission_denied(request, PermissionDenied("Only admins may delete states."))
    assert response.status_code == 403 and b"Only admins may delete states." in response.content
    response = permission_denied(request, PermissionDenied())
    assert b"Your account may not do this." in response.content
    assert page_not_found(request).status_code == 404


def test_server_error_page_is_styled_and_says_what_happened():
    from django.template.loader import render_to_string

    html = render_to_string("500.html")
    assert "Something went wrong on our side" in html and "app.css" in html
