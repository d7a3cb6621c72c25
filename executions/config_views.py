"""The effective configuration page: what the next run of a workspace writes, and from where.

Thin: ``executions.effective_config`` builds it with the executor's own function.
"""

from django.views.decorators.http import require_safe

from executions.effective_config import effective_configuration
from iacplatform.pages import render_page
from workspaces.access import workspace_for
from workspaces.models import Role


@require_safe
def effective_configuration_view(request, name):
    workspace = workspace_for(request.user, name, Role.READER)
    return render_page(request, "executions/effective_configuration.html", {
        "workspace": workspace, "tab": "configuration", "config": effective_configuration(workspace),
    }, fragment="content")
