"""Code versions: validation, save, unchanged saves, rollback, compare (services and diffs)."""

import pytest

from iacplatform.errors import DomainError, NotFound
from workspaces.code import selectors as code_selectors
from workspaces.code import services as code_services
from workspaces.code.check import InvalidCode, check_code, detect_format
from workspaces.diffs import text_diff
from workspaces.models import WorkspaceCodeVersion

HCL_V1 = 'resource "terraform_data" "a" {\n  input = "one"\n}\n'
HCL_V2 = 'resource "terraform_data" "a" {\n  input = "two"\n}\n'
JSON_V = '{\n  "resource": {\n    "terraform_data": {\n      "a": {"input": "x"}\n    }\n  }\n}\n'


# --- validation -------------------------------------------------------------------------
def test_format_is_detected():
    assert detect_format(JSON_V) == "json"
    assert detect_format(HCL_V1) == "hcl"
    assert check_code(JSON_V) == "json"
    assert check_code(HCL_V1, "auto") == "hcl"


@pytest.mark.parametrize("code, fmt, line, column, words", [
    ('resource "terraform_data" "a" {\n  input = \n}\n', "hcl", 2, 11, "expected a value"),
    ('resource "terraform_data" "a" {\n  input = "x"\n', "hcl", 3, 1, "end of the file"),
    ('resource "a" "b" {\n  x = @\n}\n', "hcl", 2, 7, "'@'"),
    ('x = 1\n', "hcl", 1, 1, "not allowed at the top level"),
    ('resource "a" "b" {}\nbogus {}\n', "hcl", 2, 1, "Unknown top-level block type 'bogus'"),
    ('{\n  "resource": {,}\n}', "json", 2, 16, "Expecting property name"),
    ('{\n  "resources": {}\n}', "json", 2, 3, "Unknown top-level block type 'resources'"),
    ('[1, 2]', "json", 1, 1, "must be an object"),
    ("   \n", "hcl", 1, 1, "empty"),
])
def test_invalid_code_names_line_and_column(code, fmt, line, column, words):
    with pytest.raises(InvalidCode) as info:
        check_code(code)
    problem = info.value.problem
    assert (problem.line, problem.column) == (line, column), str(problem)
    assert words in problem.reason
    assert info.value.code_format == fmt
    assert f"line {line}, column {column}" in info.value.message
    assert info.value.status == 400 and info.value.errors["code"]


def test_chosen_format_wins_over_detection():
    with pytest.raises(InvalidCode) as info:
        check_code(HCL_V1, "json")
    assert info.value.problem.line == 1 and "Terraform JSON" in info.value.message
    with pytest.raises(DomainError):
        check_code(HCL_V1, "yaml")


# --- save ---------------------------------------------------------------------------------
def test_edit_makes_a_version_and_unchanged_save_makes_none(workspace, user):
    v1, created = code_services.code_save(workspace=workspace, code=HCL_V1, message="first", author=user)
    assert created and v1.number == 1 and v1.code_format == "hcl" and v1.author == user
    v2, created = code_services.code_save(workspace=workspace, code=HCL_V2, message="second", author=user)
    assert created and v2.number == 2
    again, created = code_services.code_save(workspace=workspace, code=HCL_V2, message="same again", author=user)
    assert not created and again.pk == v2.pk
    workspace.refresh_from_db()
    assert workspace.current_code_version_id == v2.pk
    assert WorkspaceCodeVersion.objects.filter(workspace=workspace).count() == 2


def test_invalid_code_saves_nothing(workspace, user):
    code_services.code_save(workspace=workspace, code=HCL_V1, author=user)
    with pytest.raises(InvalidCode) as info:
        code_services.code_save(workspace=workspace, code='resource "a" "b" {\n  x = \n}\n', author=user)
    assert "line 2, column" in info.value.message
    workspace.refresh_from_db()
    assert workspace.current_code_version.number == 1
    assert WorkspaceCodeVersion.objects.filter(workspace=workspace).count() == 1


def test_message_too_long_is_refused(workspace):
    with pytest.raises(DomainError) as info:
        code_services.code_save(workspace=workspace, code=HCL_V1, message="x" * 501)
    assert "message" in info.value.errors
    assert not WorkspaceCodeVersion.objects.filter(workspace=workspace).exists()


