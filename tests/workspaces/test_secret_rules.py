"""The one module of masking and redaction rules (workspaces.secrets), rule by rule."""

import json

import pytest

from iacplatform.errors import Conflict
from workspaces.models import Variable
from workspaces.runs import RunsPort
from workspaces.secrets import (
    MASK, REDACTED, SENSITIVE, UNKNOWN, mask_outputs, mask_plan_change, masked_attributes, plain, redact, redact_tree,
    secret_forms, state_secret_strings, variable_display_value, variable_secret_strings,
)


def test_short_secrets_are_masked_only_when_they_are_the_whole_value():
    assert redact("abc", ["abc"]) == SENSITIVE
    assert redact("xabcx", ["abc"]) == "xabcx"  # masking every "abc" of a text would ruin it
    assert redact("token=hunter2!", ["hunter2!"]) == f"token={SENSITIVE}"
    assert redact("a hunter2! b", ["hunter2!"], REDACTED) == f"a {REDACTED} b"


def test_redact_tree_walks_dicts_and_lists():
    tree = {"a": ["x-s3cret-y", {"b": "s3cret"}], "n": 3, "none": None}
    assert redact_tree(tree, ["s3cret"]) == {"a": [f"x-{SENSITIVE}-y", {"b": SENSITIVE}], "n": 3, "none": None}


def test_secret_forms_cover_escaped_and_multi_line_values():
    forms = secret_forms('line one "quoted"\nsecond-line-here\n}')
    assert 'line one "quoted"' in forms and "second-line-here" in forms
    assert 'line one \\"quoted\\"\\nsecond-line-here\\n}' in forms  # the JSON-escaped whole
    assert "}" not in forms  # too short a line to mask on its own
    assert secret_forms("single") == {"single"}


def test_variable_secret_strings_take_sensitive_values_and_hcl_string_literals(workspace):
    plain_var = Variable(workspace=workspace, key="region")
    plain_var.set_value("eu-west-1")
    secret = Variable(workspace=workspace, key="db", sensitive=True, hcl=True)
    secret.set_value('{ user = "admin", password = "pa55word-xyz" }')
    found = variable_secret_strings([plain_var, secret])
    assert "pa55word-xyz" in found and "eu-west-1" not in found
    assert found == sorted(found, key=len, reverse=True)  # longest first
    assert variable_display_value(secret) == SENSITIVE and variable_display_value(plain_var) == "eu-west-1"


def _instance(attributes, paths):
    return {"attributes": attributes, "sensitive_attributes": paths}


def test_state_masking_follows_sensitive_paths_and_copies_of_their_values():
    instance = _instance(
        {"input": {"value": {"pw": "hunter2-long", "user": "ops"}, "type": ["object", {}]},
         "output": {"value": {"pw": "hunter2-long", "user": "ops"}, "type": ["object", {}]},
         "tags": ["a", "b"]},
        [[{"type": "get_attr", "value": "input"}, {"type": "index", "value": {"value": "pw", "type": "string"}}]],
    )
    shown = masked_attributes(instance, [])
    assert shown["input"] == {"pw": SENSITIVE, "user": "ops"}
    assert shown["output"]["pw"] == SENSITIVE  # terraform's unmarked copy is masked too
    assert shown["tags"] == ["a", "b"]
    assert state_secret_strings({"resources": [{"instances": [instance]}],
                                 "outputs": {"o": {"value": "out-secret", "sensitive": True}}}) >= ["hunter2-long"]


def test_unreadable_sensitive_paths_mask_the_whole_attribute_or_everything():
    whole = masked_attributes(_instance({"a": {"b": 1}, "c": 2}, [[{"type": "get_attr", "value": "a"},
                                                                    {"type": "weird"}]]), [])
    assert whole == {"a": SENSITIVE, "c": 2}
    everything = masked_attributes(_instance({"a": 1}, "not a list"), [])
    assert everything == SENSITIVE
    assert plain([MASK, {"x": MASK}]) == [SENSITIVE, {"x": SENSITIVE}]


def test_outputs_and_plan_changes_are_masked():
    assert mask_outputs({"o": {"value": "v", "type": "string", "sensitive": True}, "p": {"value": 1}}) == {
        "o": {"value": SENSITIVE, "type": "string", "sensitive": True},
        "p": {"value": 1, "type": None, "sensitive": False}}
    before, after = mask_plan_change({
        "before": {"input": "old-secret-1", "list": ["x", "y"], "copy": "old-secret-1"},
        "after": {"input": "new-secret-2", "list": ["x", None], "id": None},
        "before_sensitive": {"input": True, "list": [False, True]},
        "after_sensitive": {"input": True},
        "after_unknown": {"id": True, "list": [False, True]},
    })
    assert before == {"copy": SENSITIVE, "input": SENSITIVE, "list": ["x", SENSITIVE]}
    assert after == {"id": UNKNOWN, "input": SENSITIVE, "list": ["x", UNKNOWN]}
    assert json.dumps(after)  # plain JSON again


def test_without_the_executions_app_a_workspace_has_no_runs(workspace):
    port = RunsPort()
    assert port.running_run_id(workspace) is None and port.active_run_id(workspace) is None
    assert port.code_version_runs([1, 2]) == ({}, {})
    assert port.overview(workspace)["runs"] == [] and port.overview(workspace)["latest"] is None
    assert port.annotate_workspace_list("qs") == "qs"
    assert port.running_run_lock_info(workspace) is None
    port.workspace_unlocked(workspace)
    port.before_workspace_delete(workspace)
    port.drift_schedule_changed(workspace)
    port.workspace_lock_changed(workspace, locked=True, reason="r")
    with pytest.raises(Conflict, match="not installed"):
        port.queue_plan(workspace=workspace, kind="plan")
