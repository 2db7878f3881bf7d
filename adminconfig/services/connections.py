"""Salesforce connections: create, change, make primary, test."""

import os
import re
import ssl
from typing import Any
from urllib.parse import urlsplit

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone

from .. import hooks
from ..crypto import secret_encrypt
from ..models import FieldMapping, PicklistMapping, SalesforceConnection, SyncSettings
from .mappings import mappings_create_defaults, resync_start
from .sync_settings import sync_settings_get

EDITABLE = (
    "name",
    "login_url",
    "client_id",
    "api_version",
    "ca_bundle",
    "default_status",
    "default_priority",
    "external_id_field",
    "daily_api_budget",
)


def _demote_other_primaries(connection: SalesforceConnection) -> None:
    # Two concurrent "make primary" saves must not both pass: lock the settings row as a
    # mutex (it exists even before the first primary, unlike a primary row to lock), so the
    # second save waits, then sees and demotes the first one's primary.
    settings = sync_settings_get()
    SyncSettings.objects.select_for_update().filter(pk=settings.pk).get()
    SalesforceConnection.objects.filter(is_primary=True).exclude(pk=connection.pk).update(
        is_primary=False
    )


# Where the stored secret goes: changing either sends it somewhere else, so the change must
# come with the secret itself. Otherwise anyone who may edit the connection could point it
# at their own listener, press Test, and read the secret they were never shown.
SECRET_BOUND_FIELDS = ("login_url", "client_id")


def connection_secret_check(
    *, connection_id: int | None, login_url: str, client_id: str, client_secret: str | None
) -> None:
    """Refuse a login URL that is not https (unless SYNC_ALLOW_HTTP_LOGIN_URL), and a new
    login URL or client id on a saved connection that does not come with the secret."""
    scheme = urlsplit(login_url).scheme.lower()
    if not (scheme == "https" or (scheme == "http" and settings.SYNC_ALLOW_HTTP_LOGIN_URL)):
        raise ValidationError(
            {"login_url": "Use an https:// login URL: the client secret is sent to it."}
        )
    if connection_id is None or client_secret:
        return
    stored = (
        SalesforceConnection.objects.filter(pk=connection_id).values(*SECRET_BOUND_FIELDS).first()
    )
    new = {"login_url": login_url, "client_id": client_id}
    changed = [f for f in SECRET_BOUND_FIELDS if stored is not None and stored[f] != new[f]]
    if changed:
        names = " and ".join(f.replace("_", " ") for f in changed)
        raise ValidationError(
            {"client_secret": f"Enter the client secret again to change the {names}."}
        )


def connection_ca_bundle_check(path: str) -> None:
    """Refuse a CA bundle Cockpit could not use: a relative path (it would depend on the
    directory each process starts in), no readable file there, or a file with no PEM
    certificate in it. Empty is fine: the system's trusted CAs. Told at the save, not as a
    library's error at the first Test connection or push."""
    if not path:
        return
    if not os.path.isabs(path):
        raise ValidationError(
            {"ca_bundle": "Enter the absolute path of the CA certificate file on the Cockpit "
                          "server, e.g. /etc/ssl/private/salesforce-ca.pem."}
        )  # fmt: skip
    if not os.path.isfile(path) or not os.access(path, os.R_OK):
        raise ValidationError({"ca_bundle": "No readable file at this path on the Cockpit server."})
    try:
        ssl.create_default_context(cafile=path)
    except (ssl.SSLError, ValueError, OSError):
        raise ValidationError(
            {"ca_bundle": "This file holds no PEM CA certificate: export the CA as PEM "
                          "(-----BEGIN CERTIFICATE-----)."}
        ) from None  # fmt: skip


# What the default Status/Priority change: the Salesforce value of every Cockpit value that has
# no mapping, so a change re-syncs the synced tasks like a mapping change does.
DEFAULTS = ("default_status", "default_priority")


