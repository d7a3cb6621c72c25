from django.urls import path

from executions import metrics, notification_views as notes, views

urlpatterns = [
    path("workspaces/<str:name>/runs/", views.run_list_view, name="run_list"),
    path("workspaces/<str:name>/runs/new/", views.run_new_view, name="run_new"),
    path("workspaces/<str:name>/runs/<int:task_id>/", views.run_detail_view, name="run_detail"),
    path("workspaces/<str:name>/runs/<int:task_id>/logs/", views.run_logs_view, name="run_logs"),
    path("workspaces/<str:name>/runs/<int:task_id>/confirm/", views.run_confirm_view, name="run_confirm"),
    path("workspaces/<str:name>/runs/<int:task_id>/discard/", views.run_discard_view, name="run_discard"),
    path("workspaces/<str:name>/runs/<int:task_id>/cancel/", views.run_cancel_view, name="run_cancel"),
    path("notifications/", notes.notification_list_view, name="notification_list"),
    path("notifications/<int:pk>/", notes.notification_detail_view, name="notification_detail"),
    path("notifications/<int:pk>/acknowledge/", notes.notification_acknowledge_view, name="notification_acknowledge"),
    path("notifications/deliveries/<int:pk>/resend/", notes.delivery_resend_view, name="delivery_resend"),
    path("notifications/channels/", notes.channel_list_view, name="channel_list"),
    path("notifications/channels/<int:pk>/", notes.channel_detail_view, name="channel_detail"),
    path("notifications/channels/<int:pk>/test/", notes.channel_test_view, name="channel_test"),
    path("notifications/channels/<int:pk>/delete/", notes.channel_delete_view, name="channel_delete"),
    path("metrics", metrics.metrics_view, name="metrics"),
]
