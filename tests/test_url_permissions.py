"""Who may do what on every URL: one table, every URL pattern × role × method → the expected status.

The URL patterns come from the resolver (pages, HTMX fragments — the same views —, the JSON
API, downloads, the admin site). ``TABLE`` maps each route (as the resolver spells it) to its
methods, and each method to ``(need, status)``: the role it needs and the status a caller with
that role gets on the fixture data below. Everyone else gets the status the need implies:

- anonymous: a page redirects to the login (302), the API answers 401;
- a logged-in user with no role in the workspace: 404 (a workspace they cannot see);
- a role below the need: 403.

A route missing from the table fails ``test_every_url_pattern_is_in_the_table``; a method the
table does not list must answer 405 (``test_unlisted_methods_are_refused``). Each role's
request runs in a savepoint that is rolled back, so a delete by one role does not change
what the next one sees.
"""

import json
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver
from django.utils import timezone

from executions.models import Notification, NotificationChannel, WorkspaceTask
from executions.hooks import hook_save
from executions.notifications import delivery_create
from executions.policies import policy_set_save
from resources.services.resources import resource_create, resource_update
from resources.services.snapshots import snapshot_create
from tests.workspaces import version_helpers as vh
from workspaces.code.services import code_version_save
from workspaces.crypto import encrypt_text
from workspaces.models import Role, Workspace, WorkspaceMember
from workspaces.services import variable_set, variables_checksum
from workspaces.state.services import state_upload
from workspaces.tokens import api_token_create

PUBLIC, LOGIN, STAFF, OWN, SUPER = "public", "login", "staff", "own", "superuser"  # OWN: the reader's own API token
MANAGE = "manage"  # notification channels: a workspace admin's; to anyone else they do not exist (404)
TOKEN = "metrics-token"  # /metrics: the bearer token of IAC_METRICS_TOKEN, whoever is logged in
R, P, A, AD = Role.READER, Role.PLANNER, Role.APPLIER, Role.ADMIN
ROLES = ("anonymous", "outsider", "reader", "planner", "applier", "admin", "superuser")
RANK = {"reader": R, "planner": P, "applier": A, "admin": AD, "superuser": AD}

REGO = "package terraform\n\ndeny contains msg if {\n  false\n  msg := \"never\"\n}\n"
RESOURCE_CODE = {"resource": {"terraform_data": {"web": {"input": "v1"}}}}
W = "workspaces/<str:name>/"          # a workspace page
API = "api/v1/workspaces/<name>/"     # a workspace API path

