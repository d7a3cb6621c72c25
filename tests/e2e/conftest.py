"""Browser tests: Playwright's sync API driving Debian's chromium against pytest-django's live server.

Never `playwright install`: the browser is the system's chromium. Screenshots go to
artifacts/screenshots/ (git-ignored); a failing test leaves one named after it.
"""

import os
import re
import shutil
from pathlib import Path

import pytest

# Playwright's sync API runs an event loop in this thread; Django would then refuse ORM
# calls from the test ("SynchronousOnlyOperation") although nothing here is async.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

SCREENSHOTS = Path(__file__).resolve().parents[2] / "artifacts" / "screenshots"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
                 "--disable-sync", "--no-first-run"]
PASSWORD = "pw-e2e-operator-123"


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    report = outcome.get_result()
    setattr(item, f"rep_{report.when}", report)


@pytest.fixture(autouse=True)
def _short_log_streams(settings):
    """A run page's live-log stream holds a live-server thread (and its database connection) until
    it ends: keep them short here, so none outlives its test by more than a few seconds."""
    settings.IAC_LOG_STREAM_SECONDS = 5


@pytest.fixture(scope="session")
def chromium_path():
    path = shutil.which("chromium") or shutil.which("chromium-browser")
    if not path:
        pytest.skip("Debian's chromium is not installed (apt-get install chromium)")
    return path


@pytest.fixture(scope="session")
def browser(chromium_path):
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium_path, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def page(browser, live_server, request):
    context = browser.new_context(base_url=live_server.url, viewport={"width": 1440, "height": 900})
    context.set_default_timeout(15_000)
    page = context.new_page()
    page.on("dialog", lambda dialog: dialog.accept())  # confirm() of delete/cancel buttons
    yield page
    failed = getattr(request.node, "rep_call", None)
    if failed is not None and failed.failed:
        shot(page, "failed-" + re.sub(r"[^\w.-]+", "_", request.node.name))
    context.close()


def shot(page, name: str) -> Path:
    """A full-page screenshot under artifacts/screenshots/<name>.png."""
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{name}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


@pytest.fixture
def operator(django_user_model, transactional_db):
    # A superuser: admin of every workspace (roles have their own tests).
    return django_user_model.objects.create_user(username="operator", password=PASSWORD, is_superuser=True)


@pytest.fixture
def logged_in(page, operator):
    """The login form, as an operator uses it."""
    page.goto("/")
    assert "/login/" in page.url
    page.fill("#id_username", operator.username)
    page.fill("#id_password", PASSWORD)
    page.click("button[type=submit]")
    page.wait_for_url(re.compile(r"/$"))
    return page


def fill_code(page, code: str, field: str = "code") -> None:
    """Replace the text of the code editor (CodeMirror over textarea[name=<field>]) as a user does:
    click into it, select all, type. Without the editor, fill the plain textarea."""
    editor = page.locator(f".cm-editor[data-editor-for={field}] .cm-content")
    if editor.count():
        editor.click()
        page.keyboard.press("Control+a")
        page.keyboard.press("Delete")
        page.keyboard.insert_text(code)
    else:
        page.fill(f"textarea[name={field}]", code)
