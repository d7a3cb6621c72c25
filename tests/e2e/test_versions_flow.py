"""Code versions in a real browser, with a real django-q2 worker and real Terraform (issue 5).

two code versions written in the editor → plan & apply version 2 → Code tab → history →
version 1 → roll back (version 3 = version 1) → plan → the plan reverts version 2's change
→ compare version 1 ↔ 2 shows exactly the changed lines (unified and side by side, the
switch swapping only the diff), and version 1 ↔ 3 shows none.
"""

import re

import pytest
from playwright.sync_api import expect

from tests.e2e.conftest import shot
from tests.e2e.test_runs import RUN_TIMEOUT, save_code_in_editor, start_run
from workspaces.models import StateVersion, Workspace, WorkspaceCodeVersion

pytestmark = [pytest.mark.e2e, pytest.mark.worker]


def code(out_dir, version: int) -> str:
    """Version 1: bucket (input "v1") and legacy. Version 2: bucket's input "v2", legacy replaced by cache."""
    other, other_input = ("legacy", "old") if version == 1 else ("cache", "fresh")
    return f'''resource "terraform_data" "bucket" {{
  input = "v{version}"
  provisioner "local-exec" {{
    command = "echo created >> {out_dir}/bucket.log"
  }}
}}

resource "terraform_data" "{other}" {{
  input = "{other_input}"
  provisioner "local-exec" {{
    command = "echo created >> {out_dir}/{other}.log"
  }}
}}
'''


def changed_lines(out_dir) -> tuple[list[str], list[str]]:
    """(lines removed, lines added) from version 1 to 2, in order."""
    return (
        ['  input = "v1"', 'resource "terraform_data" "legacy" {', '  input = "old"',
         f'    command = "echo created >> {out_dir}/legacy.log"'],
        ['  input = "v2"', 'resource "terraform_data" "cache" {', '  input = "fresh"',
         f'    command = "echo created >> {out_dir}/cache.log"'],
    )


def row_texts(page, selector: str) -> list[str]:
    return page.locator(selector).all_inner_texts()


