"""Who may do what: every endpoint and page × method × role, with the expected answer.

The cases are generated from the URL conf and the OpenAPI schema, so a new endpoint, page,
admin model or HTTP method fails `test_every_endpoint_has_an_expectation` until this file
says what each role gets there. Roles:

- anonymous: no credentials;
- csm: a CSM, owner of the sample task;
- other_csm: another CSM;
- staff: is_staff, no superuser, no groups or Django permissions;
- sync_admin: staff in the "Sync admin" group (adminconfig.permissions.is_sync_admin);
- superuser.

An expectation is a status code, LOGIN (a redirect to the login page), or ALLOWED: the
request passed authentication and permission (not 401, 403, 404 or 405, not a 500, not a
redirect to the login page); what the view then answered is other tests' business.
Each role's request runs in a savepoint that is rolled back, so a DELETE or a POST by
one role does not change what the next one sees.

The sample world (users, their sessions, the objects) is built once for the module, in a
transaction rolled back after its last test (as Django's TestCase.setUpTestData does); each
case then only sends its requests, each inside its test's own rolled-back block.
"""

import re
from collections.abc import Iterator
from typing import Any

import pytest
from axes.models import AccessAttempt, AccessFailureLog, AccessLog
from django.conf import settings as django_settings
from django.contrib import admin
from django.contrib.auth.models import Group
from django.db import transaction
from django.test import Client
from django.urls import URLPattern, URLResolver, get_resolver, reverse
from django.utils import timezone
from django_celery_beat.models import (
    ClockedSchedule,
    CrontabSchedule,
    IntervalSchedule,
    PeriodicTask,
    SolarSchedule,
)
from drf_spectacular.generators import SchemaGenerator
from rest_framework.authtoken.models import Token
from rest_framework.test import APIClient

from adminconfig import services as config
from adminconfig.models import FieldMapping, PicklistMapping, ResyncRun, UserMapping
from adminconfig.permissions import SYNC_ADMIN_GROUP
from sync.models import Conflict, OutboxEntry, ReconcileRun, SalesforceAccount, SyncEvent
from tasks.models import CustomField, TaskType, UserProfile
from tests.factories import AdminFactory, CompanyFactory, TaskFactory, UserFactory

ROLES = ("anonymous", "csm", "other_csm", "staff", "sync_admin", "superuser")
ALLOWED = "allowed"
LOGIN = "login"
HTTP_METHODS = ("get", "post", "put", "patch", "delete")


def expect(default: Any, **roles: Any) -> dict[str, Any]:
    return {role: roles.get(role, default) for role in ROLES}


def signed_in(allowed: Any = ALLOWED, anonymous: Any = 401, **roles: Any) -> dict[str, Any]:
    """Every signed-in role gets `allowed` (unless named); anonymous gets 401."""
    return expect(allowed, anonymous=anonymous, **roles)


def only(*who: str, denied: Any = 403, allowed: Any = ALLOWED) -> dict[str, Any]:
    """Only the roles named get through; the other signed-in roles get `denied`."""
    result = {role: (allowed if role in who else denied) for role in ROLES}
    result["anonymous"] = 401
    return result


STAFF_UP = ("staff", "sync_admin", "superuser")
SYNC_ADMINS = ("sync_admin", "superuser")
# The sample task belongs to csm; staff see every task through the API.
OWNER_OR_STAFF = only("csm", *STAFF_UP, denied=404)
NOBODY_NOT_ALLOWED = expect(405, anonymous=401)

# ---- the API, by schema path and method ---------------------------------------------------

