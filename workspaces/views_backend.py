"""Terraform's ``http`` state backend, one address per workspace (plain Django views, not ninja:
terraform speaks raw bodies and the LOCK/UNLOCK methods).

    address        = <base>/api/backend/<workspace>/state    GET (latest state), POST (?ID=<lock id>)
    lock_address   = <base>/api/backend/<workspace>/lock     LOCK (or PUT/POST: lock_method)
    unlock_address = <base>/api/backend/<workspace>/lock     UNLOCK (or DELETE: unlock_method)

HTTP basic auth: any user name, an API token as the password. The rules are in
``workspaces.backend``; these views only translate HTTP.
"""

import base64
import hashlib
import json

from django.http import HttpResponse, JsonResponse
from django.shortcuts import get_object_or_404
from django.views.decorators.csrf import csrf_exempt

from iacplatform.errors import DomainError, Forbidden
from workspaces.backend import (
    BackendLocked, backend_access, backend_state_get, backend_state_write, cli_lock_acquire, cli_lock_release,
)
from workspaces.models import Workspace
from workspaces.tokens import api_token_authenticate

LOCK_METHODS = ("LOCK", "PUT", "POST")
UNLOCK_METHODS = ("UNLOCK", "DELETE")


def _basic_auth_user(request):
    header = request.META.get("HTTP_AUTHORIZATION", "")
    if not header.lower().startswith("basic "):
        return None
    try:
        decoded = base64.b64decode(header[6:].strip()).decode()
    except (ValueError, UnicodeDecodeError):
        return None
    _, _, password = decoded.partition(":")
    return api_token_authenticate(password)


def _unauthorized() -> HttpResponse:
    response = _text("Authentication required: HTTP basic auth with an API token as the password.", 401)
    response["WWW-Authenticate"] = 'Basic realm="iac-platform state backend"'
    return response


def _text(message: str, status: int) -> HttpResponse:
    """An answer in the API's common error shape (terraform itself prints only the status)."""
    return JsonResponse({"detail": message, "errors": {}}, status=status)


def _resolve(request, name):
    user = _basic_auth_user(request)
    if user is None:
        return None, None, _unauthorized()
    workspace = get_object_or_404(Workspace, name=name)
    return user, workspace, None


@csrf_exempt
def backend_state_view(request, name):
    user, workspace, refused = _resolve(request, name)
    if refused:
        return refused
    try:
        if request.method == "GET":
            version = backend_state_get(workspace=workspace, user=user)
            if version is None:
                return HttpResponse(status=204)  # terraform: no state yet
            response = HttpResponse(version.content, content_type="application/json")
            response["Content-MD5"] = base64.b64encode(bytes.fromhex(version.md5)).decode() if version.md5 else ""
            return response
        if request.method in ("POST", "PUT"):
            body = request.body
            sent_md5 = request.META.get("HTTP_CONTENT_MD5", "")
            if sent_md5 and base64.b64encode(hashlib.md5(body).digest()).decode() != sent_md5:
                return _text("Content-MD5 does not match the body: the state was not stored.", 400)
            version = backend_state_write(workspace=workspace, content=body, lock_id=request.GET.get("ID", ""),
                                          user=user)
            return JsonResponse({"serial": version.serial, "lineage": version.lineage, "md5": version.md5})
        return _text(f"Method {request.method} is not supported here (GET, POST).", 405)
    except BackendLocked as exc:
        return JsonResponse(exc.info, status=423)
    except DomainError as exc:
        return _text(exc.message, exc.status)


@csrf_exempt
def backend_lock_view(request, name):
    user, workspace, refused = _resolve(request, name)
    if refused:
        return refused
    try:
        info = json.loads(request.body or b"{}")
        if not isinstance(info, dict):
            raise ValueError
    except ValueError:
        return _text("The lock info is not a JSON object.", 400)
    try:
        if request.method in LOCK_METHODS:
            lock = cli_lock_acquire(workspace=workspace, info=info, user=user)
            return JsonResponse(lock.info)
        if request.method in UNLOCK_METHODS:
            # `terraform force-unlock <ID>` sends the ID alone; an ordinary unlock the whole lock info.
            force = not (info.get("Who") or info.get("Operation") or info.get("Created"))
            cli_lock_release(workspace=workspace, lock_id=str(info.get("ID") or ""), user=user, force=force)
            return JsonResponse({"detail": "unlocked"})
        return _text(f"Method {request.method} is not supported here (LOCK, UNLOCK).", 405)
    except BackendLocked as exc:
        return JsonResponse(exc.info, status=423)
    except Forbidden as exc:
        return _text(exc.message, 403)
    except DomainError as exc:
        return _text(exc.message, exc.status)


__all__ = ["backend_state_view", "backend_lock_view", "backend_access"]
