"""The Resources tab: every page for a logged-in user, its HTMX fragment, and bad input."""

import pytest
from django.urls import reverse

from executions.models import WorkspaceTask
from resources.models import ResourceDependency, WorkspaceResource, WorkspaceResourcesSnapshot
from resources.services import resource_delete, resource_update, snapshot_create
from tests.resources.conftest import fragment
from workspaces.models import Workspace

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(name, args=["demo", *args])


def _text(response):
    return response.content.decode()


def _flash(client, response):
    """Messages shown after following a redirect."""
    return _text(client.get(response["Location"]))


# --- list -----------------------------------------------------------------------------------
def test_list_page_fragment_filters_and_pagination(auth_client, make_resource):
    for i in range(55):
        make_resource(f"r{i:02d}")
    gone = make_resource("gone")
    resource_delete(resource=gone)
    response = auth_client.get(url("resource_list"))
    assert response.status_code == 200
    html = _text(response)
    assert "terraform_data.r00" in html and "terraform_data.r49" in html and "terraform_data.r50" not in html
    assert "Page 1 of 2" in html and 'class="tabs"' in html and "Plan selected resources" in html
    assert response["Vary"].count("HX-Request") == 1

    response = auth_client.get(url("resource_list"), {"page": 2, "q": "r5"}, **HX)
    html = _text(response)
    assert "<html" not in html and 'id="results"' in html
    assert "terraform_data.r50" in html and "terraform_data.r10" not in html
    html = _text(auth_client.get(url("resource_list"), {"status": "deleted"}, **HX))
    assert "terraform_data.gone" in html and "terraform_data.r00" not in html


def test_list_queries_are_bounded(auth_client, workspace, django_assert_max_num_queries):
    from resources.services import resources_import

    resources_import(workspace=workspace, files={"main.tf": "\n".join(
        f'resource "terraform_data" "r{i}" {{\n  input = {i}\n}}\n' for i in range(120))})
    with django_assert_max_num_queries(8):
        assert auth_client.get(url("resource_list"), {"page": 2}).status_code == 200


def test_list_bad_filters_answer_400_with_the_reason(auth_client, make_resource):
    make_resource("a")
    response = auth_client.get(url("resource_list"), {"sort": "bogus"}, **HX)
    assert response.status_code == 400 and "Unknown sort" in _text(response)
    assert auth_client.get(url("resource_list"), {"page": "x"}).status_code == 200


def test_unknown_workspace_and_foreign_resource_are_404(auth_client, make_resource, workspace):
    foreign = make_resource("f", ws=Workspace.objects.create(name="other"))
    assert auth_client.get(reverse("resource_list", args=["missing"])).status_code == 404
    for name in ("resource_detail", "resource_edit", "resource_dependencies", "resource_compare"):
        assert auth_client.get(url(name, foreign.pk)).status_code == 404, name
    assert auth_client.get(url("resource_version_detail", foreign.pk, 1)).status_code == 404
    for name in ("resource_delete", "resource_restore"):
        assert auth_client.post(url(name, foreign.pk)).status_code == 404
    assert auth_client.post(url("resource_rollback", foreign.pk, 1)).status_code == 404
    assert WorkspaceResource.objects.get(pk=foreign.pk).is_active


# --- create and edit ------------------------------------------------------------------------
def test_create_from_json_or_hcl(auth_client, workspace, user):
    assert auth_client.get(url("resource_create")).status_code == 200
    assert "<html" not in _text(auth_client.get(url("resource_create"), **HX))
    response = auth_client.post(url("resource_create"), {
        "code": '{"resource": {"terraform_data": {"a": {"input": "x"}}}}', "tags": "web, blue"})
    assert response.status_code == 302
    a = WorkspaceResource.objects.get(resource_id="terraform_data.a")
    assert response["Location"] == url("resource_detail", a.pk) and a.tags == ["web", "blue"]
    assert a.current_version.author == user
    response = auth_client.post(url("resource_create"), {
        "code": 'resource "terraform_data" "b" {\n  input = var.x\n}\n'})
    assert response.status_code == 302
    assert WorkspaceResource.objects.get(resource_id="terraform_data.b").current_version.code == {
        "resource": {"terraform_data": {"b": {"input": "${var.x}"}}}}


