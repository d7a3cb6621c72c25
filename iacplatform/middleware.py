from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.template.loader import render_to_string

from iacplatform.request_context import current_request


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the JSON API answers 401 by itself instead of redirecting."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class HtmxMessagesMiddleware:
    """Flash messages reach the screen in the HTMX answer that made them.

    A fragment answer does not render base.html, so a message added while making it would wait
    in the session and pop up on some later page; and the messages already on screen would stay
    there after the action. For an HTMX answer that rendered no messages itself, this appends
    the ``#messages`` box out of band (``hx-swap-oob``): the new messages, consumed now, or an
    empty box after an action (a non-GET request) so the old ones go. Redirects (htmx follows
    them and the followed request shows the messages), client-side redirects and non-HTML
    answers are left alone. Sits below MessageMiddleware (its response hook runs first).
    """

    SKIP_HEADERS = ("HX-Redirect", "HX-Location", "HX-Refresh")

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if not self._applies(request, response):
            return response
        storage = getattr(request, "_messages", None)
        if storage is None or storage.used:
            return response
        pending = list(storage)  # marks them used: they are shown by this answer
        if not pending and request.method == "GET":
            return response  # a poll or a filter: leave the messages on screen alone

        box = render_to_string("_messages.html", {"messages": pending, "oob": True}, request=request)
        response.content = response.content + box.encode(response.charset or "utf-8")
        if response.has_header("Content-Length"):
            response["Content-Length"] = str(len(response.content))
        return response

    def _applies(self, request, response) -> bool:
        if not getattr(request, "htmx", False) or getattr(response, "streaming", False):
            return False
        if 300 <= response.status_code < 400 or response.status_code == 204:
            return False
        if any(response.has_header(h) for h in self.SKIP_HEADERS):
            return False
        return response.get("Content-Type", "").startswith("text/html")


class RequestContextMiddleware:
    """Makes the request available to the audit trail (remote address, page or API, token or session)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
