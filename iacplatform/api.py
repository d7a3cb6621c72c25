"""The JSON API under /api/v1/ (django-ninja, OpenAPI at /api/v1/docs).

Every app contributes a ``router`` in its ``api.py``. Every 4xx has one shape:
``{"detail": "<what went wrong>", "errors": {<field>: [<messages>]}}``.
"""

from django.core.exceptions import ObjectDoesNotExist, PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.http import Http404
from ninja import NinjaAPI, Swagger
from ninja.errors import AuthenticationError, HttpError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.security import HttpBearer, SessionAuth

from executions.api import router as executions_router
from executions.api_checks import router as checks_router
from iacplatform.errors import DomainError, document_errors
from resources.api import router as resources_router
from workspaces.api import router as workspaces_router
from workspaces.api_versions import router as versions_router
from workspaces.tokens import api_token_authenticate


class TokenAuth(HttpBearer):
    """``Authorization: Bearer <token>``: not subject to CSRF (a browser never sends it by itself)."""

    def authenticate(self, request, token):
        user = api_token_authenticate(token)
        if user is not None:
            request.user = user
        return user


def _has_bearer(request) -> bool:
    return request.headers.get("Authorization", "").lower().startswith("bearer ")


class CsrfSessionAuth(SessionAuth):
    """The browser's session, with Django's CSRF check on unsafe methods.

    Only a request that has a logged-in session and no Bearer token is judged by its session:
    a token request is judged by its token alone (a revoked or expired token is a 401 even
    with a session cookie), and CSRF never blocks it.
    """

    def __call__(self, request):
        if _has_bearer(request) or not request.user.is_authenticated:
            return None
        return super().__call__(request)  # CSRF checked here (403 without the token)


class PlatformAPI(NinjaAPI):
    """Every operation documents the common error responses (``ErrorOut``) besides its own."""

    def get_openapi_schema(self, *, path_prefix=None, path_params=None):
        return document_errors(super().get_openapi_schema(path_prefix=path_prefix, path_params=path_params))


api = PlatformAPI(
    title="Terraform execution platform API",
    version="1",
    urls_namespace="api",
    auth=[CsrfSessionAuth(), TokenAuth()],
    docs_url="/docs",
    # Swagger UI from django-ninja's own static files (``ninja`` is in INSTALLED_APPS, so no CDN);
    # no validator badge (it would call validator.swagger.io).
    docs=Swagger(settings={"validatorUrl": None}),
)


def error_response(request, status: int, detail: str, errors: dict | None = None):
    return api.create_response(request, {"detail": detail, "errors": errors or {}}, status=status)


@api.exception_handler(DomainError)
def _domain_error(request, exc: DomainError):
    return error_response(request, exc.status, exc.message, exc.errors)


@api.exception_handler(NinjaValidationError)
def _validation_error(request, exc: NinjaValidationError):
    errors: dict[str, list[str]] = {}
    for item in exc.errors:
        loc = [str(part) for part in item.get("loc", []) if part not in ("body", "query", "path", "payload")]
        errors.setdefault(".".join(loc) or "__all__", []).append(item.get("msg", "invalid"))
    return error_response(request, 422, "The request is not valid.", errors)


@api.exception_handler(DjangoValidationError)
def _django_validation_error(request, exc: DjangoValidationError):
    errors = exc.message_dict if hasattr(exc, "error_dict") else {"__all__": exc.messages}
    return error_response(request, 400, "; ".join(m for ms in errors.values() for m in ms), errors)


@api.exception_handler(AuthenticationError)
def _auth_error(request, exc):
    return error_response(request, 401, "Authentication required: log in or send 'Authorization: Bearer <token>'.")


@api.exception_handler(Http404)
def _not_found(request, exc):
    return error_response(request, 404, str(exc) or "Not found.")


@api.exception_handler(ObjectDoesNotExist)
def _does_not_exist(request, exc):
    return error_response(request, 404, str(exc) or "Not found.")


@api.exception_handler(PermissionDenied)
def _forbidden(request, exc):
    return error_response(request, 403, str(exc) or "You do not have permission to do that.")


@api.exception_handler(HttpError)
def _http_error(request, exc: HttpError):
    return error_response(request, exc.status_code, str(exc))


api.add_router("/", workspaces_router)
api.add_router("/", versions_router)
api.add_router("/", executions_router)
api.add_router("/", checks_router)
api.add_router("/", resources_router)
