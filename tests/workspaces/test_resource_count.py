"""Issue 16, bug 7: the workspace list and the overview show the same, labelled resource count.

The list showed the state version's resource_count (instances of managed resources), the
overview the number of resource entries in the state (data sources included, count/for_each
instances not): 24 against 25 for one workspace.
"""

import re

import pytest
from django.urls import reverse

from tests.workspaces import version_helpers as vh
from workspaces.state import services as state_services

pytestmark = pytest.mark.django_db


def _state() -> str:
    data_source = {**vh.resource("lookup", [vh.instance("x")]), "mode": "data"}
    return vh.state(1, [
        vh.resource("web", [vh.instance(i, index_key=i) for i in range(3)]),  # count = 3
        vh.resource("db", [vh.instance("one")]),
        data_source,
    ])


def test_the_list_and_the_overview_agree_and_say_what_they_count(auth_client, workspace):
    version = state_services.state_upload(workspace=workspace, content=_state())
    assert version.resource_count == 4  # 3 + 1 instances; the data source is not a resource
    overview = auth_client.get(reverse("workspace_overview", args=["demo"])).content.decode()
    listing = auth_client.get(reverse("workspace_list")).content.decode()
    count = re.search(r'<h2>Resources <span class="count"[^>]*>(\d+)</span>', overview)
    assert count and count.group(1) == "4"  # the list's number, not the 3 entries of the state
    from workspaces.state.document import RESOURCE_COUNT_HELP

    shown = re.search(r'<span class="count" id="resource-count" title="([^"]*)">(\d+)</span>', overview)
    assert shown and shown.group(1) == RESOURCE_COUNT_HELP
    assert "4 resource instances" in overview and "(data source, not counted)" in overview
    row = re.search(r'<td class="num">(\d+)</td>', listing)
    assert row and row.group(1) == "4"
    assert f'<th class="num" title="{RESOURCE_COUNT_HELP}">Resource instances</th>' in listing


def test_one_definition():
    import json

    from workspaces.state.document import resource_instance_count

    assert resource_instance_count(json.loads(_state())) == 4
    assert resource_instance_count({"resources": []}) == 0