API: dict[tuple[str, str], dict[str, Any]] = {
    ("/api/v1/auth/token/", "POST"): expect(ALLOWED),
    ("/api/v1/auth/token/", "DELETE"): signed_in(),
    ("/api/v1/auth/password/", "POST"): signed_in(),
    ("/api/v1/picklists/", "GET"): signed_in(),
    ("/api/v1/tasks/", "GET"): signed_in(),
    ("/api/v1/tasks/", "POST"): signed_in(),
    **{("/api/v1/tasks/{id}/", m): OWNER_OR_STAFF for m in ("GET", "PUT", "PATCH", "DELETE")},
    ("/api/v1/tasks/{id}/sync/", "POST"): OWNER_OR_STAFF,
    # The sample task was never synced: desync answers 400, resync too (both ALLOWED).
    ("/api/v1/tasks/{id}/desync/", "POST"): OWNER_OR_STAFF,
    ("/api/v1/tasks/{id}/resync/", "POST"): OWNER_OR_STAFF,
    ("/api/v1/companies/", "GET"): signed_in(),
    ("/api/v1/companies/", "POST"): only(*STAFF_UP),
    ("/api/v1/companies/{id}/", "GET"): signed_in(),
    **{("/api/v1/companies/{id}/", m): only(*STAFF_UP) for m in ("PUT", "PATCH", "DELETE")},
    ("/api/v1/users/", "GET"): only(*STAFF_UP),
    ("/api/v1/users/", "POST"): only(*STAFF_UP),
    # The sample account is the superuser's: staff may read it, only a superuser change it.
    ("/api/v1/users/{id}/", "GET"): only(*STAFF_UP),
    ("/api/v1/users/{id}/", "PUT"): only("superuser"),
    ("/api/v1/users/{id}/", "PATCH"): only("superuser"),
    **{
        (path, method): only(*SYNC_ADMINS)
        for path, methods in {
            "/api/v1/sync/settings/": ("GET", "PUT", "PATCH"),
            "/api/v1/sync/status/": ("GET",),
            "/api/v1/sync/push/": ("POST",),
            "/api/v1/sync/pull/": ("POST",),
            "/api/v1/sync/connections/": ("GET", "POST"),
            "/api/v1/sync/connections/{id}/": ("GET", "PUT", "PATCH", "DELETE"),
            "/api/v1/sync/field-mappings/": ("GET", "POST"),
            "/api/v1/sync/field-mappings/{id}/": ("GET", "PUT", "PATCH", "DELETE"),
            "/api/v1/sync/picklist-mappings/": ("GET", "POST"),
            "/api/v1/sync/picklist-mappings/{id}/": ("GET", "PUT", "PATCH", "DELETE"),
            "/api/v1/sync/resync-runs/": ("GET",),
            "/api/v1/sync/resync-runs/{id}/": ("GET",),
            "/api/v1/sync/errors/": ("GET",),
            "/api/v1/sync/errors/{id}/": ("GET",),
            "/api/v1/sync/errors/{id}/retry/": ("POST",),
            "/api/v1/sync/events/": ("GET",),
            "/api/v1/sync/conflicts/": ("GET",),
            # With sync off in the sample, starting one answers 409 (passed permission).
            "/api/v1/sync/reconcile-runs/": ("GET", "POST"),
            "/api/v1/sync/reconcile-runs/{id}/": ("GET",),
        }.items()
        for method in methods
    },
    # The sample org is unreachable (https://127.0.0.1:9): the view answers 502 Bad Gateway.
    ("/api/v1/sync/connections/{id}/test/", "POST"): only(*SYNC_ADMINS, allowed=502),
    ("/api/v1/sync/connections/{id}/match-users/", "POST"): only(*SYNC_ADMINS, allowed=502),
}
# Which sample object an {id} in an API path names, by the path before it.
API_OBJECTS = {
    "/api/v1/tasks/": "task",
    "/api/v1/companies/": "company",
    "/api/v1/users/": "superuser",
    "/api/v1/sync/connections/": "connection",
    "/api/v1/sync/field-mappings/": "field_mapping",
    "/api/v1/sync/picklist-mappings/": "picklist_mapping",
    "/api/v1/sync/resync-runs/": "resync_run",
    "/api/v1/sync/errors/": "outbox_entry",
    "/api/v1/sync/reconcile-runs/": "reconcile_run",
}

# ---- accounts: who may read and change whose account (users/{id}/) ------------------------

# The account of: a CSM, staff, a sync admin who is staff, a sync admin who is not (the Sync
# admin group alone), a superuser. Staff change CSMs; only superusers change staff and sync
# admins (they decide where the org's data goes); everyone may edit their own details.
ACCOUNT_TARGETS = ("csm", "staff", "sync_admin", "group_sync_admin", "superuser")
ACCOUNT_CHANGES = {
    "csm": only(*STAFF_UP),
    "staff": only("staff", "superuser"),  # staff: their own account
    "sync_admin": only("sync_admin", "superuser"),  # the sync admin: their own account
    "group_sync_admin": only("superuser"),
    "superuser": only("superuser"),
}
ACCOUNTS: dict[tuple[str, str], dict[str, Any]] = {
    (target, method): only(*STAFF_UP) if method == "GET" else ACCOUNT_CHANGES[target]
    for target in ACCOUNT_TARGETS
    for method in ("GET", "PUT", "PATCH")
}

