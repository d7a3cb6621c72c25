"""HCL import: what becomes a resource, what goes to the code, duplicates, and bad input."""

import json

import pytest

from iacplatform.errors import Conflict, DomainError
from resources.importer import ImportParseError, hcl_to_json, parse_files
from resources.models import ResourceCodeVersion, WorkspaceResource
from resources.services import resource_delete, resources_import
from workspaces.code.services import code_version_save
from workspaces.models import WorkspaceCodeVersion

pytestmark = pytest.mark.django_db

TWO = """
resource "terraform_data" "a" {
  input = "a"
}

resource "terraform_data" "b" {
  input = "b"
}
"""


def _nothing_written():
    return not WorkspaceResource.objects.exists() and not WorkspaceCodeVersion.objects.exists()


def test_converter_output_is_terraform_json():
    doc = hcl_to_json('''
variable "v" {
  type = list(object({ a = string }))
}
resource "terraform_data" "x" {
  provider = terraform.other
  input = {
    (var.k) = 1
    "quoted key" = "line\\nnext \\"q\\" $${lit} \\u00e9"
    plain = [1, true, null, -1.5, var.z]
  }
  triggers_replace = "${var.single}"
  depends_on = [terraform_data.y, module.m]
  lifecycle {
    ignore_changes = all
    replace_triggered_by = [terraform_data.y.id]
  }
  provisioner "local-exec" {
    command = "one"
  }
  provisioner "local-exec" {
    when    = destroy
    command = <<-EOT
        indented
          more
    EOT
  }
}
module "m" {
  source    = "./m"
  providers = { aws = aws.west }
}
moved {
  from = terraform_data.old
  to   = terraform_data.x
}
''')
    assert doc["variable"]["v"]["type"] == "list(object({ a = string }))"  # the source text, as written
    body = doc["resource"]["terraform_data"]["x"]
    assert body["provider"] == "terraform.other"
    assert body["input"] == {"${(var.k)}": 1, "quoted key": 'line\nnext "q" $${lit} é',
                             "plain": [1, True, None, -1.5, "${var.z}"]}
    assert body["triggers_replace"] == "${var.single}"
    assert body["depends_on"] == ["terraform_data.y", "module.m"]
    assert body["lifecycle"] == {"ignore_changes": "all", "replace_triggered_by": ["terraform_data.y.id"]}
    assert body["provisioner"] == [{"local-exec": {"command": "one"}},
                                   {"local-exec": {"when": "destroy", "command": "indented\n  more\n"}}]
    assert doc["module"]["m"]["providers"] == {"aws": "aws.west"}
    assert doc["moved"] == [{"from": "terraform_data.old", "to": "terraform_data.x"}]


def test_resources_data_and_modules_become_resources_the_rest_goes_to_the_code(workspace, user):
    report = resources_import(workspace=workspace, user=user, files={
        "main.tf": TWO + 'data "terraform_remote_state" "net" {\n  backend = "local"\n}\n'
                         'module "web" {\n  source = "./modules/web"\n}\n',
        "vars.tf": 'variable "region" {\n  default = "eu"\n}\nlocals {\n  x = 1\n}\n'
                   'output "a" {\n  value = terraform_data.a.output\n}\n'
                   'provider "aws" {\n  region = var.region\n}\nprovider "aws" {\n  alias = "us"\n  region = "us"\n}\n',
    })
    assert report.created == ["terraform_data.a", "terraform_data.b", "data.terraform_remote_state.net", "module.web"]
    assert sorted(report.code_added) == ["local.x", "output.a", "provider.aws", "provider.aws.us", "variable.region"]
    assert report.providers == ["provider.aws", "provider.aws.us"]
    workspace.refresh_from_db()
    code = workspace.current_code_version
    assert code.code_format == "json" and code.number == 1
    assert json.loads(code.code) == {"locals": {"x": 1}, "output": {"a": {"value": "${terraform_data.a.output}"}},
                                     "variable": {"region": {"default": "eu"}}}
    assert code.provider_config == workspace.provider_config == {
        "provider": {"aws": [{"region": "${var.region}"}, {"alias": "us", "region": "us"}]}}
    a = WorkspaceResource.objects.get(resource_id="terraform_data.a")
    assert a.current_version.code == {"resource": {"terraform_data": {"a": {"input": "a"}}}}
    assert a.description == "Imported from main.tf line 2"


def test_malformed_hcl_names_file_line_and_column_and_imports_nothing(workspace):
    with pytest.raises(ImportParseError) as exc:
        resources_import(workspace=workspace, files={
            "good.tf": TWO, "bad.tf": 'resource "terraform_data" "c" {\n  input = \n}\n'})
    assert "bad.tf, line 2, column 11: unexpected '}'" in exc.value.message
    assert list(exc.value.errors) == ["bad.tf"] and exc.value.status == 400
    assert _nothing_written()


@pytest.mark.parametrize("files, reason", [
    ({}, "Nothing to import"),
    ({"main.py": "x"}, "only .tf and .tf.json"),
    ({"../escape.tf": TWO}, "relative path"),
    ({"a.tf": 'foo = 1\n'}, "attribute at the top level"),
    ({"a.tf": 'resource "terraform_data" {\n}\n'}, "takes 2 label(s)"),
    ({"a.tf": 'widget "x" {\n}\n'}, "unsupported block type 'widget'"),
    ({"a.tf.json": '{"resource": '}, "a.tf.json, line 1, column 14"),
    ({"a.tf": TWO, "b.tf": 'resource "terraform_data" "a" {\n}\n'},
     "terraform_data.a is defined twice: a.tf line 2 and b.tf line 1"),
    ({"a.tf": 'locals {\n  x = 1\n}\nlocals {\n  x = 2\n}\n'}, "local.x is defined twice"),
    ({"modules/m/main.tf": "resource {"}, "modules/m/main.tf, line 1"),
])
def test_bad_input_is_refused_with_a_reason(workspace, files, reason):
    with pytest.raises(DomainError) as exc:
        resources_import(workspace=workspace, files=files)
    assert reason in exc.value.message
    assert _nothing_written()


