"""The Django admin's hook form holds every setting the pages and the API have, asynchronous too."""

import pytest
from django.urls import reverse

from executions.check_models import Hook

pytestmark = pytest.mark.django_db


def test_an_asynchronous_http_hook_is_saved_from_the_admin(admin_client_logged):
    response = admin_client_logged.post(reverse("admin:executions_hook_add"), {
        "name": "run-task", "stage": "post_plan", "kind": "http", "enforcement": "advisory",
        "url": "https://hooks.example.test/run-task", "asynchronous": "on", "timeout": "60", "enabled": "on",
        "new_secret": "s3cret-admin-hook",
    })
    assert response.status_code == 302, response.content.decode()[-2000:]
    hook = Hook.objects.get(name="run-task")
    assert hook.asynchronous and hook.kind == "http" and "s3cret-admin-hook" not in hook.secret
    page = admin_client_logged.get(reverse("admin:executions_hook_change", args=[hook.pk])).content.decode()
    assert 'name="asynchronous"' in page and "s3cret-admin-hook" not in page