# ---- pages outside the admin and the schema, by URL name and method -----------------------

LOGGED_IN_PAGE = expect(ALLOWED, anonymous=LOGIN)
OWN_TASK_PAGE = expect(404, anonymous=LOGIN, csm=ALLOWED)  # staff too: pages show your own
SYNC_PAGE = expect(403, anonymous=LOGIN, sync_admin=ALLOWED, superuser=ALLOWED)
METHOD_NOT_ALLOWED_PAGE = expect(405, anonymous=LOGIN)

PAGES: dict[str, dict[str, dict[str, Any]]] = {
    # Open to all, as load balancers ask; no worker runs here, so it truthfully says 503.
    "healthz": {"GET": expect(503), "POST": expect(405)},
    # A scrape token or an allowed address, never a user's session (none set here: closed).
    "metrics": {"GET": expect(403), "POST": expect(405)},
    "login": {"GET": expect(200), "POST": expect(200)},  # an empty form is shown again
    "logout": {"GET": expect(405), "POST": expect(302)},
    "api-root": {"GET": signed_in(200), "POST": NOBODY_NOT_ALLOWED},
    "api-schema": {"GET": signed_in(200), "POST": NOBODY_NOT_ALLOWED},
    # The docs are pages: anonymous visitors go to the login page, not a JSON 401.
    "api-docs": {"GET": expect(200, anonymous=LOGIN), "POST": METHOD_NOT_ALLOWED_PAGE},
    "api-redoc": {"GET": expect(200, anonymous=LOGIN), "POST": METHOD_NOT_ALLOWED_PAGE},
    "task-list": {"GET": LOGGED_IN_PAGE, "POST": METHOD_NOT_ALLOWED_PAGE},
    "task-new": {"GET": LOGGED_IN_PAGE, "POST": LOGGED_IN_PAGE},
    # Sync admins open any task's page read-only (the health page links to them).
    "task-detail": {
        "GET": expect(404, anonymous=LOGIN, csm=ALLOWED, sync_admin=ALLOWED, superuser=ALLOWED),
        "POST": METHOD_NOT_ALLOWED_PAGE,
    },
    "task-edit": {"GET": OWN_TASK_PAGE, "POST": OWN_TASK_PAGE},
    "task-desync": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": OWN_TASK_PAGE},
    "task-resync": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": OWN_TASK_PAGE},
    # Bulk actions, the rows' refresh and the list's news take ids and touch only the
    # user's own tasks.
    "task-bulk": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": LOGGED_IN_PAGE},
    "task-rows": {"GET": LOGGED_IN_PAGE, "POST": METHOD_NOT_ALLOWED_PAGE},
    "task-list-news": {"GET": LOGGED_IN_PAGE, "POST": METHOD_NOT_ALLOWED_PAGE},
    "task-delete": {"GET": OWN_TASK_PAGE, "POST": OWN_TASK_PAGE},
    "task-complete": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": OWN_TASK_PAGE},
    "task-reopen": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": OWN_TASK_PAGE},
    "task-sync": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": OWN_TASK_PAGE},
    "sync-health": {"GET": SYNC_PAGE, "POST": METHOD_NOT_ALLOWED_PAGE},
    "sync-retry": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": SYNC_PAGE},
    "sync-progress": {"GET": SYNC_PAGE, "POST": METHOD_NOT_ALLOWED_PAGE},
    "sync-failed": {"GET": SYNC_PAGE, "POST": METHOD_NOT_ALLOWED_PAGE},
    "sync-log": {"GET": SYNC_PAGE, "POST": METHOD_NOT_ALLOWED_PAGE},
    # Without a kind or a choice the actions send the admin back with a message (ALLOWED).
    "sync-errors-retry": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": SYNC_PAGE},
    "sync-errors-skip": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": SYNC_PAGE},
    "sync-conflict-resolve": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": SYNC_PAGE},
    "sync-resume": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": SYNC_PAGE},
    # With sync off in the sample the admin is sent back with a message (ALLOWED).
    "sync-reconcile": {"GET": METHOD_NOT_ALLOWED_PAGE, "POST": SYNC_PAGE},
}
PAGE_KWARGS = {
    "task-detail": "task",
    "task-desync": "task",
    "task-resync": "task",
    "task-edit": "task",
    "task-delete": "task",
    "task-complete": "task",
    "task-reopen": "task",
    "task-sync": "task",
    "sync-retry": "outbox_entry",
    "sync-conflict-resolve": "conflict",
}

