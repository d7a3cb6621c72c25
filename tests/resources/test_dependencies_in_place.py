"""Issue 16, bug 1: the Resources tab's dependency form answers in place, refused or saved.

A refused cycle came back as a 400 that htmx does not swap (nothing shown; with DEBUG,
django-htmx's hook replaced the whole page by the bare, unstyled fragment), and the success
message waited in the session for some later page.
"""

import json
import re

import pytest
from django.urls import reverse

from resources.models import ResourceDependency

pytestmark = pytest.mark.django_db
HX = {"HTTP_HX_REQUEST": "true"}


def url(name, *args):
    return reverse(name, args=["demo", *args])


def _htmx_config(html: str) -> dict:
    match = re.search(r'<meta name="htmx-config" content=\'([^\']*)\'', html)
    assert match, "base.html configures htmx"
    return json.loads(match.group(1))


def _swaps(config: dict, status: int) -> bool:
    for rule in config["responseHandling"]:
        if re.match(rule["code"], str(status)):
            return rule["swap"]
    raise AssertionError(f"no rule for {status}")


def test_a_refused_cycle_is_swapped_in_place_styled(auth_client, make_resource, settings):
    settings.DEBUG = True
    a, b = make_resource("a"), make_resource("b")
    auth_client.post(url("resource_dependencies", b.pk), {"depends_on": [a.pk]})
    page = auth_client.get(url("resource_dependencies", a.pk)).content.decode()
    config = _htmx_config(page)
    response = auth_client.post(url("resource_dependencies", a.pk), {"depends_on": [b.pk]}, **HX)
    assert response.status_code == 400
    assert _swaps(config, response.status_code) and not _swaps(config, 500)
    # no debug hook that would show a 400 as a bare page instead of swapping it
    assert "django-htmx.js" not in page
    html = response.content.decode()
    assert html.lstrip().startswith('<div id="deps"') and "<html" not in html
    assert 'class="flash flash-error"' in html and "terraform_data.a → terraform_data.b → terraform_data.a" in html
    assert not ResourceDependency.objects.filter(resource=a).exists()


def test_saved_dependencies_say_so_in_place_and_not_again(auth_client, make_resource):
    a, b = make_resource("a"), make_resource("b")
    response = auth_client.post(url("resource_dependencies", b.pk), {"depends_on": [a.pk]}, follow=True, **HX)
    html = response.content.decode()
    assert response.status_code == 200 and "<html" not in html and 'id="deps"' in html
    assert 'id="messages" aria-live="polite" hx-swap-oob="true"' in html
    assert "Saved the dependencies of terraform_data.b." in html
    later = auth_client.get(url("resource_list")).content.decode()
    assert "Saved the dependencies" not in later
