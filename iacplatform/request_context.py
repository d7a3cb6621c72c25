"""The current request, for code below the views that records where a change came from (the audit trail).

Set by ``iacplatform.middleware.RequestContextMiddleware`` for the duration of a request;
empty in management commands and workers.
"""

from contextvars import ContextVar

current_request: ContextVar = ContextVar("current_request", default=None)
