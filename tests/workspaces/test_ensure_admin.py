"""Issue 16, bug 3: ``ensure_admin`` prints the address the server really listens on."""

import shutil
import subprocess
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import call_command

pytestmark = pytest.mark.django_db
ROOT = Path(__file__).resolve().parents[2]


def _run(*args) -> str:
    out = StringIO()
    call_command("ensure_admin", *args, stdout=out)
    return out.getvalue()


def test_the_port_comes_from_the_environment(monkeypatch):
    monkeypatch.setenv("PORT", "9123")
    monkeypatch.delenv("HOST", raising=False)
    created = _run()
    assert "URL:      http://127.0.0.1:9123/" in created and ":8000" not in created
    exists = _run()
    assert "log in with it at http://127.0.0.1:9123/" in exists


def test_host_and_port_options_win(monkeypatch):
    monkeypatch.setenv("PORT", "9123")
    assert "http://0.0.0.0:8080/" in _run("--host", "0.0.0.0", "--port", "8080")


def test_without_port_it_is_8000(monkeypatch):
    monkeypatch.delenv("PORT", raising=False)
    monkeypatch.delenv("HOST", raising=False)
    assert "http://127.0.0.1:8000/" in _run()


@pytest.mark.skipif(not shutil.which("make"), reason="needs make")
def test_make_run_passes_its_port_to_ensure_admin():
    dry = subprocess.run(["make", "-n", "run", "PORT=9123", "HOST=127.0.0.2"], cwd=ROOT, capture_output=True,
                         text=True, check=True).stdout
    line = next(line for line in dry.splitlines() if "ensure_admin" in line)
    assert "--host 127.0.0.2 --port 9123" in line
