"""State versions: compare by resource (real Terraform states), masking, rollback, upload, download."""

import json
import logging

import pytest

from executions.models import WorkspaceTask
from iacplatform import errors as errors_mod
from iacplatform import inputs
from iacplatform.errors import Conflict, DomainError, NotFound
from tests.conftest import run_terraform
from tests.workspaces import version_helpers as vh
from workspaces import secrets
from workspaces.models import Role, StateVersion, Variable, Workspace, WorkspaceMember
from workspaces.state import compare as state_compare_mod
from workspaces.state import selectors as state_selectors
from workspaces.state import services as state_services
from workspaces.state.document import InvalidState
from workspaces.state.services import state_version_create

PASSWORD_1 = "Tf-pass-ONE-7f1a"
PASSWORD_2 = "Tf-pass-TWO-9c2b"

CONFIG = """
variable "pw" {
  type      = string
  sensitive = true
}
resource "terraform_data" "keep" {
  input = "same"
}
resource "terraform_data" "app" {
  input = { name = "%(name)s", password = var.pw }
}
%(extra)s
module "net" {
  source = "./modules/net"
}
output "pw" {
  value     = var.pw
  sensitive = true
}
output "name" {
  value = "%(name)s"
}
"""
FIRST = {"name": "one", "extra": 'resource "terraform_data" "old" {\n  input = "bye"\n}'}
SECOND = {"name": "two", "extra": 'resource "terraform_data" "new" {\n  count = 2\n  input = count.index\n}'}


@pytest.fixture(scope="module")
def applied_states(tmp_path_factory):
    """Two real `terraform apply`s of the same working directory: (state after 1st, after 2nd)."""
    work = tmp_path_factory.mktemp("tf-states")
    (work / "modules" / "net").mkdir(parents=True)
    (work / "modules" / "net" / "main.tf").write_text('resource "terraform_data" "subnet" {\n  input = "10.0.0.0/24"\n}\n')
    states = []
    for params, password in ((FIRST, PASSWORD_1), (SECOND, PASSWORD_2)):
        (work / "main.tf").write_text(CONFIG % params)
        (work / "terraform.tfvars").write_text(f'pw = "{password}"\n')
        if not states:
            result = run_terraform(["init", "-input=false", "-no-color"], work)
            assert result.returncode == 0, result.stderr
        result = run_terraform(["apply", "-auto-approve", "-input=false", "-no-color"], work)
        assert result.returncode == 0, result.stdout + result.stderr
        states.append((work / "terraform.tfstate").read_text())
    return states


@pytest.fixture
def two_versions(workspace, applied_states):
    first = state_version_create(workspace=workspace, content=applied_states[0])
    second = state_version_create(workspace=workspace, content=applied_states[1])
    return first, second


def test_compare_after_two_applies_lists_added_changed_removed(workspace, two_versions):
    first, second = two_versions
    comparison = state_compare_mod.state_compare(workspace=workspace, from_serial=first.serial, to_serial=second.serial)
    assert [c.address for c in comparison.added] == ["terraform_data.new[0]", "terraform_data.new[1]"]
    assert [c.address for c in comparison.removed] == ["terraform_data.old"]
    assert [c.address for c in comparison.changed] == ["terraform_data.app"]
    assert comparison.unchanged == 2  # terraform_data.keep and module.net.terraform_data.subnet
    attributes = {a.name: a for a in comparison.changed[0].attributes}
    assert attributes["input.name"].before == "one" and attributes["input.name"].after == "two"
    # The sensitive attribute changed and shows masked; so does its unmarked copy in `output`.
    assert attributes["input.password"].sensitive
    assert attributes["input.password"].before == attributes["input.password"].after == "(sensitive)"
    assert attributes["output.password"].before == "(sensitive)"
    outputs = {o.name: o for o in comparison.outputs}
    assert outputs["pw"].sensitive and outputs["pw"].before == outputs["pw"].after == "(sensitive)"
    assert outputs["name"].before == "one" and outputs["name"].after == "two"
    dumped = repr(comparison)
    assert PASSWORD_1 not in dumped and PASSWORD_2 not in dumped


