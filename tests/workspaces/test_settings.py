import os
import subprocess
import sys

import pytest
from django.core.exceptions import ImproperlyConfigured

from iacplatform.env import database_from_url, env_bool, env_int, env_list


def _start(env_overrides):
    env = {k: v for k, v in os.environ.items() if k not in {"DEBUG", "SECRET_KEY", "DATABASE_URL"}}
    env.update(env_overrides)
    env["DJANGO_SETTINGS_MODULE"] = "iacplatform.settings"
    return subprocess.run(
        [sys.executable, "-c", "import django; django.setup()"], env=env, capture_output=True, text=True, timeout=60
    )


def test_bad_debug_value_stops_startup_naming_the_variable():
    result = _start({"DEBUG": "maybe"})
    assert result.returncode != 0
    assert "DEBUG='maybe' is not a boolean" in result.stderr


def test_without_a_secret_key_one_is_generated_once_and_kept_private(tmp_path):
    first = _start({"DEBUG": "false", "IAC_DATA_DIR": str(tmp_path)})
    assert first.returncode == 0, first.stderr
    key_file = tmp_path / "secret_key"
    key = key_file.read_text()
    assert len(key) >= 50 and oct(key_file.stat().st_mode & 0o777) == "0o600"
    assert _start({"DEBUG": "false", "IAC_DATA_DIR": str(tmp_path)}).returncode == 0
    assert key_file.read_text() == key  # the same key on every start


def test_unsupported_database_url_is_refused():
    result = _start({"DATABASE_URL": "mysql://x@y/z"})
    assert result.returncode != 0
    assert "DATABASE_URL" in result.stderr and "unsupported scheme" in result.stderr


def test_bad_worker_count_is_refused():
    result = _start({"IAC_WORKERS": "many"})
    assert result.returncode != 0
    assert "IAC_WORKERS='many' is not an integer" in result.stderr


def test_good_values_start(tmp_path):
    result = _start({"DEBUG": "no", "SECRET_KEY": "x" * 50, "IAC_DATA_DIR": str(tmp_path)})
    assert result.returncode == 0, result.stderr


def test_env_helpers(monkeypatch):
    monkeypatch.setenv("X_BOOL", "Yes")
    assert env_bool("X_BOOL", False) is True
    monkeypatch.setenv("X_BOOL", "")
    assert env_bool("X_BOOL", True) is True
    monkeypatch.setenv("X_INT", "3")
    assert env_int("X_INT", 1) == 3
    monkeypatch.setenv("X_INT", "0")
    with pytest.raises(ImproperlyConfigured, match="X_INT='0' must be at least 1"):
        env_int("X_INT", 1, minimum=1)
    monkeypatch.setenv("X_LIST", "a, b,,c")
    assert env_list("X_LIST", []) == ["a", "b", "c"]


def test_database_urls():
    pg = database_from_url("DATABASE_URL", "postgres://u:p%40ss@db.local:5433/iac?sslmode=require")
    assert pg["ENGINE"] == "django.db.backends.postgresql"
    assert (pg["NAME"], pg["USER"], pg["PASSWORD"], pg["HOST"], pg["PORT"]) == ("iac", "u", "p@ss", "db.local", "5433")
    assert pg["OPTIONS"] == {"sslmode": "require"}
    lite = database_from_url("DATABASE_URL", "sqlite:////tmp/x.db")
    assert lite["NAME"] == "/tmp/x.db"
    with pytest.raises(ImproperlyConfigured, match="names no database"):
        database_from_url("DATABASE_URL", "postgres://u@h/")
    with pytest.raises(ImproperlyConfigured, match="names no SQLite file"):
        database_from_url("DATABASE_URL", "sqlite:///")
