"""The variables tab: add, edit, delete; sensitive values are write-only."""

import pytest
from django.urls import reverse

from workspaces.models import Variable, Workspace
from workspaces.services import variable_set

pytestmark = pytest.mark.django_db
SECRET = "hunter2-very-secret"


def _url(name="demo"):
    return reverse("variable_list", args=[name])


def test_list_shows_both_kinds_and_never_a_sensitive_value(auth_client, workspace):
    variable_set(workspace=workspace, key="region", value="eu-west-1")
    variable_set(workspace=workspace, key="db_password", value=SECRET, sensitive=True)
    variable_set(workspace=workspace, key="TF_LOG", value="INFO", category="env")
    response = auth_client.get(_url())
    html = response.content.decode()
    assert response.status_code == 200
    assert "eu-west-1" in html and "db_password" in html and "TF_LOG" in html
    assert SECRET not in html
    assert Variable.objects.get(key="db_password").value not in html  # not even the ciphertext
    assert "Sensitive — write only" in html


def test_variables_fragment(auth_client, workspace):
    variable_set(workspace=workspace, key="region", value="eu-west-1")
    response = auth_client.get(_url(), HTTP_HX_REQUEST="true")
    assert response.status_code == 200 and b"<html" not in response.content
    assert b'id="variables"' in response.content and b"eu-west-1" in response.content


def test_add_variable(auth_client, workspace):
    response = auth_client.post(_url(), {"category": "terraform", "key": "count", "value": "3", "hcl": "on",
                                         "description": "how many"}, follow=True)
    var = Variable.objects.get(workspace=workspace, key="count")
    assert (var.value, var.hcl, var.sensitive, var.description) == ("3", True, False, "how many")
    assert "Variable “count” added." in response.content.decode()


def test_add_sensitive_variable_stores_it_encrypted_and_never_shows_it(auth_client, workspace):
    response = auth_client.post(_url(), {"category": "env", "key": "AWS_SECRET", "value": SECRET,
                                         "sensitive": "on"}, follow=True)
    var = Variable.objects.get(workspace=workspace, key="AWS_SECRET")
    assert var.sensitive and var.value != SECRET and var.get_value() == SECRET
    assert SECRET not in response.content.decode()
    edit = auth_client.get(reverse("variable_edit", args=["demo", var.pk])).content.decode()
    assert SECRET not in edit and "leave empty to keep" in edit.lower()


def test_invalid_sensitive_input_is_not_echoed_back(auth_client, workspace):
    response = auth_client.post(_url(), {"category": "terraform", "key": "1bad", "value": SECRET, "sensitive": "on"})
    assert response.status_code == 400
    html = response.content.decode()
    assert "is not a Terraform identifier" in html and SECRET not in html
    assert not Variable.objects.exists()


def test_invalid_ordinary_input_keeps_what_was_typed(auth_client, workspace):
    response = auth_client.post(_url(), {"category": "env", "key": "BAD-NAME", "value": "keep me"})
    html = response.content.decode()
    assert response.status_code == 400 and "is not an environment variable name" in html and "keep me" in html


def test_duplicate_key_is_refused(auth_client, workspace):
    variable_set(workspace=workspace, key="region", value="a")
    response = auth_client.post(_url(), {"category": "terraform", "key": "region", "value": "b"})
    assert response.status_code == 400 and "already has a variable “region”" in response.content.decode()
    assert Variable.objects.get(key="region").value == "a"


def test_bad_hcl_value_is_refused(auth_client, workspace):
    response = auth_client.post(_url(), {"category": "terraform", "key": "list", "value": "[1,", "hcl": "on"})
    assert response.status_code == 400 and "Not a valid HCL value" in response.content.decode()
    assert not Variable.objects.exists()


def test_edit_sensitive_with_empty_value_keeps_the_secret(auth_client, workspace):
    var = variable_set(workspace=workspace, key="pw", value=SECRET, sensitive=True)
    response = auth_client.post(reverse("variable_edit", args=["demo", var.pk]),
                                {"value": "", "sensitive": "on", "description": "rotated never"})
    assert response.status_code == 302
    var.refresh_from_db()
    assert var.get_value() == SECRET and var.description == "rotated never"


def test_edit_sensitive_with_new_value_replaces_it(auth_client, workspace):
    var = variable_set(workspace=workspace, key="pw", value=SECRET, sensitive=True)
    auth_client.post(reverse("variable_edit", args=["demo", var.pk]), {"value": "new-one", "sensitive": "on"})
    var.refresh_from_db()
    assert var.get_value() == "new-one" and var.sensitive


def test_sensitive_variable_cannot_be_made_plain(auth_client, workspace):
    var = variable_set(workspace=workspace, key="pw", value=SECRET, sensitive=True)
    response = auth_client.post(reverse("variable_edit", args=["demo", var.pk]), {"value": ""})
    html = response.content.decode()
    assert response.status_code == 400 and "stays sensitive" in html and SECRET not in html
    var.refresh_from_db()
    assert var.sensitive and var.get_value() == SECRET


def test_edit_ordinary_variable_prefills_value_and_key_cannot_change(auth_client, workspace):
    var = variable_set(workspace=workspace, key="region", value="eu-west-1")
    page = auth_client.get(reverse("variable_edit", args=["demo", var.pk]))
    assert b"eu-west-1" in page.content
    fragment = auth_client.get(reverse("variable_edit", args=["demo", var.pk]), HTTP_HX_REQUEST="true")
    assert b"<html" not in fragment.content and b'id="variable-form"' in fragment.content
    auth_client.post(reverse("variable_edit", args=["demo", var.pk]),
                     {"key": "renamed", "category": "env", "value": "us-east-1"})
    var.refresh_from_db()
    assert (var.key, var.category, var.value) == ("region", "terraform", "us-east-1")


def test_delete_variable(auth_client, workspace):
    var = variable_set(workspace=workspace, key="region", value="x")
    response = auth_client.post(reverse("variable_delete", args=["demo", var.pk]), follow=True)
    assert not Variable.objects.exists() and "Variable “region” deleted." in response.content.decode()
    assert auth_client.get(reverse("variable_delete", args=["demo", var.pk])).status_code == 405


def test_variable_of_another_workspace_is_404(auth_client, workspace):
    other = Workspace.objects.create(name="other")
    var = variable_set(workspace=other, key="region", value="x")
    assert auth_client.get(reverse("variable_edit", args=["demo", var.pk])).status_code == 404
    assert auth_client.post(reverse("variable_delete", args=["demo", var.pk])).status_code == 404
    assert Variable.objects.filter(pk=var.pk).exists()


def test_100_variables_are_a_bounded_number_of_queries(auth_client, workspace, django_assert_max_num_queries):
    Variable.objects.bulk_create([Variable(workspace=workspace, key=f"v{i}", value=str(i)) for i in range(100)])
    with django_assert_max_num_queries(8):
        assert auth_client.get(_url()).status_code == 200