# route -> {method: (need, status for a caller who has the need[, JSON body for the API])}
TABLE = {
    # --- public and account ------------------------------------------------------------------
    "login/": {"GET": (PUBLIC, 200), "POST": (PUBLIC, 200)},
    "logout/": {"POST": (PUBLIC, 302)},
    "api/v1/openapi.json": {"GET": (PUBLIC, 200)},
    "api/v1/docs": {"GET": (PUBLIC, 200)},
    "api/v1/": {"GET": (PUBLIC, 404)},  # django-ninja's bare prefix: no operation behind it
    # --- workspace list and create ------------------------------------------------------------
    "": {"GET": (LOGIN, 200)},
    "new/": {"GET": (LOGIN, 200), "POST": (LOGIN, 400)},
    "api/v1/workspaces": {"GET": (LOGIN, 200), "POST": (LOGIN, 201, {"name": "new-ws"})},
    "api/v1/tokens": {"GET": (LOGIN, 200), "POST": (LOGIN, 201, {"name": "ci"})},
    "api/v1/tokens/<token_id>": {"DELETE": (OWN, 204)},
    # --- API tokens (the user menu) ------------------------------------------------------------------
    "account/tokens/": {"GET": (LOGIN, 200), "POST": (LOGIN, 400)},
    "audit/": {"GET": (SUPER, 200)},  # the global audit trail; anyone else logged in: 403
    "api/v1/audit": {"GET": (LOGIN, 200)},  # restricted to the readable workspaces' events
    "account/tokens/<int:token_id>/revoke/": {"POST": (OWN, 302)},  # someone else's token: 404
    # --- workspace pages ---------------------------------------------------------------------------
    W: {"GET": (R, 200)},
    W + "lock/": {"POST": (A, 302)},
    W + "unlock/": {"POST": (A, 302)},
    W + "variables/": {"GET": (R, 200), "POST": (AD, 400)},
    W + "variables/<int:variable_id>/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "variables/<int:variable_id>/delete/": {"POST": (AD, 302)},
    W + "settings/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "members/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "members/<int:member_id>/delete/": {"POST": (AD, 302)},
    W + "delete/": {"POST": (AD, 400)},
    W + "audit/": {"GET": (R, 200)},
    W + "code/": {"GET": (R, 200), "POST": (P, 400)},
    W + "code/versions/": {"GET": (R, 200)},
    W + "code/versions/<int:number>/": {"GET": (R, 200)},
    W + "code/versions/<int:number>/rollback/": {"POST": (P, 302)},
    W + "code/compare/": {"GET": (R, 200)},
    W + "configuration/": {"GET": (R, 200)},  # the effective configuration (read-only)
    W + "states/": {"GET": (R, 200)},
    W + "states/upload/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "states/compare/": {"GET": (R, 200)},
    W + "states/<int:serial>/": {"GET": (R, 200)},
    W + "states/<int:serial>/download/": {"GET": (AD, 200)},
    W + "states/<int:serial>/rollback/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "runs/": {"GET": (R, 200)},
    W + "runs/new/": {"GET": (P, 200), "POST": (P, 400)},
    W + "runs/<int:task_id>/": {"GET": (R, 200)},
    W + "runs/<int:task_id>/logs/": {"GET": (R, 200)},
    W + "runs/<int:task_id>/logs/stream/": {"GET": (R, 200)},  # the live log (Server-Sent Events)
    W + "runs/<int:task_id>/plan/": {"GET": (R, 200)},  # the plan alone (HTMX: its filtered body)
    W + "runs/<int:task_id>/plan/resource/": {"GET": (R, 200)},  # one resource's attribute changes
    W + "runs/<int:task_id>/confirm/": {"POST": (A, 302)},
    W + "runs/<int:task_id>/discard/": {"POST": (A, 302)},
    W + "runs/<int:task_id>/plan-again/": {"POST": (A, 302)},  # discards the waiting plan, queues a new run
    W + "runs/<int:task_id>/cancel/": {"POST": (A, 302)},
    W + "resources/": {"GET": (R, 200)},
    W + "resources/new/": {"GET": (P, 200), "POST": (P, 400)},
    W + "resources/import/": {"GET": (P, 200), "POST": (P, 400)},
    W + "resources/deploy/": {"POST": (P, 302)},
    W + "resources/dependencies/": {"GET": (R, 200)},
    W + "resources/snapshots/": {"GET": (R, 200), "POST": (P, 400)},
    W + "resources/snapshots/<int:pk>/": {"GET": (R, 200)},
    W + "resources/snapshots/<int:pk>/restore/": {"POST": (P, 302)},
    W + "resources/snapshots/<int:pk>/delete/": {"POST": (P, 302)},
    W + "resources/<int:pk>/": {"GET": (R, 200)},
    W + "resources/<int:pk>/edit/": {"GET": (P, 200), "POST": (P, 400)},
    W + "resources/<int:pk>/delete/": {"POST": (P, 302)},
    W + "resources/<int:pk>/restore/": {"POST": (P, 302)},
    W + "resources/<int:pk>/compare/": {"GET": (R, 200)},
    W + "resources/<int:pk>/dependencies/": {"GET": (R, 200), "POST": (P, 302)},
    W + "resources/<int:pk>/versions/<int:version>/": {"GET": (R, 200)},
    W + "resources/<int:pk>/versions/<int:version>/rollback/": {"POST": (P, 302)},
    # --- workspace API -----------------------------------------------------------------------------
    "api/v1/workspaces/<name>": {"GET": (R, 200), "DELETE": (AD, 204)},
    API + "settings": {"GET": (R, 200), "PATCH": (AD, 200, {"description": "changed"})},
    API + "variables": {"GET": (R, 200), "POST": (AD, 201, {"key": "new_var", "value": "v"})},
    API + "variables/<variable_id>": {"PUT": (AD, 200, {"value": "x"}), "DELETE": (AD, 204)},
    API + "members": {"GET": (AD, 200), "PUT": (AD, 200, {"group": "team", "role": "planner"})},
    API + "members/<member_id>": {"DELETE": (AD, 204)},
    API + "audit": {"GET": (R, 200)},
    API + "code-versions": {"GET": (R, 200), "POST": (P, 201, {"code": '{"resource": {"terraform_data": {"x": {}}}}'})},
    API + "code-versions/compare": {"GET": (R, 200)},
    API + "code-versions/<number>": {"GET": (R, 200)},
    API + "code-versions/<number>/rollback": {"POST": (P, 200)},  # version 1 is current: nothing new
    API + "effective-configuration": {"GET": (R, 200)},
    API + "state-versions": {"GET": (R, 200)},
    API + "state-versions/upload": {"POST": (AD, 201, {"state": "THIRD_STATE", "force": True})},
    API + "state-versions/compare": {"GET": (R, 200)},
    API + "state-versions/<serial>": {"GET": (R, 200)},
    API + "state-versions/<serial>/download": {"GET": (AD, 200)},
    API + "state-versions/<serial>/rollback": {"POST": (AD, 201)},
    API + "runs": {"GET": (R, 200), "POST": (P, 201, {"kind": "plan"})},
    "api/v1/tasks/<task_id>": {"GET": (R, 200)},
    "api/v1/tasks/<task_id>/logs": {"GET": (R, 200)},
    "api/v1/tasks/<task_id>/logs/download": {"GET": (R, 200)},
    "api/v1/tasks/<task_id>/confirm": {"POST": (A, 409, {"comment": "ok"})},  # the plan is stale: refused
    "api/v1/tasks/<task_id>/discard": {"POST": (A, 200)},
    "api/v1/tasks/<task_id>/plan-again": {"POST": (A, 201)},
    "api/v1/tasks/<task_id>/cancel": {"POST": (A, 202)},
    API + "lock": {"POST": (A, 200, {"reason": "maintenance"})},
    API + "unlock": {"POST": (A, 200)},
    API + "state/retry-save": {"POST": (AD, 404, {})},  # no backup exists for the workspace
    API + "resources/import": {"POST": (P, 200, {"files": [{"name": "main.tf", "content":
                                                  'resource "terraform_data" "db" {\n  input = "x"\n}\n'}]})},
    API + "resources/deploy": {"POST": (P, 201, {"resource_ids": ["RESOURCE_ID"]})},
    API + "resources": {"GET": (R, 200), "POST": (P, 201, {"code": {"resource": {"terraform_data": {"db": {}}}}})},
    API + "resources/<resource_pk>": {"GET": (R, 200), "PUT": (P, 200, {"description": "changed"}),
                                      "DELETE": (P, 200)},
    API + "resources/<resource_pk>/restore": {"POST": (P, 409)},  # not deleted
    API + "resources/<resource_pk>/versions": {"GET": (R, 200)},
    API + "resources/<resource_pk>/versions/compare": {"GET": (R, 200)},
    API + "resources/<resource_pk>/versions/<version>": {"GET": (R, 200)},
    API + "resources/<resource_pk>/versions/<version>/rollback": {"POST": (P, 201)},
    API + "snapshots": {"GET": (R, 200), "POST": (P, 201, {"name": "s2"})},
    API + "snapshots/<snapshot_pk>": {"GET": (R, 200), "DELETE": (P, 204)},
    API + "snapshots/<snapshot_pk>/restore": {"POST": (P, 200)},
    API + "resources/<resource_pk>/dependencies": {"GET": (R, 200), "PUT": (P, 200, {"depends_on": []})},
    # --- notification center, channels, metrics ----------------------------------------------------
    "notifications/": {"GET": (LOGIN, 200)},
    "notifications/<int:pk>/": {"GET": (R, 200)},
    "notifications/<int:pk>/acknowledge/": {"POST": (AD, 302)},
    "notifications/deliveries/<int:pk>/resend/": {"POST": (MANAGE, 302)},
    "notifications/channels/": {"GET": (MANAGE, 200), "POST": (MANAGE, 400)},
    "notifications/channels/<int:pk>/": {"GET": (MANAGE, 200), "POST": (MANAGE, 400)},
    "notifications/channels/<int:pk>/test/": {"POST": (MANAGE, 302)},
    "notifications/channels/<int:pk>/delete/": {"POST": (MANAGE, 302)},
    "metrics": {"GET": (TOKEN, 401)},
    # --- drift detection and the Terraform CLI state backend -------------------------------------------
    API + "drift-checks": {"POST": (P, 201)},
    API + "drift": {"GET": (R, 200)},
    W + "drift/check/": {"POST": (P, 302)},
    W + "drift/<int:task_id>/reconcile/": {"POST": (P, 302)},
    W + "cli-lock/break/": {"POST": (AD, 302)},
    # The backend speaks Terraform's http protocol: HTTP basic auth with an API token, never a session.
    "api/backend/<str:name>/state": {"GET": (TOKEN, 401), "POST": (TOKEN, 401), "PUT": (TOKEN, 401)},
    "api/backend/<str:name>/lock": {"PUT": (TOKEN, 401), "POST": (TOKEN, 401), "DELETE": (TOKEN, 401)},
    # --- run checks: hooks and policy sets (workspace admins for theirs; superusers for global ones) ---
    W + "settings/hooks/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "settings/hooks/<int:hook_id>/delete/": {"POST": (AD, 302)},
    W + "settings/policies/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "settings/policies/<int:policy_id>/": {"GET": (AD, 200), "POST": (AD, 400)},
    W + "settings/policies/<int:policy_id>/delete/": {"POST": (AD, 302)},
    W + "runs/<int:task_id>/override/": {"POST": (AD, 302)},
    W + "runs/<int:task_id>/plan.json": {"GET": (PUBLIC, 403)},  # a hook's short-lived token, not a session
    "api/hook-callback/": {"POST": (TOKEN, 401)},  # an asynchronous hook's callback token, not a session
    "hooks/": {"GET": (SUPER, 200), "POST": (SUPER, 400)},
    "hooks/<int:hook_id>/delete/": {"POST": (SUPER, 302)},
    "policies/": {"GET": (SUPER, 200), "POST": (SUPER, 400)},
    "policies/playground/": {"GET": (SUPER, 200), "POST": (SUPER, 400)},
    "policies/<int:policy_id>/": {"GET": (SUPER, 200), "POST": (SUPER, 400)},
    "policies/<int:policy_id>/delete/": {"POST": (SUPER, 302)},
    "api/v1/hooks": {"GET": (SUPER, 200), "POST": (SUPER, 201, {"name": "g", "stage": "post_plan", "kind": "script",
                                                              "command": "true"})},
    "api/v1/hooks/<hook_id>": {"DELETE": (AD, 204)},
    API + "hooks": {"GET": (AD, 200), "POST": (AD, 201, {"name": "h2", "stage": "post_plan", "kind": "script",
                                                        "command": "true"})},
    "api/v1/policy-sets": {"GET": (SUPER, 200), "POST": (SUPER, 201, {"name": "gp", "rego": "REGO"})},
    "api/v1/policy-sets/<policy_id>": {"PUT": (AD, 200, {"name": "p1", "rego": "REGO"}), "DELETE": (AD, 204)},
    API + "policy-sets": {"GET": (AD, 200), "POST": (AD, 201, {"name": "p2", "rego": "REGO"})},
    "api/v1/tasks/<task_id>/override": {"POST": (AD, 409, {"reason": "because"})},
    # --- the Django admin: every pattern under admin/ is for staff only (Django's own check) ----
    "admin/": STAFF,
}