def test_state_detail_lists_resources_and_masks_sensitive_values(workspace, two_versions):
    first, _ = two_versions
    detail = state_selectors.state_detail(workspace=workspace, serial=first.serial)
    assert [r.address for r in detail.resources] == [
        "module.net.terraform_data.subnet", "terraform_data.app", "terraform_data.keep", "terraform_data.old"]
    assert {r.type for r in detail.resources} == {"terraform_data"}
    detail.mask(detail.resources)
    shown = json.dumps([r.instances for r in detail.resources]) + json.dumps(detail.outputs)
    assert PASSWORD_1 not in shown and "(sensitive)" in shown
    assert {o["name"]: o["value"] for o in detail.outputs} == {"name": "one", "pw": "(sensitive)"}


def test_workspace_sensitive_variables_are_masked_anywhere(workspace):
    var = Variable(workspace=workspace, key="token", sensitive=True)
    var.set_value("tok-ABCDEF-123")
    var.save()
    state_version_create(workspace=workspace, content=vh.state(1, [vh.resource("a", [vh.instance("plain")])]))
    state_version_create(workspace=workspace, content=vh.state(2, [vh.resource("a", [vh.instance("x-tok-ABCDEF-123")])]))
    comparison = state_compare_mod.state_compare(workspace=workspace, from_serial=1, to_serial=2)
    assert "tok-ABCDEF-123" not in repr(comparison)
    assert comparison.changed[0].attributes[0].after == "x-(sensitive)"


def test_unknown_sensitive_attributes_format_masks_everything(workspace):
    inst = vh.instance({"password": "zzz-secret"})
    inst["sensitive_attributes"] = "something new"
    assert secrets.masked_attributes(inst, []) == "(sensitive)"


def test_rollback_makes_the_next_serial_with_the_old_resources(workspace, two_versions, user):
    first, second = two_versions
    rolled = state_services.state_rollback(workspace=workspace, serial=first.serial, user=user)
    assert rolled.serial == second.serial + 1
    assert rolled.lineage == first.lineage and rolled.source == "rollback" and rolled.created_by == user
    data = json.loads(rolled.content)
    assert data["serial"] == rolled.serial and data["lineage"] == first.lineage
    assert sorted(r["name"] for r in data["resources"]) == sorted(r["name"] for r in json.loads(first.content)["resources"])
    assert StateVersion.objects.filter(workspace=workspace).count() == 3
    comparison = state_compare_mod.state_compare(workspace=workspace, from_serial=first.serial, to_serial=rolled.serial)
    assert not comparison.changes


def test_rollback_is_refused_while_a_task_runs(workspace, two_versions):
    first, _ = two_versions
    task = WorkspaceTask.objects.create(workspace=workspace, task_type="plan", status="running")
    with pytest.raises(Conflict) as info:
        state_services.state_rollback(workspace=workspace, serial=first.serial)
    assert f"Run #{task.pk} is running" in info.value.message
    assert StateVersion.objects.filter(workspace=workspace).count() == 2


def test_rollback_to_the_current_serial_or_a_missing_one_is_refused(workspace, two_versions):
    _, second = two_versions
    with pytest.raises(Conflict):
        state_services.state_rollback(workspace=workspace, serial=second.serial)
    with pytest.raises(NotFound):
        state_services.state_rollback(workspace=workspace, serial=999)


# --- upload ---------------------------------------------------------------------------------
def test_upload_into_an_empty_workspace(workspace, user):
    first, _ = vh.two_states()
    version = state_services.state_upload(workspace=workspace, content=first.encode(), user=user)
    assert version.serial == 1 and version.source == "upload" and version.created_by == user
    assert version.resource_count == 3


def test_upload_of_another_lineage_is_refused_unless_forced(workspace):
    first, second = vh.two_states()
    state_services.state_upload(workspace=workspace, content=first)
    foreign = vh.state(5, [vh.resource("x", [vh.instance("x")])], lineage=vh.OTHER_LINEAGE)
    with pytest.raises(Conflict) as info:
        state_services.state_upload(workspace=workspace, content=foreign)
    assert "Lineage" in info.value.message and "Force" in info.value.message
    assert StateVersion.objects.filter(workspace=workspace).count() == 1
    forced = state_services.state_upload(workspace=workspace, content=foreign, force=True)
    assert forced.serial == 5 and forced.lineage == vh.OTHER_LINEAGE