# ---- the Django admin ---------------------------------------------------------------------


def admin_only(*who: str, denied: Any = 403) -> dict[str, Any]:
    """Staff-level roles named get through; other staff `denied`; non-staff to the login."""
    return {
        role: ALLOWED if role in who else (denied if role in STAFF_UP else LOGIN) for role in ROLES
    }


ADMIN_STAFF = admin_only(*STAFF_UP)
SU = admin_only("superuser")
SA = admin_only(*SYNC_ADMINS)
NO_ONE = admin_only()
# Read-only pages: those named may look (GET), nobody may change (POST).
SA_VIEW_ONLY = {"GET": SA, "POST": NO_ONE}
SU_VIEW_ONLY = {"GET": SU, "POST": NO_ONE}
# A registered model's pages: changelist, add, change, delete, history, and the redirect
# from '<id>/' to its change page (any staff member gets the redirect).
MODEL_KINDS = ("changelist", "add", "change", "delete", "history", "redirect")


def model(default: dict, **kinds: dict) -> dict[str, dict]:
    """`default` for each kind of page, except those named; '<id>/' redirects any staff."""
    return {kind: default for kind in MODEL_KINDS} | {"redirect": ADMIN_STAFF} | kinds


ADMIN_MODELS: dict[str, dict[str, dict]] = {
    "auth.group": model(SU),
    "auth.user": model(SU, password=SU),
    "authtoken.tokenproxy": model(SU, add=NO_ONE, change=SU_VIEW_ONLY),
    "django_celery_beat.periodictask": model(SU),
    "django_celery_beat.clockedschedule": model(SU),
    "django_celery_beat.crontabschedule": model(SU),
    "django_celery_beat.solarschedule": model(SU),
    "django_celery_beat.intervalschedule": model(SU),
    "tasks.status": model(SU),
    "tasks.priority": model(SU),
    "tasks.tasktype": model(SU),
    "tasks.customfield": model(SU),
    "tasks.company": model(SU),
    "tasks.userprofile": model(SU),
    "tasks.task": model(SU),
    "adminconfig.salesforceconnection": model(SA, test=SA, match_users=SA),
    "adminconfig.syncsettings": model(SA, add=NO_ONE, delete=NO_ONE),
    "adminconfig.usermapping": model(SA),
    "adminconfig.resyncrun": model(SA, add=NO_ONE, change=SA_VIEW_ONLY),
    "sync.outboxentry": model(SA, add=NO_ONE, change=SA_VIEW_ONLY, delete=NO_ONE),
    "sync.syncevent": model(SA, add=NO_ONE, change=SA_VIEW_ONLY, delete=NO_ONE),
    "sync.salesforceaccount": model(SA, add=NO_ONE, change=SA_VIEW_ONLY, delete=NO_ONE),
    # Failed and successful logins (django-axes): superusers read them and unlock by deleting.
    "axes.accessattempt": model(SU, add=NO_ONE),
    "axes.accesslog": model(SU, add=NO_ONE),
    "axes.accessfailurelog": model(SU, add=NO_ONE),
}
# Custom model URLs, by their route under the model, and the kind they are.
ADMIN_MODEL_ROUTES = {
    "": "changelist",
    "add/": "add",
    "<path:object_id>/change/": "change",
    "<path:object_id>/delete/": "delete",
    "<path:object_id>/history/": "history",
    "<path:object_id>/": "redirect",
    "<int:pk>/test/": "test",
    "<int:pk>/match-users/": "match_users",
    "<id>/password/": "password",
}
POST_ONLY_KINDS = {"test", "match_users"}
ADMIN_APPS = {
    "auth": admin_only("superuser", denied=404),
    "authtoken": admin_only("superuser", denied=404),
    "django_celery_beat": admin_only("superuser", denied=404),
    "tasks": admin_only("superuser", denied=404),
    "adminconfig": admin_only(*SYNC_ADMINS, denied=404),
    "sync": admin_only(*SYNC_ADMINS, denied=404),
    "axes": admin_only("superuser", denied=404),
}
# Site-level admin views, by route: {method: expectation}, and the path to request.
NOT_STAFF_LOGIN_PAGE = expect(ALLOWED, staff=302, sync_admin=302, superuser=302)
NOT_STAFF_TO_ADMIN = {"anonymous": 302, "csm": 302, "other_csm": 302}
ADMIN_SITE: dict[str, tuple[str, dict[str, dict]]] = {
    "": ("/admin/", {"GET": ADMIN_STAFF, "POST": ADMIN_STAFF}),
    "login/": ("/admin/login/", {"GET": NOT_STAFF_LOGIN_PAGE, "POST": expect(200)}),
    # Django sends non-staff from the admin's logout back to the admin (then to its login).
    "logout/": (
        "/admin/logout/",
        {"GET": admin_only(denied=405) | NOT_STAFF_TO_ADMIN, "POST": expect(302)},
    ),
    "password_change/": (
        "/admin/password_change/",
        {"GET": ADMIN_STAFF, "POST": ADMIN_STAFF},
    ),
    "password_change/done/": (
        "/admin/password_change/done/",
        {"GET": ADMIN_STAFF, "POST": admin_only(denied=405)},
    ),
    # Without a model to complete, autocomplete refuses everyone.
    "autocomplete/": (
        "/admin/autocomplete/",
        {"GET": admin_only(), "POST": admin_only(denied=405)},
    ),
    "jsi18n/": ("/admin/jsi18n/", {"GET": ADMIN_STAFF, "POST": admin_only(denied=405)}),
    # A task has no page of its own outside the admin: 404 for staff, the login for others.
    "r/<path:content_type_id>/<path:object_id>/": (
        "view_on_site",
        {"GET": admin_only(denied=404), "POST": admin_only(denied=404)},
    ),
    # Anything else under /admin/: 404 for staff, the login for others.
    "(?P<url>.*)$": (
        "/admin/no-such-page/",
        {"GET": admin_only(denied=404), "POST": admin_only(denied=404)},
    ),
}


