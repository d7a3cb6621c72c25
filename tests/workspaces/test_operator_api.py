"""Every operator action through the API (with a token) and through the management commands."""

import io

import pytest
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command
from django.test import Client

from workspaces.models import Role, Variable, Workspace, WorkspaceMember
from workspaces.tokens import api_token_create

pytestmark = pytest.mark.django_db
PEM = "-----BEGIN KEY-----\nabc\"\\def\n-----END KEY-----"


@pytest.fixture
def api(django_user_model):
    """A token client (CSRF enforced, as a browser would be) for a plain user."""
    user = django_user_model.objects.create_user(username="ops")
    _, raw = api_token_create(user=user, name="ci")
    client = Client(enforce_csrf_checks=True, HTTP_AUTHORIZATION=f"Bearer {raw}")
    client.user = user
    return client


def _json(client, method, url, body=None):
    return client.generic(method, url, "" if body is None else __import__("json").dumps(body),
                          content_type="application/json")


def test_workspace_lifecycle_through_the_api(api):
    response = _json(api, "POST", "/api/v1/workspaces", {"name": "net", "description": "network"})
    assert response.status_code == 201 and response.json()["name"] == "net"
    assert WorkspaceMember.objects.get(workspace__name="net", user=api.user).role == Role.ADMIN
    assert _json(api, "POST", "/api/v1/workspaces", {"name": "net"}).status_code == 409
    assert _json(api, "POST", "/api/v1/workspaces", {"name": "bad name!"}).status_code == 400
    assert api.get("/api/v1/workspaces/net").json()["description"] == "network"
    response = _json(api, "PATCH", "/api/v1/workspaces/net/settings",
                     {"auto_apply": True, "aws_region": "eu-west-1", "timeouts": {"apply": 600}})
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["auto_apply"] and body["aws_region"] == "eu-west-1" and body["description"] == "network"
    assert body["timeouts"] == {"apply": 600} and body["your_role"] == "admin"
    bad = _json(api, "PATCH", "/api/v1/workspaces/net/settings", {"aws_region": "nowhere"})
    assert bad.status_code == 400 and "aws_region" in bad.json()["errors"]
    assert _json(api, "PATCH", "/api/v1/workspaces/net/settings", {"description": None}).status_code == 400
    assert _json(api, "DELETE", "/api/v1/workspaces/net").status_code == 204
    assert not Workspace.objects.filter(name="net").exists()


def test_variables_through_the_api_sensitive_values_are_write_only(api):
    _json(api, "POST", "/api/v1/workspaces", {"name": "net"})
    base = "/api/v1/workspaces/net/variables"
    plain = _json(api, "POST", base, {"key": "region", "value": "eu-west-1"})
    assert plain.status_code == 201 and plain.json()["value"] == "eu-west-1"
    secret = _json(api, "POST", base, {"key": "TOKEN", "value": PEM, "category": "env", "sensitive": True})
    assert secret.status_code == 201 and secret.json()["value"] is None
    assert PEM not in api.get(base).content.decode() and "abc" not in api.get(base).content.decode()
    assert Variable.objects.get(key="TOKEN").get_value() == PEM
    assert _json(api, "POST", base, {"key": "region", "value": "x"}).status_code == 409
    assert _json(api, "POST", base, {"key": "1bad", "value": "x"}).status_code == 400
    variable_id = secret.json()["id"]
    changed = _json(api, "PUT", f"{base}/{variable_id}", {"description": "deploy key"})
    assert changed.status_code == 200 and changed.json()["value"] is None
    assert Variable.objects.get(key="TOKEN").get_value() == PEM  # kept: no value sent
    assert _json(api, "PUT", f"{base}/{variable_id}", {"sensitive": False}).status_code == 400
    assert _json(api, "PUT", f"{base}/{plain.json()['id']}", {"value": "us-east-1"}).json()["value"] == "us-east-1"
    assert _json(api, "DELETE", f"{base}/{variable_id}").status_code == 204
    assert _json(api, "DELETE", f"{base}/{variable_id}").status_code == 404


