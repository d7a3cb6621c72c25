"""Issue 16, point 3: HCL stays readable as HCL. A resource imported or written in HCL keeps its
text as written (comments included) next to the Terraform JSON that runs; pages and the editor
show the HCL, history operations carry it along, JSON input keeps none."""

import json

import pytest
from django.urls import reverse

from resources.models import WorkspaceResource
from resources.services import resources_import
from resources.services.resources import resource_delete, resource_restore, resource_update, version_rollback

pytestmark = pytest.mark.django_db
IMPORTED = '''# The front page bucket: owned by the web team.
# Do not rename (ticket OPS-12).
resource "terraform_data" "web" {
  input = "v1" # pinned
}

variable "region" {
  default = "eu-west-1"
}
'''
EDITED = '''# Edited in the form, comment kept.
resource "terraform_data" "web" {
  input = "v2"
}
'''


def _web(workspace):
    return WorkspaceResource.objects.select_related("current_version").get(workspace=workspace,
                                                                           resource_id="terraform_data.web")


def test_an_imported_block_keeps_its_text_and_comments(auth_client, workspace):
    resources_import(workspace=workspace, files={"main.tf": IMPORTED})
    version = _web(workspace).current_version
    assert version.source_text.startswith("# The front page bucket: owned by the web team.\n# Do not rename")
    assert 'input = "v1" # pinned' in version.source_text
    assert "variable" not in version.source_text  # only its own block
    assert version.code == {"resource": {"terraform_data": {"web": {"input": "v1"}}}}  # what runs
    resource = _web(workspace)
    detail = auth_client.get(reverse("resource_detail", args=[workspace.name, resource.pk])).content.decode()
    assert "# Do not rename (ticket OPS-12)." in detail and "HCL as written" in detail
    page = auth_client.get(reverse("resource_version_detail", args=[workspace.name, resource.pk, 1]))
    body = page.content.decode()
    assert "HCL, as written" in body and "# pinned" in body and 'id="version-json"' in body
    edit = auth_client.get(reverse("resource_edit", args=[workspace.name, resource.pk]))
    assert edit.context["form"].initial["code"] == version.source_text  # the editor opens on the HCL
    config = auth_client.get(reverse("effective_configuration", args=[workspace.name])).content.decode()
    assert "as written (HCL)" in config and "# Do not rename (ticket OPS-12)." in config


def test_the_edit_form_saves_hcl_as_written(auth_client, workspace):
    resources_import(workspace=workspace, files={"main.tf": IMPORTED})
    resource = _web(workspace)
    response = auth_client.post(reverse("resource_edit", args=[workspace.name, resource.pk]),
                                {"code": EDITED, "description": "", "tags": "", "change_summary": ""})
    assert response.status_code == 302
    version = _web(workspace).current_version
    assert version.version == 2 and version.source_text == EDITED
    assert version.code["resource"]["terraform_data"]["web"]["input"] == "v2"


def test_history_operations_carry_the_text_and_json_input_keeps_none(workspace):
    resources_import(workspace=workspace, files={"main.tf": IMPORTED})
    resource, _ = resource_update(resource=_web(workspace),
                                  code=json.dumps({"resource": {"terraform_data": {"web": {"input": "json"}}}}))
    assert _web(workspace).current_version.source_text == ""
    version_rollback(resource=_web(workspace), version=1)
    assert "# pinned" in _web(workspace).current_version.source_text
    resource_delete(resource=_web(workspace))
    resource_restore(resource=_web(workspace))
    assert "# pinned" in _web(workspace).current_version.source_text


def test_a_json_import_keeps_no_text(workspace):
    doc = {"resource": {"terraform_data": {"web": {"input": "v1"}}}}
    resources_import(workspace=workspace, files={"main.tf.json": json.dumps(doc)})
    assert _web(workspace).current_version.source_text == ""


def test_hcl_code_gets_imported_blocks_with_the_comments_above_them(workspace):
    from workspaces.code.services import code_version_save

    code_version_save(workspace=workspace, code='variable "old" {}\n', code_format="hcl")
    resources_import(workspace=workspace, files={"main.tf": IMPORTED.replace(
        'variable "region"', '# Where everything runs.\nvariable "region"')})
    workspace.refresh_from_db()
    code = workspace.current_code_version.code
    assert '# Where everything runs.\nvariable "region" {' in code
    assert "# The front page bucket" not in code  # the resource's comments went with the resource