QUERIES = {  # query strings some GETs need to show something (compare pages)
    W + "code/compare/": "?from=1&to=1",
    W + "states/compare/": "?from=1&to=2",
    W + "resources/<int:pk>/compare/": "?from=1&to=2",
    API + "code-versions/compare": "?from=1&to=1",
    API + "state-versions/compare": "?from=1&to=2",
    API + "resources/<resource_pk>/versions/compare": "?from=1&to=2",
    W + "runs/<int:task_id>/plan/resource/": "?address=terraform_data.web",
}


# --- the URL patterns ---------------------------------------------------------------------------
def _walk(patterns, prefix=""):
    for pattern in patterns:
        if isinstance(pattern, URLResolver):
            yield from _walk(pattern.url_patterns, prefix + str(pattern.pattern))
        elif isinstance(pattern, URLPattern):
            yield prefix + str(pattern.pattern)


ALL_ROUTES = list(dict.fromkeys(_walk(get_resolver().url_patterns)))
APP_ROUTES = [r for r in ALL_ROUTES if not r.startswith("admin/")]
ADMIN_ROUTES = [r for r in ALL_ROUTES if r.startswith("admin/")]
CASES = [(route, method) for route in APP_ROUTES for method in TABLE.get(route, {})]


def test_every_url_pattern_is_in_the_table():
    missing = [r for r in APP_ROUTES if r not in TABLE]
    assert not missing, f"URL patterns without an entry in TABLE: {missing}"
    stale = [r for r in TABLE if r != "admin/" and r not in APP_ROUTES]
    assert not stale, f"TABLE entries for routes that no longer exist: {stale}"
    assert ADMIN_ROUTES and TABLE["admin/"] == STAFF