# ---- what exists: the URL conf and the schema ----------------------------------------------


def url_patterns(
    patterns: list[Any] | None = None, prefix: str = ""
) -> Iterator[tuple[str, URLPattern]]:
    for pattern in get_resolver().url_patterns if patterns is None else patterns:
        if isinstance(pattern, URLResolver):
            yield from url_patterns(pattern.url_patterns, prefix + str(pattern.pattern))
        else:
            yield prefix + str(pattern.pattern), pattern


def schema_operations() -> set[tuple[str, str]]:
    schema = SchemaGenerator().get_schema(request=None, public=True)
    return {
        (path, method.upper())
        for path, item in schema["paths"].items()
        for method in item
        if method in HTTP_METHODS
    }


def is_format_suffix(route: str, pattern: URLPattern) -> bool:
    # DRF's `.json` twins of each route run the same view with the same permissions.
    return "format" in route


def schema_path_of(route: str) -> str | None:
    """The schema path an /api/v1/ route serves ('^tasks/(?P<pk>[^/.]+)/$' → tasks/{id}/)."""
    path = "/" + route.replace("^", "").replace("$", "")
    path = re.sub(r"\(\?P<\w+>[^)]*\)", "{id}", path)
    return re.sub(r"<(?:\w+:)?\w+>", "{id}", path)


def admin_model_of(route: str) -> tuple[str, str] | None:
    for model_class in admin.site._registry:
        opts = model_class._meta
        prefix = f"admin/{opts.app_label}/{opts.model_name}/"
        if route.startswith(prefix):
            return f"{opts.app_label}.{opts.model_name}", route.removeprefix(prefix)
    return None


