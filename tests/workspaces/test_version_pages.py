"""Pages of code and state versions: logged in, HTMX fragments, bad input, the POST flows."""

import pytest
from django.test import Client
from django.urls import reverse

from executions.models import WorkspaceTask
from tests.workspaces import version_helpers as vh
from workspaces.code import services as code_services
from workspaces.models import Role, StateVersion, Workspace, WorkspaceCodeVersion, WorkspaceMember
from workspaces.state import services as state_services

HCL_V1 = 'resource "terraform_data" "a" {\n  input = "one"\n}\n'
HCL_V2 = 'resource "terraform_data" "a" {\n  input = "two"\n}\n'
HTMX = {"HTTP_HX_REQUEST": "true"}


def _is_fragment(response) -> bool:
    return b"<html" not in response.content and b'class="tabs"' not in response.content


@pytest.fixture
def two_code_versions(workspace, user):
    code_services.code_save(workspace=workspace, code=HCL_V1, message="first", author=user)
    code_services.code_save(workspace=workspace, code=HCL_V2, message="second", author=user)
    workspace.refresh_from_db()
    return workspace


@pytest.fixture
def two_states(workspace):
    first, second = vh.two_states()
    state_services.state_upload(workspace=workspace, content=first)
    state_services.state_upload(workspace=workspace, content=second)
    return workspace


# --- code editor --------------------------------------------------------------------------
def test_code_page_shows_editor_with_current_code(auth_client, two_code_versions):
    response = auth_client.get(reverse("code_edit", args=["demo"]))
    assert response.status_code == 200
    body = response.content.decode()
    assert "<textarea" in body and "input = &quot;two&quot;" in body
    assert 'class="tabs"' in body and "version 2" in body and "second" in body
    assert response["Vary"] and "HX-Request" in response["Vary"]


def test_code_page_htmx_fragment(auth_client, two_code_versions):
    response = auth_client.get(reverse("code_edit", args=["demo"]), **HTMX)
    assert response.status_code == 200 and _is_fragment(response)
    assert b'id="content"' in response.content and b"<textarea" in response.content


def test_save_edit_unchanged_and_invalid(auth_client, workspace):
    url = reverse("code_edit", args=["demo"])
    response = auth_client.post(url, {"code": HCL_V1, "code_format": "auto", "message": "first"})
    assert response.status_code == 302
    response = auth_client.post(url, {"code": HCL_V2, "code_format": "hcl", "message": ""}, follow=True)
    assert b"Saved as version 2" in response.content
    response = auth_client.post(url, {"code": HCL_V2, "code_format": "auto"}, follow=True)
    assert b"No changes: version 2 is still current" in response.content
    response = auth_client.post(url, {"code": 'resource "a" "b" {\n  x = \n}\n', "code_format": "auto"})
    assert response.status_code == 400
    assert b"line 2, column 7" in response.content and b"errorlist" in response.content
    # The rejected code stays in the editor so it can be fixed.
    assert b"x = \n}" in response.content
    workspace.refresh_from_db()
    assert workspace.current_code_version.number == 2
    assert WorkspaceCodeVersion.objects.filter(workspace=workspace).count() == 2


def test_editor_line_ends_are_stored_as_typed(auth_client, workspace):
    """A browser sends the textarea with CRLF; the version keeps LF, as the API would save it."""
    url = reverse("code_edit", args=["demo"])
    auth_client.post(url, {"code": HCL_V1.replace("\n", "\r\n"), "code_format": "auto"})
    version = WorkspaceCodeVersion.objects.get(workspace=workspace)
    assert version.code == HCL_V1
    code_services.code_save(workspace=workspace, code=HCL_V1, code_format=version.code_format)
    assert WorkspaceCodeVersion.objects.filter(workspace=workspace).count() == 1


def test_save_with_a_bad_format_choice_is_a_form_error(auth_client, workspace):
    response = auth_client.post(reverse("code_edit", args=["demo"]), {"code": HCL_V1, "code_format": "yaml"})
    assert response.status_code == 400 and b"errorlist" in response.content
    assert not WorkspaceCodeVersion.objects.exists()


def test_unknown_workspace_is_404(auth_client, db):
    assert auth_client.get(reverse("code_edit", args=["nope"])).status_code == 404
    assert auth_client.get(reverse("state_list", args=["nope"])).status_code == 404


