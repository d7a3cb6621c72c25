from django.urls import path

from workspaces import views
from workspaces.placeholder import placeholder

urlpatterns = [
    path("", views.workspace_list_view, name="workspace_list"),
    path("workspaces/<str:name>/", placeholder("overview"), name="workspace_overview"),
    path("workspaces/<str:name>/variables/", placeholder("variables"), name="variable_list"),
    path("workspaces/<str:name>/settings/", placeholder("settings"), name="workspace_settings"),
]
