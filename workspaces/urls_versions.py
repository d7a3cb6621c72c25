from django.urls import path

from workspaces.placeholder import placeholder

urlpatterns = [
    path("workspaces/<str:name>/code/", placeholder("code"), name="code_edit"),
    path("workspaces/<str:name>/states/", placeholder("states"), name="state_list"),
]
