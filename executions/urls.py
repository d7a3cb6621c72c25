from django.urls import path

from workspaces.placeholder import placeholder

urlpatterns = [
    path("workspaces/<str:name>/runs/", placeholder("runs"), name="run_list"),
    path("workspaces/<str:name>/runs/<int:task_id>/", placeholder("runs"), name="run_detail"),
]
