from django.urls import path

from resources import views

urlpatterns = [
    path("workspaces/<str:name>/resources/", views.resource_list, name="resource_list"),
    path("workspaces/<str:name>/resources/new/", views.resource_create, name="resource_create"),
    path("workspaces/<str:name>/resources/import/", views.resource_import, name="resource_import"),
    path("workspaces/<str:name>/resources/deploy/", views.resource_deploy, name="resource_deploy"),
    path("workspaces/<str:name>/resources/dependencies/", views.dependency_graph, name="resource_dependency_graph"),
    path("workspaces/<str:name>/resources/snapshots/", views.snapshot_list, name="snapshot_list"),
    path("workspaces/<str:name>/resources/snapshots/<int:pk>/", views.snapshot_detail, name="snapshot_detail"),
    path("workspaces/<str:name>/resources/snapshots/<int:pk>/restore/", views.snapshot_restore,
         name="snapshot_restore"),
    path("workspaces/<str:name>/resources/snapshots/<int:pk>/delete/", views.snapshot_delete, name="snapshot_delete"),
    path("workspaces/<str:name>/resources/<int:pk>/", views.resource_detail, name="resource_detail"),
    path("workspaces/<str:name>/resources/<int:pk>/edit/", views.resource_edit, name="resource_edit"),
    path("workspaces/<str:name>/resources/<int:pk>/delete/", views.resource_delete, name="resource_delete"),
    path("workspaces/<str:name>/resources/<int:pk>/restore/", views.resource_restore, name="resource_restore"),
    path("workspaces/<str:name>/resources/<int:pk>/compare/", views.resource_compare, name="resource_compare"),
    path("workspaces/<str:name>/resources/<int:pk>/dependencies/", views.resource_dependencies,
         name="resource_dependencies"),
    path("workspaces/<str:name>/resources/<int:pk>/versions/<int:version>/", views.resource_version_detail,
         name="resource_version_detail"),
    path("workspaces/<str:name>/resources/<int:pk>/versions/<int:version>/rollback/", views.resource_rollback,
         name="resource_rollback"),
]
