from django.urls import path

from workspaces import views

urlpatterns = [
    path("", views.workspace_list_view, name="workspace_list"),
]
