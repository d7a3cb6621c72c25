from django.urls import path

from workspaces.placeholder import placeholder

urlpatterns = [
    path("workspaces/<str:name>/code/", placeholder("code"), name="code_edit"),
    path("workspaces/<str:name>/code/versions/<int:number>/", placeholder("code"), name="code_version_detail"),
    path("workspaces/<str:name>/states/", placeholder("states"), name="state_list"),
    path("workspaces/<str:name>/states/<int:serial>/", placeholder("states"), name="state_version_detail"),
]
