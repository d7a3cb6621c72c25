"""Domain errors: a message an operator can act on, and the HTTP status an API answers with.

Entry points turn them into a form error / flash message (pages), a 4xx JSON body in
the common shape (API) or a ``CommandError`` (management commands).
"""

from ninja import Schema


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


class ErrorOut(Schema):
    """The one shape of every API error (4xx): what went wrong, and per field what to change."""

    detail: str
    errors: dict[str, list[str]] = {}


# The statuses every API operation may answer besides its own successes, and why.
ERROR_STATUSES = {
    400: "The input is not valid (a value the service refuses, a NUL character, a null body)",
    401: "No valid session or token",
    403: "Your role in this workspace does not allow it",
    404: "Not found (or a workspace you may not read)",
    409: "The current state forbids it (a running task, a stale plan…)",
    413: "The upload is too large",
    422: "The request does not match the operation's schema",
    423: "The workspace is locked",
}
SAFE_ERRORS = (400, 401, 403, 404, 422)
UNSAFE_ERRORS = (400, 401, 403, 404, 409, 413, 422, 423)


def document_errors(schema: dict) -> dict:
    """Adds the common error responses (``ErrorOut``) to every operation of an OpenAPI document."""
    components = schema.setdefault("components", {}).setdefault("schemas", {})
    components["ErrorOut"] = ErrorOut.model_json_schema(ref_template="#/components/schemas/{model}")
    content = {"application/json": {"schema": {"$ref": "#/components/schemas/ErrorOut"}}}
    for operations in schema.get("paths", {}).values():
        for method, operation in operations.items():
            responses = operation.setdefault("responses", {})
            for status in (SAFE_ERRORS if method in ("get", "head", "options") else UNSAFE_ERRORS):
                if status not in responses and str(status) not in responses:
                    responses[status] = {"description": ERROR_STATUSES[status], "content": content}
    return schema