@pytest.mark.parametrize("code, reason", [
    ("", "This field is required"),
    ("{oops", "Not valid JSON (line 1, column 2)"),
    ('resource "x" {', "code, line 1"),
    ('variable "v" {}', "workspace&#x27;s code"),
    ('resource "terraform_data" "a" {}\nresource "terraform_data" "b" {}', "exactly one block"),
])
def test_create_bad_code_is_a_form_error(auth_client, workspace, code, reason):
    response = auth_client.post(url("resource_create"), {"code": code}, **HX)
    assert response.status_code == 400 and reason in _text(response)
    assert not WorkspaceResource.objects.exists()


def test_create_duplicate_is_a_form_error(auth_client, make_resource):
    make_resource("a")
    response = auth_client.post(url("resource_create"), {"code": '{"resource": {"terraform_data": {"a": {}}}}'})
    assert response.status_code == 400 and "already exists" in _text(response)


def test_edit_makes_a_new_version_only_on_change(auth_client, make_resource):
    a = make_resource("a", input="1")
    response = auth_client.get(url("resource_edit", a.pk))
    assert response.status_code == 200 and "&quot;input&quot;: &quot;1&quot;" in _text(response)
    response = auth_client.post(url("resource_edit", a.pk), {"code": '{"resource": {"terraform_data": {"a": {"input": "2"}}}}',
                                                           "change_summary": "bump"})
    assert response.status_code == 302 and "Saved terraform_data.a as version 2" in _flash(auth_client, response)
    a.refresh_from_db()
    assert (a.current_version.version, a.current_version.change_summary) == (2, "bump")
    response = auth_client.post(url("resource_edit", a.pk), {"code": '{"resource": {"terraform_data": {"a": {"input": "2"}}}}'})
    assert "no new version" in _flash(auth_client, response)
    response = auth_client.post(url("resource_edit", a.pk), {"code": '{"resource": {"terraform_data": {"z": {}}}}'}, **HX)
    assert response.status_code == 400 and "cannot change" in _text(response)


# --- detail, versions, compare, rollback ----------------------------------------------------
def test_detail_version_compare_and_rollback(auth_client, make_resource):
    a = make_resource("a", input="1")
    resource_update(resource=a, code=fragment("a", input="2"))
    html = _text(auth_client.get(url("resource_detail", a.pk)))
    assert "Version history" in html and "v2" in html and "roll back" in html
    assert 'id="history"' in _text(auth_client.get(url("resource_detail", a.pk), **HX))
    html = _text(auth_client.get(url("resource_version_detail", a.pk, 1)))
    assert "Roll back to v1" in html and "&quot;1&quot;" in html
    assert auth_client.get(url("resource_version_detail", a.pk, 9)).status_code == 404

    response = auth_client.get(url("resource_compare", a.pk), {"from": 1, "to": 2, "view": "split"}, **HX)
    html = _text(response)
    assert response.status_code == 200 and "<html" not in html and 'data-view="split"' in html
    assert "+1" in html and "−1" in html
    assert auth_client.get(url("resource_compare", a.pk)).status_code == 200  # defaults: previous → latest
    response = auth_client.get(url("resource_compare", a.pk), {"from": "x", "to": 2}, **HX)
    assert response.status_code == 400 and "not a valid version number" in _text(response)
    assert auth_client.get(url("resource_compare", a.pk), {"from": 7, "to": 2}).status_code == 404

    response = auth_client.post(url("resource_rollback", a.pk, 1))
    assert "version 3 has the code of version 1" in _flash(auth_client, response)
    response = auth_client.post(url("resource_rollback", a.pk, 3))
    assert "nothing to roll back" in _flash(auth_client, response)
    assert auth_client.post(url("resource_rollback", a.pk, 99)).status_code == 404
    assert auth_client.get(url("resource_rollback", a.pk, 1)).status_code == 405


