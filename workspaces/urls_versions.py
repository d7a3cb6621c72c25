from django.urls import path

from workspaces import views_versions as views

urlpatterns = [
    # Code: the editor (the "Code" tab), its history, one version, compare, rollback.
    path("workspaces/<str:name>/code/", views.code_edit, name="code_edit"),
    path("workspaces/<str:name>/code/versions/", views.code_history, name="code_history"),
    path("workspaces/<str:name>/code/versions/<int:number>/", views.code_version_detail, name="code_version_detail"),
    path("workspaces/<str:name>/code/versions/<int:number>/rollback/", views.code_version_rollback,
         name="code_version_rollback"),
    path("workspaces/<str:name>/code/compare/", views.code_compare, name="code_compare"),
    # State: history, upload, compare, one version, its download and rollback.
    path("workspaces/<str:name>/states/", views.state_list, name="state_list"),
    path("workspaces/<str:name>/states/upload/", views.state_upload, name="state_upload"),
    path("workspaces/<str:name>/states/compare/", views.state_compare, name="state_compare"),
    path("workspaces/<str:name>/states/<int:serial>/", views.state_version_detail, name="state_version_detail"),
    path("workspaces/<str:name>/states/<int:serial>/download/", views.state_download, name="state_download"),
    path("workspaces/<str:name>/states/<int:serial>/rollback/", views.state_rollback, name="state_rollback"),
]