def connection_defaults_changed(connection: SalesforceConnection) -> bool:
    """Whether the saved connection's default Status or Priority differs from this one's."""
    if connection.pk is None:
        return False
    stored = SalesforceConnection.objects.filter(pk=connection.pk).values(*DEFAULTS).first()
    return stored is not None and any(stored[f] != getattr(connection, f) for f in DEFAULTS)


# A Salesforce API name: letters, digits and underscores, starting with a letter. The
# external id field goes into SOQL and into the upsert's URL, so nothing else may pass.
_API_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_]{0,79}")


def _stored(connection: SalesforceConnection, fields: tuple[str, ...]) -> dict[str, Any]:
    if connection.pk is None:
        return {}
    return SalesforceConnection.objects.filter(pk=connection.pk).values(*fields).first() or {}


def connection_org_values_check(*, connection: SalesforceConnection) -> None:
    """Refuse an external id field that is not a Salesforce API name, and, once the org's Task
    describe is known (Test connection reads it), a changed external id field that the
    describe does not mark as an external id or that a field mapping of the connection already
    maps, or a changed default Status/Priority that is not a value of the org's picklist."""
    from ..fields import describe_field, picklist_values

    errors: dict[str, str] = {}
    if not _API_NAME.fullmatch(connection.external_id_field or ""):
        errors["external_id_field"] = (
            "Enter the API name of a Task field (letters, digits and underscores), "
            "such as Cockpit_Task_Id__c."
        )
    describe = connection.task_describe
    stored = _stored(connection, ("external_id_field", *DEFAULTS))
    changed = {
        f for f in ("external_id_field", *DEFAULTS) if stored.get(f) != getattr(connection, f)
    }
    if describe and "external_id_field" in changed and "external_id_field" not in errors:
        field = describe_field(describe, connection.external_id_field)
        if field is None or not field.get("externalId"):
            marked = [f["name"] for f in describe.get("fields", []) if f.get("externalId")]
            errors["external_id_field"] = (
                f"The org's Task has no external id field {connection.external_id_field}; "
                f"its external id fields: {', '.join(marked) or 'none'}."
            )
    if connection.pk is not None and "external_id_field" in changed and not errors:
        mapped = FieldMapping.objects.filter(
            connection_id=connection.pk,
            salesforce_field__iexact=connection.external_id_field,
        ).first()
        if mapped is not None:
            # The external id is the key Cockpit matches twins by: a mapped value would let
            # a task's field pick which Salesforce record its first push upserts onto.
            errors["external_id_field"] = (
                f"{mapped.salesforce_field} is mapped from the Cockpit field "
                f"{mapped.cockpit_field}; the external id field is the key Cockpit matches "
                "twins by, so it cannot be mapped: remove that field mapping first."
            )
    for name, picklist in (("default_status", "Status"), ("default_priority", "Priority")):
        if describe and name in changed:
            values = picklist_values(describe, picklist)
            if getattr(connection, name) not in values:
                errors[name] = f"Not a {picklist} value of the org: {', '.join(values)}."
    if errors:
        raise ValidationError(errors)


@transaction.atomic
def connection_save(
    *, connection: SalesforceConnection, client_secret: str | None = None, resync: bool = True
) -> SalesforceConnection:
    """Validate and save a new or changed connection (the admin form fills the instance).

    A non-empty client_secret replaces the stored one (encrypted); empty keeps it, unless the
    login URL or client id changes. The login URL must be https (http only where
    SYNC_ALLOW_HTTP_LOGIN_URL allows it). Making the connection primary demotes the former
    primary; the first connection is primary anyway. A changed default Status or Priority
    re-syncs the synced tasks (unless `resync` is False: the admin page starts one re-sync for
    the defaults and the mappings saved together).
    """
    connection_secret_check(
        connection_id=connection.pk,
        login_url=connection.login_url,
        client_id=connection.client_id,
        client_secret=client_secret,
    )
    is_new = connection.pk is None
    if is_new and not SalesforceConnection.objects.filter(is_primary=True).exists():
        connection.is_primary = True  # the first connection is the one that syncs
    if client_secret:
        connection.client_secret_encrypted = secret_encrypt(client_secret)
        if not is_new:
            connection.state = SalesforceConnection.State.NEW
    if connection.is_primary:
        _demote_other_primaries(connection)  # first, so the single-primary check passes
    connection.full_clean(exclude=["client_secret_encrypted"])
    connection_org_values_check(connection=connection)
    defaults_changed = connection_defaults_changed(connection)
    connection.save()
    if is_new:
        mappings_create_defaults(connection=connection)
    if resync and defaults_changed and connection.is_primary:
        resync_start(connection=connection, reason="Default Status/Priority changed")
    return connection