def test_delete_and_restore(auth_client, make_resource):
    a = make_resource("a")
    response = auth_client.post(url("resource_delete", a.pk))
    assert "the next apply destroys it" in _flash(auth_client, response)
    assert "already deleted" in _flash(auth_client, auth_client.post(url("resource_delete", a.pk)))
    html = _text(auth_client.get(url("resource_detail", a.pk)))
    assert "Restore" in html and "Edit code" not in html
    assert "Restored terraform_data.a" in _flash(auth_client, auth_client.post(url("resource_restore", a.pk)))


# --- dependencies ---------------------------------------------------------------------------
def test_dependencies_page_set_and_cycle(auth_client, make_resource):
    a, b = make_resource("a"), make_resource("b")
    html = _text(auth_client.get(url("resource_dependencies", b.pk)))
    assert "terraform_data.a" in html and 'name="depends_on"' in html
    response = auth_client.post(url("resource_dependencies", b.pk), {"depends_on": [a.pk]})
    assert response.status_code == 302
    assert ResourceDependency.objects.filter(resource=b, depends_on=a).exists()
    response = auth_client.post(url("resource_dependencies", a.pk), {"depends_on": [b.pk]}, **HX)
    assert response.status_code == 400 and "<html" not in _text(response)
    assert "terraform_data.a → terraform_data.b → terraform_data.a" in _text(response)
    response = auth_client.post(url("resource_dependencies", a.pk), {"depends_on": ["424242"]}, **HX)
    assert response.status_code == 404 and "No resource 424242" in _text(response)
    html = _text(auth_client.get(url("resource_dependency_graph")))
    assert "terraform_data.b" in html and "terraform_data.a" in html
    assert "Depended on by" in _text(auth_client.get(url("resource_detail", a.pk)))


# --- snapshots ------------------------------------------------------------------------------
def test_snapshots_create_preview_restore_delete(auth_client, make_resource, workspace):
    a = make_resource("a", input="1")
    response = auth_client.post(url("snapshot_list"), {"name": "first"})
    assert response.status_code == 302
    snapshot = WorkspaceResourcesSnapshot.objects.get(name="first")
    response = auth_client.post(url("snapshot_list"), {"name": "first"})
    assert response.status_code == 400 and "already exists" in _text(response)
    assert "first" in _text(auth_client.get(url("snapshot_list"), **HX))

    resource_update(resource=a, code=fragment("a", input="2"))
    make_resource("b")
    response = auth_client.get(url("snapshot_detail", snapshot.pk))
    html = _text(response)
    assert "Restore this snapshot" in html and "action-update" in html and "action-deactivate" in html
    assert 'id="preview"' in _text(auth_client.get(url("snapshot_detail", snapshot.pk), **HX))

    response = auth_client.post(url("snapshot_restore", snapshot.pk))
    assert "2 resource(s) changed" in _flash(auth_client, response)
    assert list(WorkspaceResource.objects.filter(is_active=True).values_list("resource_id", flat=True)) == [
        "terraform_data.a"]
    assert "exactly this snapshot" in _text(auth_client.get(url("snapshot_detail", snapshot.pk)))

    WorkspaceResourcesSnapshot.objects.filter(pk=snapshot.pk).update(resource_versions={"terraform_data.a": 9})
    assert "has no version 9" in _text(auth_client.get(url("snapshot_detail", snapshot.pk)))
    assert "Nothing was changed" in _flash(auth_client, auth_client.post(url("snapshot_restore", snapshot.pk)))

    other = snapshot_create(workspace=Workspace.objects.create(name="other"), name="theirs")
    assert auth_client.get(url("snapshot_detail", other.pk)).status_code == 404
    assert auth_client.post(url("snapshot_restore", other.pk)).status_code == 404
    assert auth_client.post(url("snapshot_delete", other.pk)).status_code == 404
    response = auth_client.post(url("snapshot_delete", snapshot.pk))
    assert response.status_code == 302 and not WorkspaceResourcesSnapshot.objects.filter(pk=snapshot.pk).exists()