def test_upload_of_an_older_serial_is_refused_unless_forced(workspace):
    first, second = vh.two_states()
    state_services.state_upload(workspace=workspace, content=second)
    with pytest.raises(Conflict) as info:
        state_services.state_upload(workspace=workspace, content=first)
    assert "not newer" in info.value.message
    forced = state_services.state_upload(workspace=workspace, content=first, force=True)
    assert forced.serial == 3 and json.loads(forced.content)["serial"] == 3


@pytest.mark.parametrize("content, words", [
    (b"", "empty"),
    (b"not json at all", "not valid JSON"),
    (b"\xff\xfe\x00", "not UTF-8"),
    (b"[1, 2]", "JSON object"),
    (json.dumps({"version": 3, "serial": 1, "lineage": "x"}).encode(), "format version 3"),
    (json.dumps({"version": 4, "serial": "one", "lineage": "x"}).encode(), "serial"),
    (json.dumps({"version": 4, "serial": 1}).encode(), "lineage"),
    (json.dumps({"version": 4, "serial": 1, "lineage": "x", "resources": [{"type": "a"}]}).encode(),
     "resources[0] has no 'name'"),
])
def test_malformed_upload_is_refused_and_changes_nothing(workspace, content, words):
    first, _ = vh.two_states()
    state_services.state_upload(workspace=workspace, content=first)
    with pytest.raises(InvalidState) as info:
        state_services.state_upload(workspace=workspace, content=content, force=True)
    assert words in info.value.message and info.value.status == 400
    assert StateVersion.objects.filter(workspace=workspace).count() == 1


def test_upload_is_refused_while_a_task_runs(workspace):
    WorkspaceTask.objects.create(workspace=workspace, task_type="plan_and_apply", status="running")
    with pytest.raises(Conflict):
        state_services.state_upload(workspace=workspace, content=vh.two_states()[0])
    assert not StateVersion.objects.filter(workspace=workspace).exists()


# --- download ---------------------------------------------------------------------------
def test_download_needs_the_admin_role_and_is_logged(workspace, member, caplog):
    first, _ = vh.two_states()
    state_services.state_upload(workspace=workspace, content=first)
    applier = member(workspace, Role.APPLIER, username="applier")
    with caplog.at_level(logging.INFO, logger="workspaces.state"):
        with pytest.raises(errors_mod.Forbidden):
            state_services.state_download(workspace=workspace, serial=1, user=applier)
        assert "refused user=applier workspace=demo serial=1" in caplog.text
        WorkspaceMember.objects.filter(user=applier).update(role=Role.ADMIN)
        filename, content = state_services.state_download(workspace=workspace, serial=1, user=applier)
    assert filename == "demo-serial-1.tfstate" and content == first
    assert "state download user=applier workspace=demo serial=1" in caplog.text
    assert vh.SECRET not in caplog.text


def test_versions_of_another_workspace_are_not_found(workspace):
    other = Workspace.objects.create(name="other")
    first, second = vh.two_states()
    state_services.state_upload(workspace=other, content=first)
    state_services.state_upload(workspace=other, content=second)
    with pytest.raises(NotFound):
        state_selectors.state_detail(workspace=workspace, serial=1)
    with pytest.raises(NotFound):
        state_compare_mod.state_compare(workspace=workspace, from_serial=1, to_serial=2)
    with pytest.raises(NotFound):
        state_services.state_rollback(workspace=workspace, serial=1)


def test_parse_number_refuses_bad_numbers():
    assert inputs.parse_number("7") == 7
    for bad in ("abc", "0", "-1", "1.5", "", None, "99999999999999999999"):
        with pytest.raises(DomainError):
            inputs.parse_number(bad)
    assert inputs.parse_number("0", minimum=0) == 0
