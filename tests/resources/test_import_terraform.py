"""Import of a realistic multi-file configuration, checked with real Terraform.

The oracle: the original HCL, applied as it is, and the imported configuration (resources
aggregated into main.tf.json by the executor's own file generation) give the same outputs
and the same resources in the state.
"""

import json
import re

import pytest

from executions.executor.config import main_files
from resources.aggregation import aggregate_main_tf
from resources.models import WorkspaceResource
from resources.services import resources_import
from tests.conftest import run_terraform
from tests.resources.conftest import base_state, fixture_files, write_workdir
from workspaces.code.services import code_version_save

pytestmark = pytest.mark.django_db

EXPECTED_ADDRESSES = {
    "terraform_data.web", "terraform_data.db", "terraform_data.workers", "terraform_data.queues",
    "data.terraform_remote_state.base", "module.site",
}


def _apply(path):
    (path / "base.tfstate").write_text(base_state())
    init = run_terraform(["init", "-input=false", "-no-color"], path)
    assert init.returncode == 0, init.stdout + init.stderr
    validate = run_terraform(["validate", "-no-color"], path)
    assert validate.returncode == 0, validate.stdout + validate.stderr
    apply = run_terraform(["apply", "-auto-approve", "-input=false", "-no-color"], path)
    assert apply.returncode == 0, apply.stdout + apply.stderr
    outputs = json.loads(run_terraform(["output", "-json"], path).stdout)
    state = json.loads(run_terraform(["show", "-json"], path).stdout)
    return outputs, _addresses(state["values"]["root_module"])


def _addresses(module) -> set[str]:
    found = {r["address"] for r in module.get("resources", [])}
    for child in module.get("child_modules", []):
        found |= _addresses(child)
    return found


@pytest.fixture
def original(tmp_path):
    """What the untouched HCL gives."""
    path = tmp_path / "original"
    write_workdir(path, fixture_files("realistic"))
    return _apply(path)


def _imported_workdir(workspace, path):
    workspace.refresh_from_db()
    files = main_files(workspace, workspace.current_code_version)
    write_workdir(path, files)
    return files


def test_import_of_realistic_configuration_plans_and_applies_like_the_original(workspace, user, original, tmp_path):
    report = resources_import(workspace=workspace, files=fixture_files("realistic"), user=user)

    assert set(report.created) == EXPECTED_ADDRESSES
    assert report.module_files == ["modules/site/main.tf"]
    assert any("backend" in w for w in report.warnings)
    assert {"variable.environment", "variable.worker_count", "variable.queues", "variable.settings",
            "local.prefix", "local.marker_dir", "output.banner", "output.site_pages"} <= set(report.code_added)
    kinds = dict(WorkspaceResource.objects.filter(workspace=workspace).values_list("resource_id", "kind"))
    assert kinds["module.site"] == "module" and kinds["data.terraform_remote_state.base"] == "data"
    assert all(r.current_version.version == 1 for r in WorkspaceResource.objects.filter(workspace=workspace))

    path = tmp_path / "imported"
    files = _imported_workdir(workspace, path)
    assert "backend" not in files["main.tf"]  # the platform keeps the state; the backend block is left out
    doc = json.loads(files["main.tf.json"])
    assert set(doc["resource"]["terraform_data"]) == {"web", "db", "workers", "queues"}

    outputs, addresses = _apply(path)
    assert outputs == original[0]
    assert addresses == original[1]
    assert sorted(p.name for p in (path / "markers").iterdir()) == ["db.txt", "web.txt", "worker-0.txt", "worker-1.txt"]


def test_import_into_json_code_converts_variables_and_outputs_too(workspace, user, original, tmp_path):
    code_version_save(workspace=workspace, code=json.dumps({"output": {"kept": {"value": "from the old code"}}}),
                      code_format="json")
    report = resources_import(workspace=workspace, files=fixture_files("realistic"), user=user)
    assert set(report.created) == EXPECTED_ADDRESSES

    path = tmp_path / "imported"
    files = _imported_workdir(workspace, path)
    carried = json.loads(files["workspace.tf.json"])  # the JSON code travels next to the module files
    assert carried["variable"]["settings"]["type"] == "object({\n    enabled = bool\n    tags    = list(string)\n  })"
    assert carried["output"]["kept"] == {"value": "from the old code"}

    outputs, addresses = _apply(path)
    assert outputs.pop("kept")["value"] == "from the old code"
    assert outputs == original[0]
    assert addresses == original[1]


