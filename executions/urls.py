from django.urls import path

from executions import hook_views, policy_views, views

urlpatterns = [
    path("workspaces/<str:name>/runs/", views.run_list_view, name="run_list"),
    path("workspaces/<str:name>/runs/new/", views.run_new_view, name="run_new"),
    path("workspaces/<str:name>/runs/<int:task_id>/", views.run_detail_view, name="run_detail"),
    path("workspaces/<str:name>/runs/<int:task_id>/logs/", views.run_logs_view, name="run_logs"),
    path("workspaces/<str:name>/runs/<int:task_id>/confirm/", views.run_confirm_view, name="run_confirm"),
    path("workspaces/<str:name>/runs/<int:task_id>/discard/", views.run_discard_view, name="run_discard"),
    path("workspaces/<str:name>/runs/<int:task_id>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("workspaces/<str:name>/runs/<int:task_id>/plan.json", hook_views.run_plan_json_view, name="run_plan_json"),
    path("workspaces/<str:name>/settings/hooks/", hook_views.hook_list_view, name="workspace_hooks"),
    path("workspaces/<str:name>/settings/hooks/<int:hook_id>/delete/", hook_views.hook_delete_view,
         name="workspace_hook_delete"),
    path("workspaces/<str:name>/runs/<int:task_id>/override/", policy_views.run_policy_override_view,
         name="run_policy_override"),
    path("workspaces/<str:name>/settings/policies/", policy_views.policy_list_view, name="workspace_policies"),
    path("workspaces/<str:name>/settings/policies/<int:policy_id>/", policy_views.policy_list_view,
         name="workspace_policy_edit"),
    path("workspaces/<str:name>/settings/policies/<int:policy_id>/delete/", policy_views.policy_delete_view,
         name="workspace_policy_delete"),
    path("policies/", policy_views.policy_list_view, name="global_policies"),
    path("policies/playground/", policy_views.policy_playground_view, name="policy_playground"),
    path("policies/<int:policy_id>/", policy_views.policy_list_view, name="global_policy_edit"),
    path("policies/<int:policy_id>/delete/", policy_views.policy_delete_view, name="global_policy_delete"),
    path("hooks/", hook_views.hook_list_view, name="global_hooks"),
    path("hooks/<int:hook_id>/delete/", hook_views.hook_delete_view, name="global_hook_delete"),
]