def connection_create(
    *, name: str, client_id: str, client_secret: str, is_primary: bool = False, **fields: Any
) -> SalesforceConnection:
    connection = SalesforceConnection(name=name, client_id=client_id, is_primary=is_primary)
    for key in EDITABLE:
        if key in fields:
            setattr(connection, key, fields[key])
    return connection_save(connection=connection, client_secret=client_secret)


def connection_update(
    *,
    connection: SalesforceConnection,
    client_secret: str | None = None,
    is_primary: bool | None = None,
    resync: bool = True,
    **fields: Any,
) -> SalesforceConnection:
    """Change a connection. An empty or missing client_secret keeps the stored one, but a new
    login_url or client_id needs the secret again."""
    for key in EDITABLE:
        if key in fields:
            setattr(connection, key, fields[key])
    if is_primary is not None:
        connection.is_primary = is_primary
    return connection_save(connection=connection, client_secret=client_secret, resync=resync)


def connection_make_primary(*, connection: SalesforceConnection) -> SalesforceConnection:
    return connection_update(connection=connection, is_primary=True)


def connection_primary() -> SalesforceConnection | None:
    return SalesforceConnection.objects.filter(is_primary=True).first()


def connection_test(*, connection: SalesforceConnection) -> hooks.OrgReport:
    """Log in, read limits and the Task describe; record what was found on the connection.

    Runs outside any transaction: network time must not hold row locks.
    """
    report = hooks.gateway().org_check(connection)
    changes: dict[str, Any] = {
        "state": report.state,
        "last_error": "" if report.ok else report.message,
        "last_checked_at": timezone.now(),
    }
    if report.ok and report.instance_url:
        changes["instance_url"] = report.instance_url
    if report.ok and report.task_describe:
        changes["task_describe"] = report.task_describe
        changes["describe_fetched_at"] = timezone.now()
    SalesforceConnection.objects.filter(pk=connection.pk).update(**changes)
    for key, value in changes.items():
        setattr(connection, key, value)
    return report


def connection_salesforce_picklist(
    *, connection: SalesforceConnection, picklist: str
) -> list[str] | None:
    """The Salesforce values of Status/Priority from the cached describe; None when unknown."""
    from ..fields import picklist_values

    if not connection.task_describe:
        return None
    return picklist_values(connection.task_describe, PicklistMapping.Picklist(picklist).label)


def connection_unmapped_cockpit_values(
    *, connection: SalesforceConnection
) -> list[tuple[PicklistMapping.Picklist, list[str], str]]:
    """Per picklist: the Cockpit values no mapping lists (a status added since, such as
    "Blocked"), and the connection's default Salesforce value they are pushed as (none for
    Type)."""
    from tasks.models import Priority, Status, TaskType

    cockpit = {
        PicklistMapping.Picklist.STATUS: (
            Status.objects.values_list("value", flat=True),
            connection.default_status,
        ),
        PicklistMapping.Picklist.PRIORITY: (
            Priority.objects.values_list("value", flat=True),
            connection.default_priority,
        ),
        # Salesforce's Type may be empty: a type without a mapping goes as none.
        PicklistMapping.Picklist.TYPE: (TaskType.objects.values_list("name", flat=True), ""),
    }
    mapped = set(connection.picklist_mappings.values_list("picklist", "cockpit_value"))
    found = []
    for picklist, (cockpit_values, default) in cockpit.items():
        values = [v for v in cockpit_values if (picklist.value, v) not in mapped]
        found.append((picklist, values, default))
    return found