# --- code history, detail, compare, rollback ----------------------------------------------
def test_history_paginates_and_swaps_pages_with_htmx(auth_client, workspace, user, django_assert_max_num_queries):
    for i in range(30):
        code_services.code_save(workspace=workspace, code=f'locals {{\n  n = {i}\n}}\n', message=f"change {i}", author=user)
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="planned_no_changes",
                                 code_version=workspace.code_versions.get(number=30))
    url = reverse("code_history", args=["demo"])
    with django_assert_max_num_queries(12):
        response = auth_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200 and "v30" in body and "v6<" in body and "v5<" not in body
    assert "Page 1 of 2" in body and "planned_no_changes" in body
    response = auth_client.get(url + "?page=2", **HTMX)
    assert response.status_code == 200 and _is_fragment(response)
    assert b'id="history"' in response.content and b"v5<" in response.content and b"v30<" not in response.content


def test_code_version_detail(auth_client, two_code_versions):
    response = auth_client.get(reverse("code_version_detail", args=["demo", 1]))
    assert response.status_code == 200
    assert b"Code version 1" in response.content and b"Roll back to v1" in response.content
    assert b"input = &quot;one&quot;" in response.content
    response = auth_client.get(reverse("code_version_detail", args=["demo", 1]), **HTMX)
    assert response.status_code == 200 and _is_fragment(response)
    assert auth_client.get(reverse("code_version_detail", args=["demo", 9])).status_code == 404
    assert auth_client.get(reverse("code_version_detail", args=["demo", 0])).status_code == 404


def test_compare_page_unified_and_side_by_side(auth_client, two_code_versions):
    url = reverse("code_compare", args=["demo"])
    response = auth_client.get(url)  # defaults to previous → current
    body = response.content.decode()
    assert response.status_code == 200 and "v1 → v2" in body and 'data-view="unified"' in body
    assert body.count('class="row del"') == 1 and body.count('class="row ins"') == 1
    response = auth_client.get(url + "?from=1&to=2&view=split", **HTMX)
    body = response.content.decode()
    assert response.status_code == 200 and _is_fragment(response)
    assert body.lstrip().startswith('<div id="diff">') and 'data-view="split"' in body
    assert 'class="cell del">  input = &quot;one&quot;' in body and 'class="cell ins">  input = &quot;two&quot;' in body


@pytest.mark.parametrize("query, status", [("?from=abc&to=2", 400), ("?from=1&to=0", 400), ("?from=1&to=7", 404)])
def test_compare_page_bad_input(auth_client, two_code_versions, query, status):
    response = auth_client.get(reverse("code_compare", args=["demo"]) + query)
    assert response.status_code == status and b"flash-error" in response.content


def test_compare_page_without_versions(auth_client, workspace):
    response = auth_client.get(reverse("code_compare", args=["demo"]))
    assert response.status_code == 200 and b"nothing to compare" in response.content


def test_rollback_from_the_ui(auth_client, two_code_versions):
    url = reverse("code_version_rollback", args=["demo", 1])
    assert auth_client.get(url).status_code == 405
    response = auth_client.post(url, follow=True)
    assert b"version 3 has the code of version 1" in response.content
    two_code_versions.refresh_from_db()
    assert two_code_versions.current_code_version.number == 3
    assert two_code_versions.current_code_version.code == HCL_V1
    response = auth_client.post(url, follow=True)
    assert b"nothing to roll back" in response.content
    assert auth_client.post(reverse("code_version_rollback", args=["demo", 42])).status_code == 404


# --- states ---------------------------------------------------------------------------------
def test_state_list_and_htmx_pages(auth_client, workspace, member):
    for serial in range(1, 31):
        state_services.state_upload(workspace=workspace, content=vh.state(serial, [vh.resource("a", [vh.instance(serial)])]))
    url = reverse("state_list", args=["demo"])
    response = auth_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200 and "#30" in body and "Page 1 of 2" in body and "upload" in body
    assert "download" in body  # an admin (here a superuser) may download the raw state
    reader_client = Client()
    reader_client.force_login(member(workspace, Role.READER, username="reader"))
    body = reader_client.get(url).content.decode()
    assert "#30" in body and "download" not in body and "Upload a state" not in body  # a reader: no links
    response = auth_client.get(url + "?page=2", **HTMX)
    assert response.status_code == 200 and _is_fragment(response) and b"#5<" in response.content