def test_import_without_modules_gives_one_json_document(workspace, user, tmp_path):
    files = fixture_files("realistic")
    files.pop("modules/site/main.tf")
    files["main.tf"] = re.sub(r'module "site" \{.*?\n\}\n', "", files["main.tf"], flags=re.S)
    files["outputs.tf"] = re.sub(r'output "site_pages" \{.*?\n\}\n', "", files["outputs.tf"], flags=re.S)
    report = resources_import(workspace=workspace, files=files, user=user)
    assert "module.site" not in report.created and len(report.created) == 5

    workspace.refresh_from_db()
    assert workspace.current_code_version.code_format == "json"
    doc = aggregate_main_tf(workspace)
    assert set(doc) >= {"variable", "output", "locals", "resource", "data", "terraform"}
    assert "backend" not in doc["terraform"]

    original_path = tmp_path / "original"
    write_workdir(original_path, files)
    expected = _apply(original_path)
    path = tmp_path / "imported"
    write_workdir(path, {"main.tf.json": json.dumps(doc, indent=2)})
    assert _apply(path) == expected


DYNAMIC_HCL = """
resource "terraform_data" "d" {
  input = "x"
  dynamic "setting" {
    for_each = var.settings
    iterator = s
    content {
      name  = s.key
      value = s.value
    }
  }
}
variable "settings" {
  type    = map(string)
  default = { a = "1" }
}
"""


def test_dynamic_blocks_are_read_by_terraform_like_the_original(tmp_path):
    """terraform_data has no nested blocks, so Terraform refuses both — with the same error at the
    same block type, which shows it reads the JSON dynamic block exactly as the HCL one."""
    from resources.importer import hcl_to_json

    doc = hcl_to_json(DYNAMIC_HCL)
    dynamic = doc["resource"]["terraform_data"]["d"]["dynamic"]
    assert dynamic == [{"setting": {"for_each": "${var.settings}", "iterator": "s",
                                    "content": {"name": "${s.key}", "value": "${s.value}"}}}]
    errors = []
    for name, text in (("main.tf", DYNAMIC_HCL), ("main.tf.json", json.dumps(doc))):
        path = tmp_path / name
        path.mkdir()
        (path / name).write_text(text)
        run_terraform(["init", "-input=false", "-no-color"], path)
        result = run_terraform(["validate", "-json", "-no-color"], path)
        diagnostics = json.loads(result.stdout)["diagnostics"]
        errors.append([(d["summary"], d["detail"]) for d in diagnostics])
    assert errors[0] == errors[1] == [("Unsupported block type", 'Blocks of type "setting" are not expected here.')]


EXPRESSIONS_HCL = r'''
variable "m" {
  type    = map(string)
  default = { b = "2", a = "1" }
}

locals {
  names = ["x", "y"]
  obj   = { in = "keyword key", "quoted key" = 1, (upper("k")) = -2.5, n = null }
}

output "escapes" {
  value = "tab\there \"q\" \\ $${literal} %%{literal} ${replace("a\nb", "\n", "|")} \u00e9"
}

output "directives" {
  value = "%{ for k, v in var.m }${k}=${v};%{ endfor }%{ if length(local.names) > 1 }many%{ else }one%{ endif }"
}

output "expressions" {
  value = {
    cond   = length(local.names) > 1 ? "many" : "one"
    splat  = [for o in [{ id = 1 }, { id = 2 }] : o][*].id
    for    = { for k, v in var.m : upper(k) => "${v}!" if v != "" }
    joined = join(
      ",", # a comment inside the call
      local.names,
    )
    math   = (1 + 2) * -3 % 4
    nested = [[1, 2], { a = [true, false] }]
    obj    = local.obj
  }
}

output "heredocs" {
  value = [<<EOT
plain "quotes" \n and ${local.names[0]}
EOT
  , <<-EOT
      trimmed
        indented $${not}
    EOT
  ]
}
'''


def test_expressions_evaluate_the_same_in_the_imported_json(tmp_path):
    """Terraform evaluates every output of the imported JSON exactly like the HCL it came from."""
    from resources.importer import hcl_to_json

    outputs = []
    for name, text in (("main.tf", EXPRESSIONS_HCL), ("main.tf.json", json.dumps(hcl_to_json(EXPRESSIONS_HCL)))):
        path = tmp_path / name
        path.mkdir()
        (path / name).write_text(text)
        assert run_terraform(["init", "-input=false", "-no-color"], path).returncode == 0
        apply = run_terraform(["apply", "-auto-approve", "-input=false", "-no-color"], path)
        assert apply.returncode == 0, apply.stderr
        outputs.append(json.loads(run_terraform(["output", "-json"], path).stdout))
    assert outputs[0] == outputs[1]
    assert outputs[1]["escapes"]["value"] == 'tab\there "q" \\ ${literal} %{literal} a|b é'
    assert outputs[1]["heredocs"]["value"] == ['plain "quotes" \\n and x\n', "trimmed\n  indented ${not}\n"]
