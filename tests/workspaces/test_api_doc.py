"""docs/api.md's table: every page is a URL name, every endpoint is in the OpenAPI schema, every
command exists — and every API operation and page URL with a POST appears in the table."""

import re
from pathlib import Path

from django.core.management import get_commands
from django.urls import NoReverseMatch, get_resolver

from iacplatform.api import api

DOC = Path(__file__).resolve().parents[2] / "docs" / "api.md"


def _rows():
    for line in DOC.read_text().splitlines():
        cells = [c.strip() for c in re.split(r"(?<!\\)\|", line.strip())[1:-1]]
        if len(cells) == 5 and cells[0] not in ("action", "---"):
            yield cells


def test_every_row_names_real_pages_endpoints_and_commands():
    rows = list(_rows())
    assert len(rows) > 40
    url_names = {name for name in get_resolver().reverse_dict if isinstance(name, str)}
    schema = api.get_openapi_schema()["paths"]
    commands = get_commands()
    for action, role, page, endpoint, command in rows:
        if page != "—":
            assert page.strip("`") in url_names, (action, page)
        if endpoint != "—":
            method, path = endpoint.strip("`").split(" ", 1)
            assert method.lower() in schema.get(path, {}), (action, endpoint)
        if command != "—":
            name = command.strip("`").split()[1]
            assert name in commands, (action, command)


def test_every_api_operation_is_in_the_table():
    documented = {row[3].strip("`") for row in _rows()}
    for path, operations in api.get_openapi_schema()["paths"].items():
        for method in operations:
            assert f"{method.upper()} {path}" in documented, f"{method.upper()} {path} is missing from docs/api.md"


def test_the_issue_commands_exist():
    assert {"workspace_create", "variable_set", "code_save", "resources_import", "create_token"} <= set(get_commands())
    try:
        from django.urls import reverse

        reverse("token_list")
    except NoReverseMatch:  # pragma: no cover
        raise AssertionError("the API tokens page is missing") from None