def test_members_and_tokens_through_the_api(api, django_user_model):
    _json(api, "POST", "/api/v1/workspaces", {"name": "net"})
    django_user_model.objects.create_user(username="dev")
    Group.objects.create(name="ops-team")
    base = "/api/v1/workspaces/net/members"
    assert _json(api, "PUT", base, {"user": "dev", "role": "planner"}).json()["role"] == "planner"
    team = _json(api, "PUT", base, {"group": "ops-team", "role": "reader"}).json()
    assert team["group"] == "ops-team"
    assert _json(api, "PUT", base, {"user": "ghost", "role": "reader"}).status_code == 400
    assert _json(api, "PUT", base, {"user": "dev", "role": "owner"}).status_code == 400
    listed = {(m["user"], m["group"], m["role"]) for m in api.get(base).json()}
    assert listed == {("ops", None, "admin"), ("dev", None, "planner"), (None, "ops-team", "reader")}
    assert _json(api, "DELETE", f"{base}/{team['id']}").status_code == 204
    mine = [m for m in api.get(base).json() if m["user"] == "ops"][0]
    assert _json(api, "DELETE", f"{base}/{mine['id']}").status_code == 409  # the last admin stays
    # Tokens: create (the secret once), list (never the secret), revoke.
    created = _json(api, "POST", "/api/v1/tokens", {"name": "deploy", "expires_in_days": 7})
    assert created.status_code == 201 and created.json()["token"].startswith("iac_")
    assert "token" not in api.get("/api/v1/tokens").json()[0]
    assert _json(api, "POST", "/api/v1/tokens", {"name": "x", "expires_in_days": 0}).status_code == 422
    new = Client(HTTP_AUTHORIZATION=f"Bearer {created.json()['token']}")
    assert new.get("/api/v1/workspaces").status_code == 200
    assert _json(api, "DELETE", f"/api/v1/tokens/{created.json()['id']}").status_code == 204
    assert new.get("/api/v1/workspaces").status_code == 401


def test_commands_for_automation(tmp_path, django_user_model, monkeypatch, capsys):
    alice = django_user_model.objects.create_user(username="alice")
    call_command("workspace_create", "net", description="network", user="alice")
    ws = Workspace.objects.get(name="net")
    assert WorkspaceMember.objects.get(workspace=ws, user=alice).role == Role.ADMIN
    with pytest.raises(CommandError, match="already exists"):
        call_command("workspace_create", "net")
    call_command("variable_set", "net", "region", value="eu-west-1", user="alice")
    monkeypatch.setattr("sys.stdin", io.StringIO(PEM + "\n"))
    call_command("variable_set", "net", "TOKEN", sensitive=True, env=True)
    secret = Variable.objects.get(key="TOKEN")
    assert secret.sensitive and secret.get_value() == PEM and PEM not in capsys.readouterr().out
    with pytest.raises(CommandError, match="stdin"):
        call_command("variable_set", "net", "TOKEN", value="leak", env=True)
    with pytest.raises(CommandError, match="stdin"):
        call_command("variable_set", "net", "OTHER", value="leak", sensitive=True)
    code = tmp_path / "main.tf"
    code.write_text('resource "terraform_data" "a" {\n  input = "x"\n}\n')
    call_command("code_save", "net", file=str(code), message="first")
    ws.refresh_from_db()
    assert ws.current_code_version.number == 1 and "terraform_data" in ws.current_code_version.code
    imported = tmp_path / "import"
    imported.mkdir()
    (imported / "main.tf").write_text('resource "terraform_data" "b" {\n  input = "y"\n}\n')
    call_command("resources_import", "net", file=[str(imported)])
    assert ws.resources.filter(resource_id__contains="terraform_data.b").exists()
    # Roles apply to a named user: a reader may do none of it.
    django_user_model.objects.create_user(username="bob")
    WorkspaceMember.objects.create(workspace=ws, user=django_user_model.objects.get(username="bob"), role=Role.READER)
    for name, args, kwargs in (("variable_set", ["net", "x"], {"value": "1"}), ("code_save", ["net"], {"file": str(code)}),
                               ("resources_import", ["net"], {"file": [str(imported)]})):
        with pytest.raises(CommandError, match="role"):
            call_command(name, *args, user="bob", **kwargs)
