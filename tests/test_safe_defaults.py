"""Safe defaults: DEBUG off unless set, a clean deploy check behind HTTPS, static files served
without DEBUG, logins throttled."""

import os
import secrets
import subprocess
import sys

from django.conf import settings
from django.test import Client
from django.urls import reverse

ROOT = settings.BASE_DIR


def _manage(*args, **env):
    base = {k: v for k, v in os.environ.items()
            if k not in ("DEBUG", "SECRET_KEY", "IAC_HTTPS", "DJANGO_ALLOW_ASYNC_UNSAFE")}  # (pytest-playwright sets it)
    return subprocess.run([sys.executable, str(ROOT / "manage.py"), *args], env={**base, **env}, cwd=ROOT,
                          capture_output=True, text=True, timeout=120)


def test_debug_is_off_unless_set(tmp_path):
    result = _manage("shell", "-c", "from django.conf import settings; print('DEBUG', settings.DEBUG)",
                     IAC_DATA_DIR=str(tmp_path))
    assert "DEBUG False" in result.stdout, result.stderr[-2000:]


def test_the_deploy_check_is_clean_behind_https(tmp_path):
    result = _manage("check", "--deploy", "--fail-level", "WARNING", IAC_DATA_DIR=str(tmp_path), DEBUG="false",
                     SECRET_KEY=secrets.token_urlsafe(60), IAC_HTTPS="true")
    assert result.returncode == 0, result.stdout + result.stderr[-3000:]


def test_static_files_are_served_without_debug(client):
    assert not settings.DEBUG
    response = client.get("/static/css/app.css")
    assert response.status_code == 200 and b"{" in b"".join(response.streaming_content)


def test_logins_are_throttled_after_repeated_failures(db, django_user_model):
    django_user_model.objects.create_user(username="ops", password="right-password-123")
    client = Client(enforce_csrf_checks=False, REMOTE_ADDR="10.9.8.7")
    for _ in range(settings.AXES_FAILURE_LIMIT):
        response = client.post(reverse("login"), {"username": "ops", "password": "wrong"})
        assert response.status_code in (200, 429)
    response = client.post(reverse("login"), {"username": "ops", "password": "right-password-123"})
    assert response.status_code == 429 and b"Too many failed logins" in response.content
    assert "_auth_user_id" not in client.session
    # Another address is not locked out by it.
    other = Client(REMOTE_ADDR="10.9.8.8")
    response = other.post(reverse("login"), {"username": "ops", "password": "right-password-123"})
    assert response.status_code == 302