# --- rollback -----------------------------------------------------------------------------
def test_rollback_makes_a_new_version_with_the_old_content(workspace, user):
    v1, _ = code_services.code_save(workspace=workspace, code=HCL_V1, author=user)
    code_services.code_save(workspace=workspace, code=HCL_V2, author=user)
    v3, created = code_services.code_version_rollback(workspace=workspace, number=1, author=user)
    assert created and v3.number == 3
    assert v3.code == v1.code and v3.code_format == v1.code_format and v3.checksum == v1.checksum
    assert "Rollback to version 1" in v3.message
    workspace.refresh_from_db()
    assert workspace.current_code_version_id == v3.pk
    # History is never rewritten.
    assert list(WorkspaceCodeVersion.objects.filter(workspace=workspace).values_list("number", flat=True)
                .order_by("number")) == [1, 2, 3]


def test_rollback_to_the_current_content_creates_nothing(workspace):
    code_services.code_save(workspace=workspace, code=HCL_V1)
    version, created = code_services.code_version_rollback(workspace=workspace, number=1)
    assert not created and version.number == 1


def test_rollback_to_a_missing_version_is_not_found(workspace, db):
    with pytest.raises(NotFound):
        code_services.code_version_rollback(workspace=workspace, number=7)


# --- compare -----------------------------------------------------------------------------
def test_compare_shows_exactly_the_changed_lines(workspace):
    code_services.code_save(workspace=workspace, code=HCL_V1)
    code_services.code_save(workspace=workspace, code=HCL_V2)
    comparison = code_selectors.code_compare(workspace=workspace, from_number=1, to_number=2)
    changed = [(row.kind, row.old, row.new, row.text) for row in comparison.diff.unified if row.kind != "eq"]
    assert changed == [("del", 2, None, '  input = "one"'), ("ins", None, 2, '  input = "two"')]
    assert comparison.diff.added == 1 and comparison.diff.removed == 1
    assert comparison.provider_diff is None


def test_compare_versions_of_another_workspace_is_not_found(workspace, db):
    from workspaces.models import Workspace

    other = Workspace.objects.create(name="other")
    code_services.code_save(workspace=other, code=HCL_V1)
    code_services.code_save(workspace=other, code=HCL_V2)
    with pytest.raises(NotFound):
        code_selectors.code_compare(workspace=workspace, from_number=1, to_number=2)


def test_unchanged_runs_are_folded_and_context_is_kept():
    old = "".join(f"line {i}\n" for i in range(1, 41))
    new = old.replace("line 20\n", "line twenty\n")
    diff = text_diff(old, new)
    kinds = [row.kind for row in diff.unified]
    assert kinds == ["fold"] + ["eq"] * 3 + ["del", "ins"] + ["eq"] * 3 + ["fold"]
    assert diff.unified[0].count == 16 and diff.unified[-1].count == 17
    assert [row.text for row in diff.unified if row.kind == "eq"][:3] == ["line 17", "line 18", "line 19"]
    full = text_diff(old, new, context=None)
    assert "fold" not in [row.kind for row in full.unified] and len(full.unified) == 41


def test_side_by_side_pairs_removed_and_added_lines():
    diff = text_diff("a\nb\nc\n", "a\nB\nx\nc\n")
    rows = [(r.kind, r.left.kind if r.left else None, r.left.text if r.left else None,
             r.right.kind if r.right else None, r.right.text if r.right else None) for r in diff.split]
    assert rows == [
        ("eq", "eq", "a", "eq", "a"),
        ("change", "del", "b", "ins", "B"),
        ("change", "blank", "", "ins", "x"),
        ("eq", "eq", "c", "eq", "c"),
    ]
    assert text_diff("same\n", "same\n").identical


def test_side_by_side_and_api_rows_fold_long_unchanged_runs():
    old = "".join(f"line {i}\n" for i in range(1, 21))
    diff = text_diff(old, old.replace("line 10\n", "line ten\n"))
    kinds = [row.kind for row in diff.split]
    assert kinds == ["fold"] + ["eq"] * 3 + ["change"] + ["eq"] * 3 + ["fold"]
    assert diff.split[0].count == 6 and diff.split[-1].count == 7
    rows = diff.as_json()
    assert rows[0] == {"kind": "fold", "old": 1, "new": 1, "count": 6}
    assert {"kind": "ins", "old": None, "new": 10, "text": "line ten"} in rows
