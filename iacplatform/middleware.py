from django.contrib.auth.middleware import LoginRequiredMiddleware


class PageLoginRequiredMiddleware(LoginRequiredMiddleware):
    """Every page needs a login; the JSON API answers 401 by itself instead of redirecting."""

    def process_view(self, request, view_func, view_args, view_kwargs):
        if request.path_info.startswith("/api/"):
            return None
        return super().process_view(request, view_func, view_args, view_kwargs)


class RequestContextMiddleware:
    """Makes the request available to the audit trail (remote address, page or API, token or session)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        from iacplatform.request_context import current_request

        token = current_request.set(request)
        try:
            return self.get_response(request)
        finally:
            current_request.reset(token)
