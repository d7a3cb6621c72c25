import json

import pytest
from django.core.management import CommandError, call_command

from tests.conftest import run_terraform


def test_terraform_version_runs(tmp_path):
    result = run_terraform(["version"], tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("Terraform v1.")


def test_terraform_data_plan_apply_writes_state(tmp_path):
    marker = tmp_path / "created.txt"
    (tmp_path / "main.tf.json").write_text(json.dumps({
        "resource": {"terraform_data": {"a": {
            "input": "hello",
            "provisioner": {"local-exec": {"command": f"echo created > {marker}"}},
        }}},
        "output": {"echo": {"value": "${terraform_data.a.output}"}},
    }))
    assert run_terraform(["init", "-input=false", "-no-color"], tmp_path).returncode == 0
    plan = run_terraform(["plan", "-input=false", "-no-color", "-out=plan.tfplan", "-detailed-exitcode"], tmp_path)
    assert plan.returncode == 2, plan.stderr
    apply = run_terraform(["apply", "-input=false", "-no-color", "plan.tfplan"], tmp_path)
    assert apply.returncode == 0, apply.stderr
    state = json.loads((tmp_path / "terraform.tfstate").read_text())
    assert state["serial"] >= 1
    assert state["outputs"]["echo"]["value"] == "hello"
    assert marker.read_text().strip() == "created"


def test_terraform_info_command(capsys):
    call_command("terraform_info")
    out = capsys.readouterr().out
    assert "version: 1." in out


def test_terraform_info_command_fails_clearly_when_missing(settings, tmp_path):
    settings.TERRAFORM_BIN = str(tmp_path / "nope" / "terraform")
    with pytest.raises(CommandError, match="does not exist or is not executable"):
        call_command("terraform_info")
    settings.TERRAFORM_BIN = "no-such-terraform-binary"
    with pytest.raises(CommandError, match="is not on PATH"):
        call_command("terraform_info")


@pytest.mark.django_db
def test_ensure_admin_creates_once(capsys, monkeypatch, django_user_model):
    monkeypatch.delenv("IAC_ADMIN_PASSWORD", raising=False)
    call_command("ensure_admin")
    out = capsys.readouterr().out
    assert "Created admin account" in out and "password:" in out
    assert django_user_model.objects.filter(is_superuser=True).count() == 1
    call_command("ensure_admin")
    assert "An admin account exists" in capsys.readouterr().out
    assert django_user_model.objects.filter(is_superuser=True).count() == 1


@pytest.mark.django_db
def test_ensure_admin_uses_given_password(monkeypatch, django_user_model):
    monkeypatch.setenv("IAC_ADMIN_PASSWORD", "given-pass-123")
    call_command("ensure_admin", username="boss")
    assert django_user_model.objects.get(username="boss").check_password("given-pass-123")