def test_state_detail_page_masks_sensitive_values(auth_client, two_states):
    url = reverse("state_version_detail", args=["demo", 1])
    response = auth_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200
    assert "terraform_data.changed" in body and "terraform_data.removed" in body
    assert vh.SECRET not in body and "(sensitive)" in body
    response = auth_client.get(url, **HTMX)
    assert response.status_code == 200 and _is_fragment(response) and b"terraform_data.keep" in response.content
    assert auth_client.get(reverse("state_version_detail", args=["demo", 77])).status_code == 404


def test_state_compare_page(auth_client, two_states):
    url = reverse("state_compare", args=["demo"])
    response = auth_client.get(url)
    body = response.content.decode()
    assert response.status_code == 200 and "#1 → #2" in body
    for address in ("terraform_data.added[0]", "terraform_data.added[1]", "terraform_data.changed",
                    "terraform_data.removed"):
        assert address in body
    assert "input.name" in body and "&quot;one&quot;" in body and "&quot;two&quot;" in body
    assert vh.SECRET not in body and "(sensitive)" in body
    response = auth_client.get(url + "?from=2&to=1", **HTMX)
    assert response.status_code == 200 and _is_fragment(response)
    assert response.content.decode().lstrip().startswith('<div id="changes">') and b"#2 \xe2\x86\x92 #1" in response.content
    assert auth_client.get(url + "?from=x&to=1").status_code == 400
    assert auth_client.get(url + "?from=1&to=99").status_code == 404


def test_state_rollback_needs_confirmation(auth_client, two_states, user):
    url = reverse("state_rollback", args=["demo", 1])
    response = auth_client.get(url)
    assert response.status_code == 200 and b"serial 3" in response.content and b'name="confirm"' in response.content
    assert auth_client.get(url, **HTMX).status_code == 200
    response = auth_client.post(url, {})
    assert response.status_code == 400 and b"confirm" in response.content
    assert StateVersion.objects.filter(workspace=two_states).count() == 2
    response = auth_client.post(url, {"confirm": "yes"})
    assert response.status_code == 302 and response["Location"].endswith("/states/3/")
    rolled = StateVersion.objects.get(workspace=two_states, serial=3)
    assert rolled.source == "rollback" and rolled.created_by == user


def test_state_rollback_refused_while_running(auth_client, two_states):
    WorkspaceTask.objects.create(workspace=two_states, task_type="plan", status="running")
    response = auth_client.post(reverse("state_rollback", args=["demo", 1]), {"confirm": "yes"})
    assert response.status_code == 409 and b"is running" in response.content
    assert StateVersion.objects.filter(workspace=two_states).count() == 2


def test_state_upload_page(auth_client, workspace):
    from django.core.files.uploadedfile import SimpleUploadedFile

    url = reverse("state_upload", args=["demo"])
    assert auth_client.get(url).status_code == 200
    assert _is_fragment(auth_client.get(url, **HTMX))
    first, _ = vh.two_states()
    response = auth_client.post(url, {"file": SimpleUploadedFile("terraform.tfstate", b"{oops")})
    assert response.status_code == 400 and b"not valid JSON" in response.content
    response = auth_client.post(url, {"file": SimpleUploadedFile("terraform.tfstate", first.encode())})
    assert response.status_code == 302
    foreign = vh.state(9, lineage=vh.OTHER_LINEAGE)
    response = auth_client.post(url, {"file": SimpleUploadedFile("t.tfstate", foreign.encode())})
    assert response.status_code == 409 and b"Lineage" in response.content
    response = auth_client.post(url, {"file": SimpleUploadedFile("t.tfstate", foreign.encode()), "force": "on"})
    assert response.status_code == 302
    assert list(StateVersion.objects.filter(workspace=workspace).values_list("serial", flat=True)) == [9, 1]
    response = auth_client.post(url, {})
    assert response.status_code == 400


def test_state_download_page(auth_client, client, two_states, user, member):
    url = reverse("state_download", args=["demo", 1])
    applier = member(two_states, Role.APPLIER, username="applier")
    client.force_login(applier)
    assert client.get(url).status_code == 403  # below admin
    WorkspaceMember.objects.filter(user=applier).update(role=Role.ADMIN)
    response = client.get(url)
    assert response.status_code == 200 and response["Content-Disposition"].endswith('"demo-serial-1.tfstate"')
    assert response.content.decode() == vh.two_states()[0]
    assert auth_client.get(reverse("state_download", args=["demo", 5])).status_code == 404
    other = Workspace.objects.create(name="other")
    assert auth_client.get(reverse("state_download", args=[other.name, 1])).status_code == 404
