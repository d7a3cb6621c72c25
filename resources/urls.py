from django.urls import path

from workspaces.placeholder import placeholder

urlpatterns = [
    path("workspaces/<str:name>/resources/", placeholder("resources"), name="resource_list"),
]
