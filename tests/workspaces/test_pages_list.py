"""The workspace list and the create page."""

import pytest
from django.urls import reverse

from executions.models import WorkspaceTask
from workspaces.models import StateVersion, Workspace

pytestmark = pytest.mark.django_db


def test_list_links_each_workspace_with_its_latest_run_and_attention_marker(auth_client, workspace):
    quiet = Workspace.objects.create(name="quiet")
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan_and_apply", status="applied")
    waiting = WorkspaceTask.objects.create(workspace=workspace, task_type="plan_and_apply", status="planned")
    html = auth_client.get("/").content.decode()
    assert f'href="{reverse("workspace_overview", args=["demo"])}"' in html
    assert f'href="{reverse("run_detail", args=["demo", waiting.pk])}"' in html
    assert "Needs confirmation" in html and "1 needs confirmation" in html
    assert f'href="{reverse("workspace_overview", args=[quiet.name])}"' in html and "Never run" in html
    assert f'href="{reverse("workspace_create")}"' in html


def test_needs_attention_filter_keeps_only_workspaces_with_a_waiting_plan(auth_client, workspace):
    Workspace.objects.create(name="calm")
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan_and_apply", status="planned")
    html = auth_client.get("/?filter=attention", HTTP_HX_REQUEST="true").content.decode()
    assert "<html" not in html
    assert ">demo<" in html and ">calm<" not in html


def test_empty_list_invites_to_create_and_search_miss_says_so(auth_client):
    assert "Create the first one" in auth_client.get("/").content.decode()
    assert "No workspaces match “zzz”" in auth_client.get("/?q=zzz").content.decode()


def test_list_of_100_busy_workspaces_is_a_bounded_number_of_queries(auth_client, django_assert_max_num_queries):
    spaces = Workspace.objects.bulk_create([Workspace(name=f"ws-{i:03d}") for i in range(100)])
    WorkspaceTask.objects.bulk_create(
        [WorkspaceTask(workspace=ws, task_type="plan", status=s) for ws in spaces for s in ("applied", "planned")]
    )
    StateVersion.objects.bulk_create([
        StateVersion(workspace=ws, serial=1, lineage="l", checksum="c", resource_count=3, content="{}") for ws in spaces
    ])
    with django_assert_max_num_queries(8):
        response = auth_client.get("/?page=2")
    assert response.status_code == 200 and "ws-099" in response.content.decode()


# --- create ---------------------------------------------------------------------------------
def test_create_page_and_its_htmx_fragment(auth_client):
    page = auth_client.get(reverse("workspace_create"))
    assert page.status_code == 200 and b"<html" in page.content and b'name="name"' in page.content
    fragment = auth_client.get(reverse("workspace_create"), HTTP_HX_REQUEST="true")
    assert fragment.status_code == 200 and b"<html" not in fragment.content and b'name="name"' in fragment.content
    assert "HX-Request" in fragment["Vary"]


def test_create_makes_the_workspace_and_opens_its_overview(auth_client):
    response = auth_client.post(reverse("workspace_create"), {
        "name": "prod-net", "description": "network", "terraform_version": "1.15", "auto_apply": "on",
    }, follow=True)
    ws = Workspace.objects.get(name="prod-net")
    assert (ws.description, ws.terraform_version, ws.auto_apply) == ("network", "1.15", True)
    assert response.redirect_chain[-1][0] == reverse("workspace_overview", args=["prod-net"])
    assert "Workspace “prod-net” created" in response.content.decode()


@pytest.mark.parametrize("data, field, text", [
    ({"name": "bad name!"}, "name", "Use only letters, digits"),
    ({"name": ""}, "name", "This field is required"),
    ({"name": "ok", "terraform_version": "latest"}, "terraform_version", "Use a version like 1.15"),
    ({"name": "x" * 91}, "name", "at most 90 characters"),
])
def test_create_with_bad_input_shows_the_error_next_to_the_field_and_creates_nothing(auth_client, data, field, text):
    response = auth_client.post(reverse("workspace_create"), data)
    assert response.status_code == 400
    html = response.content.decode()
    assert f'id="field-{field}"' in html and text in html
    field_html = html.split(f'id="field-{field}"', 1)[1].split('<div class="field', 1)[0]
    assert text in field_html
    assert not Workspace.objects.exists()


def test_create_refuses_a_taken_name(auth_client, workspace):
    response = auth_client.post(reverse("workspace_create"), {"name": "demo"})
    assert response.status_code == 400
    assert "A workspace named “demo” already exists." in response.content.decode()
    assert Workspace.objects.count() == 1


def test_create_rejects_other_methods(auth_client):
    assert auth_client.delete(reverse("workspace_create")).status_code == 405
