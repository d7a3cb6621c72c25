import json

from django.contrib.auth.middleware import LoginRequiredMiddleware
from django.core.exceptions import RequestDataTooBig
from django.http import JsonResponse
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


def _has_nul(value) -> bool:
    """A NUL character anywhere in a decoded JSON document (keys and values) or a string."""
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_has_nul(k) or _has_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_nul(v) for v in value)
    return False


class ApiInputMiddleware:
    """Bad input to the JSON API is a 400 in the common error shape, never a 500.

    One place for what no endpoint's schema can express: a NUL character in the path, the
    query string or the body (PostgreSQL refuses to store or compare one, so it would reach the
    database as a 500), and a JSON ``null`` as the whole body (django-ninja would read it as
    "no fields given" and, for an operation whose fields all have defaults, act on it).
    Everything else (types, ranges, lengths) is each operation's schema.
    """

    PREFIX = "/api/"

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        if request.path_info.startswith(self.PREFIX):
            problem = self._problem(request)
            if problem is not None:
                field, message = problem
                return JsonResponse({"detail": message, "errors": {field: [message]}}, status=400)
        return self.get_response(request)

    def _problem(self, request) -> tuple[str, str] | None:
        nul = "NUL characters (\\u0000) are not allowed."
        if "\x00" in request.path:
            return "path", nul
        for key, values in request.GET.lists():
            if "\x00" in key or any("\x00" in v for v in values):
                return key.replace("\x00", "") or "query", nul
        if request.method in ("GET", "HEAD", "OPTIONS"):
            return None
        content_type = request.content_type or ""
        if content_type.startswith(("multipart/form-data", "application/x-www-form-urlencoded")):
            for key, values in request.POST.lists():  # form fields only; files are the view's to check
                if "\x00" in key or any("\x00" in v for v in values):
                    return key.replace("\x00", "") or "body", nul
            return None
        try:
            body = request.body
        except RequestDataTooBig:
            return None  # the view answers (413 where it reads the body)
        if b"\x00" in body:
            return "body", nul
        if not body.strip() or content_type not in ("application/json", ""):
            return None
        try:
            data = json.loads(body)
        except (ValueError, UnicodeDecodeError):
            return None  # not JSON: the operation's body schema answers
        if data is None:
            return "body", "The request body must be a JSON object, not null."
        if _has_nul(data):
            return "body", nul
        return None
