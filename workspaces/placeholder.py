"""Temporary pages so every tab resolves while its owner builds it. Delete when unused."""

from django.shortcuts import render

from workspaces.selectors import workspace_get


def placeholder(tab):
    def view(request, name, **kwargs):
        return render(request, "workspaces/placeholder.html", {"workspace": workspace_get(name), "tab": tab})

    view.__name__ = f"placeholder_{tab}"
    return view