def test_every_endpoint_has_an_expectation():
    """New endpoints, pages, methods and admin models fail here until they are added above."""
    missing: list[str] = []
    operations = schema_operations()
    missing += [f"API {m} {p}" for p, m in sorted(operations - API.keys())]
    missing += [f"stale API expectation {m} {p}" for p, m in sorted(API.keys() - operations)]
    schema_paths = {path for path, _ in operations}
    for route, pattern in url_patterns():
        if is_format_suffix(route, pattern):
            continue
        if route.startswith("admin/"):
            found = admin_model_of(route)
            rest = route.removeprefix("admin/")
            if found:
                label, sub = found
                kind = ADMIN_MODEL_ROUTES.get(sub)
                if label not in ADMIN_MODELS or kind not in ADMIN_MODELS[label]:
                    missing.append(f"admin model URL {route} ({label}, {kind})")
            elif pattern.name == "app_list":
                labels = {m._meta.app_label for m in admin.site._registry}
                missing += [f"admin app {a}" for a in sorted(labels - ADMIN_APPS.keys())]
            elif rest not in ADMIN_SITE:
                missing.append(f"admin URL {route}")
        elif (
            pattern.name in PAGES
            or route.startswith("api/v1/")
            and schema_path_of(route) in schema_paths
        ):
            continue
        else:
            missing.append(f"page {route} ({pattern.name})")

    assert not missing, "No expected answers for:\n" + "\n".join(missing)


# ---- the sample world ----------------------------------------------------------------------


def build_world() -> dict[str, Any]:
    csm = UserFactory(username="alice")
    sync_admin = UserFactory(username="sam", is_staff=True)
    sync_admin.groups.add(Group.objects.get(name=SYNC_ADMIN_GROUP))
    superuser = AdminFactory(username="root")
    users = {
        "anonymous": None,
        "csm": csm,
        "other_csm": UserFactory(username="bob"),
        "staff": UserFactory(username="stella", is_staff=True),
        "sync_admin": sync_admin,
        "superuser": superuser,
    }
    connection = config.connection_create(
        name="Org", login_url="https://127.0.0.1:9", client_id="cid", client_secret="s3cret"
    )
    task = TaskFactory(owner=csm)
    interval = IntervalSchedule.objects.create(every=10, period=IntervalSchedule.SECONDS)
    objects = {
        "task": task,
        "company": CompanyFactory(),
        "superuser": superuser,
        "connection": connection,
        "field_mapping": FieldMapping.objects.filter(connection=connection).first(),
        "picklist_mapping": PicklistMapping.objects.filter(connection=connection).first(),
        "resync_run": ResyncRun.objects.create(connection=connection, reason="matrix"),
        "reconcile_run": ReconcileRun.objects.create(trigger="hand"),
        "outbox_entry": OutboxEntry.objects.create(
            task_id=task.pk,
            operation=OutboxEntry.Operation.choices[0][0],
            state=OutboxEntry.State.FAILED,
            next_attempt_at=timezone.now(),
        ),
        "conflict": Conflict.objects.create(
            task_id=task.pk,
            salesforce_id="00T000000000001AAA",
            salesforce_field="Subject",
            cockpit_value="ours",
            salesforce_value="theirs",
            winner="salesforce",
            policy="latest",
        ),
        # Admin models, by label.
        "auth.group": Group.objects.get(name=SYNC_ADMIN_GROUP),
        "auth.user": csm,
        "authtoken.tokenproxy": Token.objects.create(user=csm),
        "django_celery_beat.periodictask": PeriodicTask.objects.create(
            name="matrix", task="cockpit.tasks.heartbeat", interval=interval
        ),
        "django_celery_beat.clockedschedule": ClockedSchedule.objects.create(
            clocked_time=timezone.now()
        ),
        "django_celery_beat.crontabschedule": CrontabSchedule.objects.create(),
        "django_celery_beat.solarschedule": SolarSchedule.objects.create(
            event="sunrise", latitude=0, longitude=0
        ),
        "django_celery_beat.intervalschedule": interval,
        "tasks.status": task.status,
        "tasks.priority": task.priority,
        "tasks.tasktype": TaskType.objects.first(),
        "tasks.customfield": CustomField.objects.create(
            key="seats", label="Seats", field_type=CustomField.FieldType.NUMBER
        ),
        "tasks.company": CompanyFactory(),
        "tasks.userprofile": UserProfile.objects.get(user=csm),
        "tasks.task": task,
        "adminconfig.salesforceconnection": connection,
        "adminconfig.syncsettings": config.sync_settings_get(),
        "adminconfig.usermapping": UserMapping.objects.create(
            user=csm, salesforce_user_id="005000000000001AAA"
        ),
        "adminconfig.resyncrun": ResyncRun.objects.create(connection=connection, reason="admin"),
        "sync.salesforceaccount": SalesforceAccount.objects.create(
            salesforce_id="001000000000001AAA", name="Matrix Inc"
        ),
        "sync.syncevent": SyncEvent.objects.create(
            kind=SyncEvent.Kind.choices[0][0], message="matrix"
        ),
    }
    objects["sync.outboxentry"] = objects["outbox_entry"]
    access = {
        "username": "alice",
        "ip_address": "192.0.2.9",
        "user_agent": "matrix",
        "http_accept": "*/*",
        "path_info": "/accounts/login/",
    }
    objects["axes.accessattempt"] = AccessAttempt.objects.create(
        **access, get_data="", post_data="", failures_since_start=1
    )
    objects["axes.accesslog"] = AccessLog.objects.create(**access)
    objects["axes.accessfailurelog"] = AccessFailureLog.objects.create(**access)
    group_sync_admin = UserFactory(username="sandy")  # the Sync admin group, not staff
    group_sync_admin.groups.add(Group.objects.get(name=SYNC_ADMIN_GROUP))
    accounts = {role: users[role] for role in ACCOUNT_TARGETS if role in users}
    accounts["group_sync_admin"] = group_sync_admin
    # Signed in once per role: a page request sends the role's session cookie.
    sessions = {}
    for role, user in users.items():
        if user is not None:
            client = Client()
            client.force_login(user)
            sessions[role] = client.cookies[django_settings.SESSION_COOKIE_NAME].value
    return {"users": users, "objects": objects, "accounts": accounts, "sessions": sessions}


