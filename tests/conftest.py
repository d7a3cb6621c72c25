import json
import os
import shutil
import subprocess
import sys

import pytest
from django.conf import settings


@pytest.fixture(autouse=True)
def _data_dirs(settings, tmp_path):
    """Each test gets its own work dirs, backups and plugin cache."""
    settings.IAC_WORK_DIR = tmp_path / "work"
    settings.IAC_STATE_BACKUP_DIR = tmp_path / "state-backups"
    settings.IAC_PLUGIN_CACHE_DIR = tmp_path / "plugin-cache"
    return tmp_path


@pytest.fixture
def user(django_user_model):
    return django_user_model.objects.create_user(username="operator", password="pw-operator-123")


@pytest.fixture
def admin_user(django_user_model):
    return django_user_model.objects.create_superuser(username="root", password="pw-root-123", email="")


@pytest.fixture
def auth_client(client, user):
    client.force_login(user)
    return client


@pytest.fixture
def admin_client_logged(client, admin_user):
    client.force_login(admin_user)
    return client


@pytest.fixture
def workspace(db):
    from workspaces.models import Workspace

    return Workspace.objects.create(name="demo", description="demo workspace")


@pytest.fixture
def terraform_bin():
    return settings.TERRAFORM_BIN


def run_terraform(args, cwd, timeout=120):
    env = {
        "PATH": os.environ.get("PATH", ""),
        "HOME": str(cwd),
        "TF_IN_AUTOMATION": "1",
        "TF_INPUT": "0",
        "CHECKPOINT_DISABLE": "1",
        "TF_CLI_CONFIG_FILE": os.devnull,
    }
    return subprocess.run(
        [settings.TERRAFORM_BIN, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout
    )
