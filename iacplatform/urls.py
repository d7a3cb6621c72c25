from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from iacplatform.api import api

urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("", include("workspaces.urls")),
    path("", include("workspaces.urls_versions")),
    path("", include("executions.urls")),
    path("", include("resources.urls")),
]

handler403 = "workspaces.views.permission_denied"
handler404 = "workspaces.views.page_not_found"