def test_duplicates_are_reported_and_the_operator_chooses(workspace, user):
    resources_import(workspace=workspace, files={"main.tf": TWO + 'variable "v" {\n  default = 1\n}\n'})
    changed = TWO.replace('input = "b"', 'input = "B"') + 'variable "v" {\n  default = 2\n}\n' \
        + 'resource "terraform_data" "c" {\n}\n'

    with pytest.raises(Conflict) as exc:
        resources_import(workspace=workspace, files={"main.tf": changed})
    assert "terraform_data.b (main.tf line 6: exists (version 1))" in exc.value.message
    assert "variable.v" in exc.value.message and "terraform_data.a" not in exc.value.message
    assert not WorkspaceResource.objects.filter(resource_id="terraform_data.c").exists()

    report = resources_import(workspace=workspace, files={"main.tf": changed}, on_duplicate="skip")
    assert (report.created, report.skipped, report.unchanged) == (
        ["terraform_data.c"], ["terraform_data.b"], ["terraform_data.a"])
    assert report.code_skipped == ["variable.v"]
    assert {d["address"]: d["action"] for d in report.duplicates} == {"terraform_data.b": "skipped",
                                                                      "variable.v": "skipped"}
    assert WorkspaceResource.objects.get(resource_id="terraform_data.b").version_number == 1

    report = resources_import(workspace=workspace, files={"main.tf": changed}, on_duplicate="new_version")
    assert report.updated == ["terraform_data.b"] and report.code_replaced == ["variable.v"]
    b = WorkspaceResource.objects.get(resource_id="terraform_data.b")
    assert (b.version_number, b.current_version.change_type) == (2, "update")
    workspace.refresh_from_db()
    assert json.loads(workspace.current_code_version.code)["variable"]["v"] == {"default": 2}


def test_a_deleted_resource_is_restored_by_new_version_and_reported(workspace):
    resources_import(workspace=workspace, files={"main.tf": TWO})
    resource_delete(resource=WorkspaceResource.objects.get(resource_id="terraform_data.a"))
    with pytest.raises(Conflict, match="deleted"):
        resources_import(workspace=workspace, files={"main.tf": TWO})
    report = resources_import(workspace=workspace, files={"main.tf": TWO}, on_duplicate="new_version")
    assert report.restored == ["terraform_data.a"] and report.unchanged == ["terraform_data.b"]
    assert WorkspaceResource.objects.get(resource_id="terraform_data.a").is_active


def test_a_block_the_code_defines_itself_is_a_duplicate_and_can_move_into_management(workspace):
    code_version_save(workspace=workspace, code=json.dumps({"resource": {"terraform_data": {"a": {"input": 0}}}}))
    with pytest.raises(Conflict, match="defined in the workspace code"):
        resources_import(workspace=workspace, files={"main.tf": TWO})
    report = resources_import(workspace=workspace, files={"main.tf": TWO}, on_duplicate="new_version")
    assert report.created == ["terraform_data.a", "terraform_data.b"]
    workspace.refresh_from_db()
    assert json.loads(workspace.current_code_version.code or "{}") == {}


def test_hcl_code_gets_the_blocks_text_appended(workspace):
    code_version_save(workspace=workspace, code='# keep me\nvariable "old" {}\n', code_format="hcl")
    report = resources_import(workspace=workspace, on_duplicate="skip", files={
        "main.tf": TWO + 'variable "old" {\n  default = 1\n}\nvariable "new" {\n  default = 2 # why\n}\n'
                         'locals {\n  a = 1\n  b = [\n    2,\n  ]\n}\n',
        "modules/m/main.tf": 'output "x" {\n  value = 1\n}\n'})
    assert report.code_skipped == ["variable.old"] and sorted(report.code_added) == [
        "file modules/m/main.tf", "local.a", "local.b", "variable.new"]
    workspace.refresh_from_db()
    code = workspace.current_code_version
    assert code.code_format == "hcl"
    assert code.code == ('# keep me\nvariable "old" {}\n\nvariable "new" {\n  default = 2 # why\n}\n\n'
                         'locals {\n  a = 1\n  b = [\n    2,\n  ]\n}\n\n'
                         '# file: modules/m/main.tf\noutput "x" {\n  value = 1\n}\n')
    from workspaces.code.files import split_code_files

    assert split_code_files(code.code, "hcl")["modules/m/main.tf"] == 'output "x" {\n  value = 1\n}\n'


def test_importing_the_same_files_twice_changes_nothing(workspace):
    files = {"main.tf": TWO + 'output "o" {\n  value = 1\n}\n'}
    resources_import(workspace=workspace, files=files)
    count = ResourceCodeVersion.objects.count(), WorkspaceCodeVersion.objects.count()
    report = resources_import(workspace=workspace, files=files)
    assert report.unchanged == ["terraform_data.a", "terraform_data.b"] and report.code_unchanged == ["output.o"]
    assert report.code_version is None
    assert (ResourceCodeVersion.objects.count(), WorkspaceCodeVersion.objects.count()) == count


def test_parse_keeps_lines_and_json_files_work():
    parsed = parse_files({"a.tf": TWO, "b.tf.json": json.dumps({"resource": {"terraform_data": {"c": {}}}})})
    assert [(b.label, b.where) for b in parsed.blocks] == [
        ("terraform_data.a", "a.tf line 2"), ("terraform_data.b", "a.tf line 6"), ("terraform_data.c", "b.tf.json")]