# --- the fixture data -----------------------------------------------------------------------------
@pytest.fixture
def world(db):
    users = get_user_model().objects
    ws = Workspace.objects.create(name="demo")
    code_version_save(workspace=ws, code='{"resource": {"terraform_data": {}}}')
    variable = variable_set(workspace=ws, key="region", value="eu-west-1")
    first, second = vh.two_states()
    state_upload(workspace=ws, content=first)
    state_upload(workspace=ws, content=second)
    resource = resource_create(workspace=ws, code=RESOURCE_CODE)
    resource_update(resource=resource, code={"resource": {"terraform_data": {"web": {"input": "v2"}}}})
    snapshot = snapshot_create(workspace=ws, name="s1")
    ws.refresh_from_db()
    task = WorkspaceTask.objects.create(
        workspace=ws, task_type="plan_and_apply", status="planned", stage="awaiting_confirmation",
        started_at=timezone.now(), code_version=ws.current_code_version, plan_file=b"plan", has_changes=True,
        change_summary={"resources": [{"address": "terraform_data.web", "type": "terraform_data", "name": "web",
                                       "module": None, "action": "update", "changed_attributes": [
                                           {"name": "input", "before": "v1", "after": "v2", "sensitive": False}]}],
                        "outputs": []},
        context={"code_version": ws.current_code_version.number, "variables_checksum": variables_checksum(ws),
                 "state_serial": 2, "resource_versions": {str(resource.pk): 2}},
    )
    team = Group.objects.create(name="team")
    team_member = WorkspaceMember.objects.create(workspace=ws, group=team, role=R)
    clients = {"anonymous": Client()}
    for name in ROLES[1:]:
        user = users.create_user(username=name, password=None, is_superuser=name == "superuser",
                                 is_staff=name == "superuser")
        if name in RANK and name != "superuser":
            WorkspaceMember.objects.create(workspace=ws, user=user, role=RANK[name])
        clients[name] = Client()
        clients[name].force_login(user)
    token, _ = api_token_create(user=users.get(username="reader"), name="reader's")
    channel = NotificationChannel.objects.create(name="ops", kind="webhook", workspace=ws,
                                                 target_encrypted=encrypt_text("http://127.0.0.1:9/hook"),
                                                 secret_encrypted=encrypt_text("s3cret"))
    note = Notification.objects.create(level="emergency", title="state not saved", workspace=ws)
    delivery = delivery_create(notification=note, channel=channel)
    hook = hook_save(workspace=ws, name="h1", stage="post_plan", kind="script", command="true")
    policy = policy_set_save(workspace=ws, name="p1", enforcement="advisory", rego=REGO)
    global_hook = hook_save(workspace=None, name="gh", stage="post_plan", kind="script", command="true")
    global_policy = policy_set_save(workspace=None, name="gp1", enforcement="advisory", rego=REGO)
    kwargs = {"token_id": token.pk, "name": ws.name, "variable_id": variable.pk, "member_id": team_member.pk, "number": 1, "serial": 1,
              "task_id": task.pk, "version": 1, "hook_id": hook.pk, "policy_id": policy.pk, "resource_pk": resource.pk, "snapshot_pk": snapshot.pk}
    return {"clients": clients, "kwargs": kwargs, "resource": resource, "snapshot": snapshot,
            "notification": note, "channel": channel, "delivery": delivery,
            "global": {"hook_id": global_hook.pk, "policy_id": global_policy.pk},
            "third_state": vh.state(3, [])}


