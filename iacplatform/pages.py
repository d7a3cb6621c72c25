"""Rendering a page or, for an HTMX request, only its fragment (STYLE.md: one view, one template)."""

from django.shortcuts import render
from django.utils.cache import patch_vary_headers


def render_page(request, template: str, context: dict, *, fragment: str | None = None, status: int = 200):
    """Render the page, or only ``template#fragment`` for an HTMX request; vary on HX-Request."""
    name = f"{template}#{fragment}" if fragment and request.htmx else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response
