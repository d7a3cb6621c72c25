from django.urls import path

from executions import views

urlpatterns = [
    path("workspaces/<str:name>/runs/", views.run_list_view, name="run_list"),
    path("workspaces/<str:name>/runs/new/", views.run_new_view, name="run_new"),
    path("workspaces/<str:name>/runs/<int:task_id>/", views.run_detail_view, name="run_detail"),
    path("workspaces/<str:name>/runs/<int:task_id>/logs/", views.run_logs_view, name="run_logs"),
    path("workspaces/<str:name>/runs/<int:task_id>/confirm/", views.run_confirm_view, name="run_confirm"),
    path("workspaces/<str:name>/runs/<int:task_id>/discard/", views.run_discard_view, name="run_discard"),
    path("workspaces/<str:name>/runs/<int:task_id>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("workspaces/<str:name>/drift/check/", views.drift_check_start_view, name="drift_check_start"),
    path("workspaces/<str:name>/drift/<int:task_id>/reconcile/", views.drift_reconcile_view, name="drift_reconcile"),
]
