from django.db import connection
from django.urls import reverse

from workspaces.models import Variable
from workspaces.secrets import variable_display_value

SECRET = "s3cr3t-Value-7f1a"


def _make_sensitive(workspace):
    var = Variable(workspace=workspace, key="db_password", sensitive=True)
    var.set_value(SECRET)
    var.save()
    return var


def test_sensitive_value_is_encrypted_at_rest(workspace):
    var = _make_sensitive(workspace)
    with connection.cursor() as cursor:
        cursor.execute("SELECT value FROM workspaces_variable WHERE id = %s", [var.pk])
        (raw,) = cursor.fetchone()
    assert SECRET not in raw
    var.refresh_from_db()
    assert var.get_value() == SECRET
    assert variable_display_value(var) == "(sensitive)"


def test_sensitive_value_not_in_admin(admin_client_logged, workspace):
    var = _make_sensitive(workspace)
    for url in (
        reverse("admin:workspaces_variable_changelist"),
        reverse("admin:workspaces_variable_change", args=[var.pk]),
    ):
        body = admin_client_logged.get(url).content.decode()
        assert SECRET not in body
        assert var.value not in body  # not even the ciphertext


def test_admin_edit_keeps_secret_when_left_empty(admin_client_logged, workspace):
    var = _make_sensitive(workspace)
    url = reverse("admin:workspaces_variable_change", args=[var.pk])
    response = admin_client_logged.post(url, {
        "workspace": workspace.pk, "key": "db_password", "category": "terraform",
        "sensitive": "on", "description": "changed", "new_value": "",
    })
    assert response.status_code == 302
    var.refresh_from_db()
    assert var.get_value() == SECRET and var.description == "changed"


def test_sensitive_value_not_in_api(auth_client, workspace):
    _make_sensitive(workspace)
    plain = Variable(workspace=workspace, key="region")
    plain.set_value("eu-west-1")
    plain.save()
    response = auth_client.get(f"/api/v1/workspaces/{workspace.name}/variables")
    assert response.status_code == 200
    assert SECRET not in response.content.decode()
    by_key = {v["key"]: v for v in response.json()}
    assert by_key["db_password"]["value"] is None and by_key["region"]["value"] == "eu-west-1"
