"""Issue 16, points 3 and 5 in a real browser: the effective configuration page lists code and
managed resources with their origins; the code editor shows line numbers, highlights, and an
invalid save's error jumps the editor to the line it cites."""

import pytest
from playwright.sync_api import expect

from resources.services.resources import resource_create
from tests.e2e.conftest import fill_code, shot
from workspaces.code.services import code_version_save
from workspaces.models import Workspace
from workspaces.services import variable_set

pytestmark = pytest.mark.e2e
SECRET = "e2e-never-on-a-page-1234"
HCL = '''# Shown as written, with this comment.
resource "terraform_data" "from_code" {
  input = "code"
}
'''
BROKEN = '''resource "terraform_data" "a" {
  input = "a"
}

resource "terraform_data" "b" {
  input = "b"
  count = = 2
}
'''


@pytest.fixture
def workspace(transactional_db):
    return Workspace.objects.create(name="e2e-effconf")


def _cursor_line(page, field="code") -> int:
    return page.evaluate(
        """field => { const view = document.querySelector(`textarea[name=${field}]`).editorView;
                      return view.state.doc.lineAt(view.state.selection.main.head).number; }""", field)


def test_the_effective_configuration_lists_both_sources(logged_in, workspace):
    page = logged_in
    code_version_save(workspace=workspace, code=HCL, code_format="hcl", message="hcl")
    resource_create(workspace=workspace, code={"resource": {"terraform_data": {"web": {"input": "v1"}}}})
    variable_set(workspace=workspace, key="token", value=SECRET, sensitive=True)
    page.goto("/workspaces/e2e-effconf/code/")
    expect(page.locator("#config-sources")).to_contain_text("neither overrides the other")
    page.click("#config-sources >> text=See the effective configuration")
    page.wait_for_url("**/workspaces/e2e-effconf/configuration/")
    expect(page.locator(".tabs a.active")).to_have_text("Configuration")
    main_tf = page.locator("section[data-file='main.tf']")
    expect(main_tf).to_contain_text("# Shown as written, with this comment.")
    expect(main_tf.locator(".origin-code")).to_contain_text("code version 1")
    aggregate = page.locator("section[data-file='main.tf.json']")
    expect(aggregate.locator(".origin-resource")).to_contain_text("managed resource terraform_data.web v1")
    expect(page.locator("section[data-file='variables.tfvars']")).to_contain_text('token = "(sensitive)"')
    assert SECRET not in page.content()
    shot(page, "effective-configuration")
    page.click("section[data-file='main.tf.json'] >> text=managed resource terraform_data.web v1")
    page.wait_for_url("**/resources/*/versions/1/")


def test_the_editor_numbers_lines_and_jumps_to_an_error(logged_in, workspace):
    page = logged_in
    page.goto("/workspaces/e2e-effconf/code/")
    editor = page.locator(".cm-editor[data-editor-for=code]")
    expect(editor).to_be_visible()
    expect(page.locator("textarea[name=code]")).to_be_hidden()  # still the form field, behind the editor
    fill_code(page, BROKEN)
    expect(editor.locator(".cm-lineNumbers .cm-gutterElement", has_text="8")).to_have_count(1)
    expect(editor.locator(".cm-content")).to_contain_text("count = = 2")
    page.click(".code-form button[type=submit]")
    errors = page.locator("#code-errors")
    expect(errors).to_contain_text("line 7")
    jump = errors.locator("button.jump-to-line")
    expect(jump).to_have_text("Go to line 7")
    # The editor keeps what was typed, highlighted as HCL.
    expect(editor.locator(".cm-content")).to_contain_text("count = = 2")
    assert editor.locator(".cm-content span").count() > 5
    assert _cursor_line(page) == 7  # the refused page opens on the error's line
    page.evaluate("() => { const v = document.querySelector('textarea[name=code]').editorView;"
                  " v.dispatch({selection: {anchor: 0}}); }")
    assert _cursor_line(page) == 1
    jump.click()
    assert _cursor_line(page) == 7
    expect(editor.locator(".cm-activeLine")).to_contain_text("count = = 2")
    expect(editor.locator(".cm-lineNumbers .cm-activeLineGutter")).to_have_text("7")
    shot(page, "editor")
    # Fixed in the editor, the save goes through the textarea.
    page.keyboard.press("End")
    page.keyboard.press("Shift+Home")
    page.keyboard.insert_text('  extra = "fixed"')
    page.click(".code-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Saved as version 1")
    saved = Workspace.objects.get(pk=workspace.pk).current_code_version.code
    assert 'extra = "fixed"' in saved and "= = 2" not in saved


def test_the_resource_form_jumps_to_a_json_error(logged_in, workspace):
    page = logged_in
    page.goto("/workspaces/e2e-effconf/resources/new/")
    fill_code(page, '{\n  "resource": {\n    "terraform_data": {\n      "x": {"input": }\n    }\n  }\n}')
    page.click("#resource-form button[type=submit]")
    jump = page.locator("#code-errors button.jump-to-line")
    expect(jump).to_have_text("Go to line 4")
    jump.click()
    assert _cursor_line(page) == 4


def test_without_javascript_the_code_field_is_a_plain_textarea(browser, live_server, logged_in, workspace):
    context = browser.new_context(base_url=live_server.url, java_script_enabled=False)
    context.add_cookies(logged_in.context.cookies())
    page = context.new_page()
    page.goto("/workspaces/e2e-effconf/code/")
    expect(page.locator("textarea[name=code]")).to_be_visible()
    assert page.locator(".cm-editor").count() == 0
    page.fill("textarea[name=code]", HCL)
    page.click(".code-form button[type=submit]")
    expect(page.locator(".flash")).to_contain_text("Saved as version 1")
    context.close()