@pytest.fixture(scope="module")
def world(django_db_setup, django_db_blocker) -> Iterator[dict[str, Any]]:
    """Built once for the module inside a transaction that is rolled back after its last test;
    each test's own blocks nest inside it (Django's TestCase.setUpTestData, for pytest)."""
    with django_db_blocker.unblock():
        outer = transaction.atomic()
        # The test run's own block: the Salesforce client's transaction guard and durable
        # blocks see requests as production runs them.
        outer._from_testcase = True
        outer.__enter__()
        try:
            yield build_world()
        finally:
            transaction.set_rollback(True)
            outer.__exit__(None, None, None)


def object_id(world: dict[str, Any], key: str) -> Any:
    obj = world["objects"][key]
    if key == "authtoken.tokenproxy":
        return obj.user_id  # the token admin addresses a token by its user
    return obj.pk


def answer_matches(expected: Any, response: Any) -> bool:
    status = response.status_code
    location = response.get("Location", "")
    to_login = status == 302 and ("/login/" in location)
    if expected == LOGIN:
        return to_login
    if expected == ALLOWED:
        return status not in (401, 403, 404, 405) and status < 500 and not to_login
    return status == expected


def check(world: dict[str, Any], make_request: Any, expected: dict[str, Any]) -> list[str]:
    """Send the request as each role (rolled back after each) and list the wrong answers."""
    wrong = []
    for role in ROLES:
        user = world["users"][role]
        # Marked as the test's own block, as pytest-django marks its blocks: the Salesforce
        # client's transaction guard then sees each request as production runs it.
        rolled_back = transaction.atomic()
        rolled_back._from_testcase = True
        with rolled_back:
            response = make_request(user)
            transaction.set_rollback(True)
        if not answer_matches(expected[role], response):
            wrong.append(
                f"{role}: expected {expected[role]}, got {response.status_code} "
                f"{response.get('Location', '')}".rstrip()
            )
    return wrong


def api_call(method: str, path: str) -> Any:
    def make_request(user: Any) -> Any:
        client = APIClient(REMOTE_ADDR="192.0.2.1")
        if user is not None:
            client.force_authenticate(user)
        body = {} if method in ("POST", "PUT", "PATCH") else None
        return getattr(client, method.lower())(path, body, format="json")

    return make_request


def page_call(world: dict[str, Any], method: str, path: str, data: dict | None = None) -> Any:
    by_user = {id(user): role for role, user in world["users"].items()}

    def make_request(user: Any) -> Any:
        client = Client()
        if user is not None:
            session = world["sessions"][by_user[id(user)]]
            client.cookies[django_settings.SESSION_COOKIE_NAME] = session
        return getattr(client, method.lower())(path, data or {})

    return make_request


