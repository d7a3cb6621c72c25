from django.urls import path

from workspaces import views, views_backend

urlpatterns = [
    path("", views.workspace_list_view, name="workspace_list"),
    # Not under workspaces/: every name is a valid workspace name there.
    path("new/", views.workspace_create_view, name="workspace_create"),
    path("account/tokens/", views.token_list_view, name="token_list"),
    path("audit/", views.audit_view, name="audit"),
    path("account/tokens/<int:token_id>/revoke/", views.token_revoke_view, name="token_revoke"),
    path("workspaces/<str:name>/", views.workspace_overview_view, name="workspace_overview"),
    path("workspaces/<str:name>/lock/", views.workspace_lock_view, name="workspace_lock"),
    path("workspaces/<str:name>/unlock/", views.workspace_unlock_view, name="workspace_unlock"),
    path("workspaces/<str:name>/variables/", views.variable_list_view, name="variable_list"),
    path("workspaces/<str:name>/variables/<int:variable_id>/", views.variable_edit_view, name="variable_edit"),
    path("workspaces/<str:name>/variables/<int:variable_id>/delete/", views.variable_delete_view,
         name="variable_delete"),
    path("workspaces/<str:name>/cli-lock/break/", views.cli_lock_break_view, name="cli_lock_break"),
    # Terraform's http state backend (under /api/: no login redirect, no CSRF; basic auth with a token)
    path("api/backend/<str:name>/state", views_backend.backend_state_view, name="backend_state"),
    path("api/backend/<str:name>/lock", views_backend.backend_lock_view, name="backend_lock"),
    path("workspaces/<str:name>/settings/", views.workspace_settings_view, name="workspace_settings"),
    path("workspaces/<str:name>/members/", views.workspace_members_view, name="workspace_members"),
    path("workspaces/<str:name>/members/<int:member_id>/delete/", views.workspace_member_remove_view,
         name="workspace_member_remove"),
    path("workspaces/<str:name>/audit/", views.workspace_audit_view, name="workspace_audit"),
    path("workspaces/<str:name>/delete/", views.workspace_delete_view, name="workspace_delete"),
]
