"""Rendering a page or, for an HTMX request, only its fragment (STYLE.md: one view, one template)."""

from django.core.exceptions import ValidationError
from django.shortcuts import render
from django.utils.cache import patch_vary_headers

from iacplatform.errors import DomainError


def render_page(request, template: str, context: dict, *, fragment: str | None = None, status: int = 200):
    """Render the page, or only ``template#fragment`` for an HTMX request; vary on HX-Request."""
    name = f"{template}#{fragment}" if fragment and request.htmx else template
    response = render(request, name, context, status=status)
    patch_vary_headers(response, ("HX-Request",))
    return response


def form_error_from(form, exc: DomainError) -> None:
    """Put a domain error next to the fields it names, or above the form."""
    placed = False
    for field, errors in (exc.errors or {}).items():
        if field in form.fields:
            for error in errors if isinstance(errors, (list, tuple)) else [errors]:
                form.add_error(field, str(error))
            placed = True
    if not placed:
        form.add_error(None, exc.message)


def validation_error_to_form(form, exc: ValidationError) -> None:
    errors = exc.message_dict if hasattr(exc, "error_dict") else {None: exc.messages}
    for field, messages_ in errors.items():
        form.add_error(field if field in form.fields else None, messages_)