# ---- the matrix ----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(("path", "method"), sorted(API), ids=[f"{m} {p}" for p, m in sorted(API)])
def test_api(world, path, method):
    concrete = path
    if "{id}" in path:
        key = API_OBJECTS[path.split("{id}")[0]]
        concrete = path.replace("{id}", str(object_id(world, key)))

    wrong = check(world, api_call(method, concrete), API[(path, method)])

    assert not wrong, f"{method} {concrete}:\n" + "\n".join(wrong)


@pytest.mark.django_db
@pytest.mark.parametrize(("target", "method"), sorted(ACCOUNTS))
def test_account(world, target, method):
    path = f"/api/v1/users/{world['accounts'][target].pk}/"

    wrong = check(world, api_call(method, path), ACCOUNTS[(target, method)])

    assert not wrong, f"{method} {path} ({target}'s account):\n" + "\n".join(wrong)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method"),
    [(name, method) for name, methods in PAGES.items() for method in methods],
)
def test_page(world, name, method):
    key = PAGE_KWARGS.get(name)
    path = reverse(name, kwargs={"pk": object_id(world, key)} if key else None)

    wrong = check(world, page_call(world, method, path), PAGES[name][method])

    assert not wrong, f"{method} {path}:\n" + "\n".join(wrong)


ADMIN_CASES = [
    (label, kind, method)
    for label, kinds in ADMIN_MODELS.items()
    for kind in kinds
    for method in (("POST",) if kind in POST_ONLY_KINDS else ("GET", "POST"))
]


@pytest.mark.django_db
@pytest.mark.parametrize(("label", "kind", "method"), ADMIN_CASES)
def test_admin_model(world, label, kind, method):
    app_label, model_name = label.split(".")
    pk = object_id(world, label)
    if kind == "redirect":
        path = f"/admin/{app_label}/{model_name}/{pk}/"
    elif kind == "match_users":
        path = reverse(f"admin:{app_label}_{model_name}_match_users", args=[pk])
    elif kind == "password":
        path = reverse("admin:auth_user_password_change", args=[pk])
    else:
        args = [] if kind in ("changelist", "add") else [pk]
        path = reverse(f"admin:{app_label}_{model_name}_{kind}", args=args)
    # A bulk action names its rows; a delete confirms.
    data = {"post": "yes"} if kind == "delete" else {}

    expected = ADMIN_MODELS[label][kind]
    wrong = check(world, page_call(world, method, path, data), expected.get(method, expected))

    assert not wrong, f"{method} {path}:\n" + "\n".join(wrong)


@pytest.mark.django_db
@pytest.mark.parametrize(("app_label", "method"), [(a, m) for a in ADMIN_APPS for m in ("GET",)])
def test_admin_app(world, app_label, method):
    path = reverse("admin:app_list", args=[app_label])

    wrong = check(world, page_call(world, method, path), ADMIN_APPS[app_label])

    assert not wrong, f"{method} {path}:\n" + "\n".join(wrong)


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("route", "method"), [(r, m) for r, (_, methods) in ADMIN_SITE.items() for m in methods]
)
def test_admin_site(world, route, method):
    path, methods = ADMIN_SITE[route]
    if path == "view_on_site":
        from django.contrib.contenttypes.models import ContentType

        task = world["objects"]["task"]
        path = reverse(
            "admin:view_on_site", args=[ContentType.objects.get_for_model(task).pk, task.pk]
        )

    wrong = check(world, page_call(world, method, path), methods[method])

    assert not wrong, f"{method} {path}:\n" + "\n".join(wrong)


@pytest.mark.parametrize(
    ("table", "key"),
    [
        (API, ("/api/v1/tasks/", "POST")),
        (PAGES, "task-edit"),
        (ADMIN_MODELS, "tasks.task"),
        (ADMIN_APPS, "sync"),
        (ADMIN_SITE, "jsi18n/"),
    ],
    ids=["api", "page", "admin model", "admin app", "admin site"],
)
def test_an_endpoint_without_an_expectation_fails_the_matrix(monkeypatch, table, key):
    monkeypatch.delitem(table, key)

    with pytest.raises(AssertionError, match="No expected answers"):
        test_every_endpoint_has_an_expectation()
