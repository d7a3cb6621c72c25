"""Domain errors: a message an operator can act on, and the HTTP status an API answers with.

Entry points turn them into a form error / flash message (pages), a 4xx JSON body in
the common shape (API) or a ``CommandError`` (management commands).
"""


class DomainError(Exception):
    status = 400

    def __init__(self, message: str, *, errors: dict | None = None, status: int | None = None):
        super().__init__(message)
        self.message = message
        self.errors = errors or {}
        if status is not None:
            self.status = status


class NotFound(DomainError):
    status = 404


class Conflict(DomainError):
    """The request is valid but the current state forbids it (a running task, a stale plan…)."""

    status = 409


class WorkspaceLocked(DomainError):
    status = 423


class Forbidden(DomainError):
    """The user may not do this (a missing role or permission)."""

    status = 403
