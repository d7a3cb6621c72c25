"""Issue 16, bug 4: the code history shows the runs' human status labels, not the raw keys."""

import pytest
from django.urls import reverse

from executions.models import WorkspaceTask
from workspaces.code import services as code_services

pytestmark = pytest.mark.django_db
Status = WorkspaceTask.Status


@pytest.fixture
def version_with_runs(workspace, user):
    version, _ = code_services.code_save(workspace=workspace, code='resource "terraform_data" "a" {}\n', author=user)
    for status in (Status.PLAN_FINISHED, Status.PLANNED_NO_CHANGES, Status.FAILED):
        WorkspaceTask.objects.create(workspace=workspace, code_version=version, status=status,
                                     task_type=WorkspaceTask.TaskType.PLAN)
    return version


@pytest.mark.parametrize("view, args", [("code_history", []), ("code_version_detail", [1])])
def test_runs_of_a_code_version_show_labels(auth_client, version_with_runs, view, args):
    html = auth_client.get(reverse(view, args=["demo", *args])).content.decode()
    for key, label in (("plan_finished", "Planned"), ("planned_no_changes", "No changes"), ("failed", "Errored")):
        assert f"status-{key}" in html  # the key still picks the colour
        assert f"{label}</a>" in html
        assert f" {key}</a>" not in html
    assert 'title="Plan only"' in html