def _url(route: str, world) -> str:
    kwargs = dict(world["kwargs"])
    kwargs["pk"] = world["snapshot"].pk if "snapshots/<int:pk>" in route else world["resource"].pk
    if route.startswith(("hooks/", "policies/")):  # the global pages show global hooks and policy sets
        kwargs.update(world["global"])
    if route.startswith("notifications/"):
        kwargs["pk"] = (world["channel"].pk if "channels/" in route else world["delivery"].pk if "deliveries/" in route
                        else world["notification"].pk)

    def value(match):
        return str(kwargs[match.group(2)])

    return "/" + re.sub(r"<(?:(\w+):)?(\w+)>", value, route) + QUERIES.get(route, "")


def _body(entry, world):
    if len(entry) < 3:
        return None
    text = json.dumps(entry[2]).replace('"RESOURCE_ID"', str(world["resource"].pk)).replace('"REGO"', json.dumps(REGO))
    return text.replace('"THIRD_STATE"', json.dumps(world["third_state"]))


def _expected(route: str, role: str, need, status: int) -> int:
    is_api = route.startswith("api/")
    if need == PUBLIC:
        return status
    if need == TOKEN:
        return status  # not a session matter: without the bearer token, 401 for everyone
    if role == "anonymous":
        return 401 if is_api else 302
    if need == LOGIN:
        return status
    if need == OWN:
        return status if role == "reader" else 404
    if need == SUPER:
        return status if role == "superuser" else 403
    if need == MANAGE:
        return status if role in ("admin", "superuser") else 404
    if need == TOKEN:
        return status
    if role == "outsider":
        return 404
    return status if RANK[role] >= need else 403