# --- import ---------------------------------------------------------------------------------
def test_import_page_paste_upload_and_report(auth_client, workspace):
    from django.core.files.uploadedfile import SimpleUploadedFile

    assert auth_client.get(url("resource_import")).status_code == 200
    text = ('resource "terraform_data" "a" {\n  input = "a"\n}\n'
            '# file: modules/m/main.tf\noutput "x" {\n  value = 1\n}\n')
    upload = SimpleUploadedFile("vars.tf", b'variable "v" {\n  default = 1\n}\n')
    response = auth_client.post(url("resource_import"), {"text": text, "files": [upload], "on_duplicate": "fail"})
    html = _text(response)
    assert response.status_code == 200 and "Import report" in html
    assert "terraform_data.a" in html and "modules/m/main.tf" in html and "variable.v" in html
    assert WorkspaceResource.objects.filter(resource_id="terraform_data.a").exists()

    changed = text.replace('"a"\n}', '"A"\n}')
    response = auth_client.post(url("resource_import"), {"text": changed, "on_duplicate": "fail"}, **HX)
    assert response.status_code == 409 and "<html" not in _text(response)
    assert "terraform_data.a" in _text(response) and "Nothing was imported" in _text(response)
    response = auth_client.post(url("resource_import"), {"text": changed, "on_duplicate": "new_version"})
    assert response.status_code == 200
    assert WorkspaceResource.objects.get(resource_id="terraform_data.a").version_number == 2


@pytest.mark.parametrize("data, reason", [
    ({"text": "", "on_duplicate": "fail"}, "Paste some Terraform code"),
    ({"text": 'resource "terraform_data" "a" {\n  input = \n}\n', "on_duplicate": "fail"}, "main.tf, line 2"),
    ({"text": "x", "on_duplicate": "merge"}, "Select a valid choice"),
    ({"text": "# file: ../../etc/passwd.tf\nx", "on_duplicate": "fail"}, "must be relative"),
])
def test_import_bad_input_changes_nothing(auth_client, workspace, data, reason):
    response = auth_client.post(url("resource_import"), data)
    assert response.status_code == 400 and reason in _text(response)
    assert not WorkspaceResource.objects.exists()


# --- deploy ---------------------------------------------------------------------------------
def test_plan_selected_resources_queues_a_targeted_run(auth_client, make_resource):
    a, b = make_resource("a"), make_resource("b")
    make_resource("c")
    response = auth_client.post(url("resource_deploy"), {"resource_ids": [a.pk, b.pk], "kind": "plan"})
    task = WorkspaceTask.objects.get()
    assert response.status_code == 302 and response["Location"] == reverse("run_detail", args=["demo", task.pk])
    assert task.targets == ["terraform_data.a", "terraform_data.b"] and task.task_type == "plan"


def test_plan_selected_bad_input_is_a_message(auth_client, make_resource, workspace):
    foreign = make_resource("f", ws=Workspace.objects.create(name="other"))
    response = auth_client.post(url("resource_deploy"), {})
    assert response["Location"] == url("resource_list")
    assert "Select at least one resource" in _flash(auth_client, response)
    response = auth_client.post(url("resource_deploy"), {"resource_ids": [foreign.pk]})
    assert f"No resource with id {foreign.pk}" in _flash(auth_client, response)
    assert auth_client.get(url("resource_deploy")).status_code == 405
    assert not WorkspaceTask.objects.exists()