def test_roll_back_code_in_the_ui_plan_reverts_and_compare_shows_changed_lines(logged_in, live_worker, tmp_path):
    page = logged_in
    out = tmp_path / "out"
    out.mkdir()
    Workspace.objects.create(name="e2e-versions", description="code rollback")

    # two code versions, written in the editor
    save_code_in_editor(page, "e2e-versions", code(out, 1), "bucket and legacy")
    save_code_in_editor(page, "e2e-versions", code(out, 2), "bucket v2, legacy replaced by cache")
    saved = WorkspaceCodeVersion.objects.filter(workspace__name="e2e-versions").order_by("number")
    assert [(v.number, v.code) for v in saved] == [(1, code(out, 1)), (2, code(out, 2))]  # as typed, LF

    # plan & apply version 2
    start_run(page, "e2e-versions", "Apply version 2")
    expect(page.locator("#run-status")).to_contain_text("Needs confirmation", timeout=RUN_TIMEOUT)
    expect(page.locator("#plan-counts")).to_have_text(re.compile(r"\+2\s*~0\s*-0"))
    page.click("#confirm-button")
    page.wait_for_url(re.compile(r"/runs/\d+/$"))
    expect(page.locator("#run-status")).to_contain_text("Applied", timeout=RUN_TIMEOUT)
    assert (out / "bucket.log").read_text().split() == ["created"]
    assert (out / "cache.log").read_text().split() == ["created"]
    assert not (out / "legacy.log").exists()
    assert StateVersion.objects.filter(workspace__name="e2e-versions").count() == 1

    # Code tab → history → version 1 → roll back
    page.click(".tabs >> text=Code")
    page.wait_for_url("**/workspaces/e2e-versions/code/")
    page.click("text=All versions")
    page.wait_for_url("**/code/versions/")
    expect(page.locator("#code-v2")).to_contain_text("current")
    expect(page.locator("#code-v2")).to_contain_text("Applied")  # the apply run that used it
    page.click("#code-v1 >> text=v1")
    page.wait_for_url("**/code/versions/1/")
    expect(page.locator(".code-view")).to_contain_text('input = "v1"')
    page.click("button:has-text('Roll back to v1')")
    page.wait_for_url("**/workspaces/e2e-versions/code/")
    expect(page.locator(".flash")).to_contain_text("Rolled back: version 3 has the code of version 1.")
    expect(page.locator("textarea[name=code]")).to_have_value(re.compile(r'input = "v1"'))
    expect(page.locator("#code-v3")).to_contain_text("Rollback to version 1")
    expect(page.locator("#code-v3")).to_contain_text("current")
    shot(page, "code-rolled-back")
    v1, v3 = (WorkspaceCodeVersion.objects.get(workspace__name="e2e-versions", number=n) for n in (1, 3))
    assert v3.checksum == v1.checksum and v3.code == v1.code

    # plan: the state holds version 2's resources, the code is version 1 again
    start_run(page, "e2e-versions", "Plan the rollback", kind="plan")
    expect(page.locator("#run-status")).to_contain_text("Planned", timeout=RUN_TIMEOUT)
    expect(page.locator("#plan-counts")).to_have_text(re.compile(r"\+1\s*~1\s*-1"))
    plan_card = page.locator("#run-plan")
    expect(plan_card).to_contain_text("1 will be created")
    expect(plan_card).to_contain_text("1 will be updated in-place")
    expect(plan_card).to_contain_text("1 will be destroyed")
    expect(plan_card.locator(".plan-create .plan-resource")).to_contain_text("terraform_data.legacy")
    expect(plan_card.locator(".plan-delete .plan-resource")).to_contain_text("terraform_data.cache")
    bucket = plan_card.locator(".plan-update .plan-resource")
    expect(bucket).to_contain_text("terraform_data.bucket")
    expect(bucket.locator("tr", has_text="input")).to_contain_text('"v2" → "v1"')
    expect(page.locator("#run-details")).to_contain_text("Version 3")
    expect(page.locator("#log-lines")).to_contain_text("Plan: 1 to add, 1 to change, 1 to destroy.")
    assert not (out / "legacy.log").exists(), "a plan must not run provisioners"
    shot(page, "plan-after-code-rollback")

    # compare version 1 ↔ 2 from the history: exactly the changed lines
    page.goto("/workspaces/e2e-versions/code/versions/")
    page.check("input[name=from][value='1']")
    page.check("input[name=to][value='2']")
    page.click("button:has-text('Compare selected')")
    page.wait_for_url(re.compile(r"/code/compare/\?.*from=1"))
    removed, added = changed_lines(out)
    diff = page.locator("#diff")
    expect(diff.locator(".diff-summary")).to_contain_text("v1 → v2")
    expect(diff.locator(".diff-summary .counts")).to_have_text(re.compile(r"\+4\s*−4"))
    assert row_texts(page, "#diff .diff-unified .row.del .text") == removed
    assert row_texts(page, "#diff .diff-unified .row.ins .text") == added
    expect(diff.locator(".row.eq", has_text='resource "terraform_data" "bucket" {')).to_have_count(1)
    shot(page, "code-compare-unified")

    # side by side: only the diff fragment is swapped (HTMX), the changed lines face each other
    page.evaluate("document.getElementById('diff').dataset.marker = 'before-swap'")
    page.check("input[name=view][value=split]")
    expect(page.locator("#diff .diff-split")).to_be_visible()
    expect(page.locator("#diff")).not_to_have_attribute("data-marker", "before-swap")  # a new #diff
    assert page.evaluate("document.querySelector('.compare-form').isConnected")
    assert row_texts(page, "#diff .split-row .cell.del") == removed
    assert row_texts(page, "#diff .split-row .cell.ins") == added
    assert "view=split" in page.url
    shot(page, "code-compare-split")

    # version 1 ↔ 3: the rollback is the same code
    page.select_option(".compare-form select[name=to]", "3")
    expect(page.locator("#diff .diff-summary")).to_contain_text("v1 → v3")
    expect(page.locator("#diff .diff-identical")).to_contain_text("No differences")
