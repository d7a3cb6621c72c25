"""API tokens: the page (secret shown once, last use, revoke), the command, the admin, CSRF and expiry."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from workspaces.models import ApiToken, Role
from workspaces.tokens import api_token_create, api_token_revoke

pytestmark = pytest.mark.django_db
LOCK = "/api/v1/workspaces/demo/lock"


def test_tokens_page_shows_the_secret_once_and_revokes(auth_client, user, django_user_model):
    url = reverse("token_list")
    assert auth_client.get(url).status_code == 200
    response = auth_client.post(url, {"name": "ci", "expires_in_days": "30"})
    assert response.status_code == 201 and response["Cache-Control"] == "no-store"
    token = ApiToken.objects.get(user=user, name="ci")
    secret = response.context["secret"]
    assert secret.startswith("iac_") and secret in response.content.decode()
    assert token.token_hash != secret and secret not in token.token_hash
    assert timedelta(days=29) < token.expires_at - timezone.now() <= timedelta(days=30)
    page = auth_client.get(url).content.decode()
    assert secret not in page and token.prefix in page and "never" in page  # never used yet
    Client().get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {secret}")
    assert "never</td>" not in auth_client.get(url).content.decode().split(f'id="token-{token.pk}"')[1].split("</tr>")[0]
    # Bad input is a form error.
    assert auth_client.post(url, {"name": ""}).status_code == 400
    assert auth_client.post(url, {"name": "x", "expires_in_days": "0"}).status_code == 400
    # Someone else's token cannot be revoked from here.
    other = django_user_model.objects.create_user(username="other")
    other_token, _ = api_token_create(user=other, name="theirs")
    assert auth_client.post(reverse("token_revoke", args=[other_token.pk])).status_code == 404
    assert auth_client.post(reverse("token_revoke", args=[token.pk])).status_code == 302
    token.refresh_from_db()
    other_token.refresh_from_db()
    assert token.revoked_at is not None and other_token.revoked_at is None
    assert Client().get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {secret}").status_code == 401


def test_session_post_needs_csrf_bearer_post_does_not(workspace, member):
    applier = member(workspace, Role.APPLIER, username="applier")
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(applier)
    response = browser.post(LOCK, {}, content_type="application/json")
    assert response.status_code == 403 and "CSRF" in response.json()["detail"]
    browser.get(reverse("workspace_overview", args=["demo"]))  # sets the CSRF cookie
    csrf = browser.cookies["csrftoken"].value
    response = browser.post(LOCK, {}, content_type="application/json", HTTP_X_CSRFTOKEN=csrf)
    assert response.status_code == 200 and response.json()["locked"]
    # A token: no CSRF token needed, with or without a session cookie; it acts as its user.
    _, raw = api_token_create(user=applier, name="ci")
    script = Client(enforce_csrf_checks=True)
    assert script.post("/api/v1/workspaces/demo/unlock", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    assert browser.post(LOCK, {}, content_type="application/json",
                        HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    # Pages keep Django's CSRF protection.
    assert browser.post(reverse("workspace_unlock", args=["demo"])).status_code == 403


def test_revoked_and_expired_tokens_are_401_even_with_a_session(workspace, member):
    applier = member(workspace, Role.APPLIER, username="applier")
    token, raw = api_token_create(user=applier, name="ci", expires_in_days=1)
    client = Client(enforce_csrf_checks=True)
    assert client.post(LOCK, {}, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    ApiToken.objects.filter(pk=token.pk).update(expires_at=timezone.now() - timedelta(seconds=1))
    client.force_login(applier)
    response = client.post(LOCK, HTTP_AUTHORIZATION=f"Bearer {raw}")
    assert response.status_code == 401 and set(response.json()) == {"detail", "errors"}
    assert client.get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 401
    fresh, raw2 = api_token_create(user=applier, name="ci2")
    api_token_revoke(token=fresh)
    assert Client().post(LOCK, HTTP_AUTHORIZATION=f"Bearer {raw2}").status_code == 401


def test_a_token_has_its_users_roles(workspace, member):
    reader = member(workspace, Role.READER, username="reader")
    _, raw = api_token_create(user=reader, name="ro")
    client = Client(enforce_csrf_checks=True)
    assert client.get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {raw}").json()[0]["name"] == "demo"
    assert client.post(LOCK, {}, content_type="application/json",
                       HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 403


def test_create_token_command(workspace, member):
    member(workspace, Role.READER, username="reader")
    out, err = StringIO(), StringIO()
    call_command("create_token", "reader", name="ci", expires=7, stdout=out, stderr=err)
    raw = out.getvalue().strip()
    assert raw.startswith("iac_") and "shown only this once" in err.getvalue()
    token = ApiToken.objects.get(name="ci")
    assert token.expires_at is not None and token.user.username == "reader"
    assert Client().get("/api/v1/workspaces", HTTP_AUTHORIZATION=f"Bearer {raw}").status_code == 200
    with pytest.raises(CommandError, match="No active user"):
        call_command("create_token", "ghost", name="x")
    with pytest.raises(CommandError, match="between 1 and"):
        call_command("create_token", "reader", name="x", expires=0)


def test_admin_shows_tokens_read_only(admin_client_logged, user):
    token, raw = api_token_create(user=user, name="ci")
    assert admin_client_logged.get(reverse("admin:workspaces_apitoken_changelist")).status_code == 200
    assert admin_client_logged.get(reverse("admin:workspaces_apitoken_add")).status_code == 403
    page = admin_client_logged.get(reverse("admin:workspaces_apitoken_change", args=[token.pk]))
    assert page.status_code == 200 and raw not in page.content.decode() and token.token_hash not in page.content.decode()
    assert admin_client_logged.post(reverse("admin:workspaces_apitoken_change", args=[token.pk]),
                                    {"name": "renamed"}).status_code == 403