def _request(client, method: str, url: str, body, **headers):
    if body is not None:
        return client.generic(method, url, body, content_type="application/json", **headers)
    return client.generic(method, url, **headers)


# --- the tests ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("route, method", CASES, ids=[f"{m} /{r}" for r, m in CASES])
def test_url_role_method(world, route, method):
    entry = TABLE[route][method]
    need, status = entry[0], entry[1]
    url, body = _url(route, world), _body(entry, world)
    got = {}
    for role in ROLES:
        with transaction.atomic():
            response = _request(world["clients"][role], method, url, body)
            transaction.set_rollback(True)
        got[role] = response.status_code
        if role == "anonymous" and got[role] == 302:
            assert "/login/" in response["Location"]
    expected = {role: _expected(route, role, need, status) for role in ROLES}
    assert got == expected, f"{method} {url}"
    if method == "GET" and not route.startswith(("api/", "login/")):
        # The same view's HTMX fragment: the same guard, the same answers.
        for role in ROLES:
            with transaction.atomic():
                response = _request(world["clients"][role], method, url, None, HTTP_HX_REQUEST="true")
                transaction.set_rollback(True)
            # 286 is htmx's "stop polling": the log of a finished run is final once it has been quiet
            # for a few seconds, which a loaded machine reaches between the two requests
            got[role] = 200 if response.status_code == 286 and route.endswith("/logs/") else response.status_code
        assert got == expected, f"{method} {url} (HTMX)"


# Terraform's http backend authenticates before it looks at the method: its lock and unlock
# methods are whatever the backend block configures (LOCK, PUT, DELETE…).
OURS = [r for r in APP_ROUTES if any(entry[0] != PUBLIC for entry in TABLE.get(r, {}).values())
        and not r.startswith("api/backend/")]


@pytest.mark.parametrize("route", OURS)
def test_unlisted_methods_are_refused(world, route):
    """A method the table does not name answers 405, even for a superuser (our views; the public
    login page and django-ninja's docs views accept any method and change nothing)."""
    url = _url(route, world)
    for method in ("GET", "POST", "PUT", "PATCH", "DELETE"):
        if method in TABLE.get(route, {}):
            continue
        with transaction.atomic():
            response = _request(world["clients"]["superuser"], method, url, None)
            transaction.set_rollback(True)
        assert response.status_code == 405, (method, url, response.status_code)


def _admin_url(route: str) -> str:
    raw = re.sub(r"\(\?P<\w+>([^)]*)\)", lambda m: m.group(1).split("|")[0] if "|" in m.group(1) else "1", route)
    raw = re.sub(r"<(?:(\w+):)?(\w+)>", "1", raw)
    return "/" + raw.replace("^", "").replace("$", "").replace("\\Z", "").replace("\\", "")


def test_admin_site_is_for_staff_only(world):
    for route in ADMIN_ROUTES:
        url = _admin_url(route)
        for role in ROLES:
            with transaction.atomic():
                response = world["clients"][role].get(url)
                transaction.set_rollback(True)
            if role == "superuser":
                assert response.status_code < 500, (url, response.status_code)
            elif not url.startswith(("/admin/login/", "/admin/logout/")):
                assert response.status_code == 302 and "login/" in response["Location"], (role, url)
