import os
import subprocess
import sys

import pytest
from django.conf import settings

from tests.fixtures.provider_mirror import provider_mirror, use_provider_mirror  # noqa: F401
# Real-outage fixtures (a throwaway PostgreSQL cluster): registered once for the suite.
from tests.pg_fixtures import (  # noqa: F401
    django_on_temp_postgres,
    temp_pg_database,
    temp_pg_template,
    temp_postgres,
)


@pytest.fixture(autouse=True)
def _data_dirs(settings, tmp_path):
    """Each test gets its own work dirs, backups and plugin cache."""
    settings.IAC_WORK_DIR = tmp_path / "work"
    settings.IAC_STATE_BACKUP_DIR = tmp_path / "state-backups"
    settings.IAC_PLUGIN_CACHE_DIR = tmp_path / "plugin-cache"
    return tmp_path


@pytest.fixture
def user(django_user_model):
    """The operator most tests act as: a superuser, so an admin of every workspace (roles are
    tested with their own users, see ``member`` and tests/workspaces/test_roles.py)."""
    return django_user_model.objects.create_user(username="operator", password="pw-operator-123", is_superuser=True)


@pytest.fixture
def member(django_user_model):
    """Factory: a non-superuser with ``role`` (a Role, or None for no membership) in ``workspace``."""
    from workspaces.models import WorkspaceMember

    def _member(workspace, role, username="member"):
        account = django_user_model.objects.create_user(username=username, password="pw-member-123")
        if role is not None:
            WorkspaceMember.objects.create(workspace=workspace, user=account, role=role)
        return account

    return _member


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


def _database_url_for_subprocess() -> str:
    from django.db import connection

    cfg = connection.settings_dict
    if cfg["ENGINE"].endswith("sqlite3"):
        return f"sqlite:///{os.path.abspath(cfg['NAME'])}"
    auth = cfg["USER"] + (f":{cfg['PASSWORD']}" if cfg["PASSWORD"] else "")
    return f"postgres://{auth}@{cfg['HOST'] or '127.0.0.1'}:{cfg['PORT'] or 5432}/{cfg['NAME']}"


class WorkerProcess:
    """A real `manage.py qcluster` on the test database, in its own process group."""

    def __init__(self, data_dir, workers=2, env=None):
        self.data_dir = data_dir
        full_env = {
            **os.environ,
            "DATABASE_URL": _database_url_for_subprocess(),
            "IAC_DATA_DIR": str(data_dir),
            "IAC_WORKERS": str(workers),
            "DEBUG": "true",
            # Same keys as this process: django-q signs messages, secrets are encrypted.
            "SECRET_KEY": settings.SECRET_KEY,
            "IAC_ENCRYPTION_KEY": settings.IAC_ENCRYPTION_KEY,
            **(env or {}),
        }
        full_env.pop("REDIS_URL", None)
        self.log_path = os.path.join(str(data_dir), "worker.log")
        self.log = open(self.log_path, "w")
        self.process = subprocess.Popen(
            [sys.executable, os.path.join(settings.BASE_DIR, "manage.py"), "qcluster"],
            env=full_env, stdout=self.log, stderr=subprocess.STDOUT, start_new_session=True,
            cwd=str(settings.BASE_DIR),
        )

    def output(self) -> str:
        self.log.flush()
        with open(self.log_path) as handle:
            return handle.read()

    def kill(self, sig=None):
        import signal

        try:
            os.killpg(self.process.pid, sig or signal.SIGKILL)
        except ProcessLookupError:
            pass
        self.process.wait(timeout=30)

    def stop(self):
        """The end of a test: nothing of the worker is needed any more, so the whole group goes at
        once. (SIGTERM to the group hangs django-q2 — its main process waits on a stopped sentinel —
        and even its graceful stop takes ~7 s: each test paid 5 s here. The two-hosts test stops a
        host gracefully on purpose, with SIGTERM to the main process.) A terraform still running
        gets SIGINT as its parent-death signal."""
        if self.process.poll() is None:
            self.kill()
        self.log.close()


@pytest.fixture
def start_worker(transactional_db, tmp_path, settings):
    """Factory: start real django-q2 workers on the test database (stopped at teardown).

    The worker process uses ``tmp_path`` as IAC_DATA_DIR, so its work dirs, backups and
    plugin cache are the ones this test's settings point at.
    """
    settings.IAC_WORK_DIR = tmp_path / "work"
    settings.IAC_STATE_BACKUP_DIR = tmp_path / "state-backups"
    settings.IAC_PLUGIN_CACHE_DIR = tmp_path / "plugin-cache"
    started = []

    def _start(workers=2, env=None):
        worker = WorkerProcess(tmp_path, workers=workers, env=env)
        started.append(worker)
        return worker

    yield _start
    for worker in started:
        worker.stop()


@pytest.fixture
def live_worker(start_worker):
    """One real django-q2 cluster (2 workers) on the test database; use with live_server."""
    return start_worker()


def wait_for(predicate, timeout=60.0, interval=0.2, message="condition"):
    import time

    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(interval)
    raise AssertionError(f"timed out after {timeout} s waiting for {message}")
