"""The Salesforce side of admin configuration: connection test, Task describe, org users."""

from typing import Any

from django.conf import settings
from django.views.decorators.debug import sensitive_variables

from adminconfig.crypto import secret_decrypt
from adminconfig.hooks import GatewayError, OrgReport
from adminconfig.models import SalesforceConnection

from .client import (
    AuthError,
    Credentials,
    SalesforceClient,
    SalesforceError,
    SecretUnreadableError,
)
from .outages import outage_end
from .sf_types import TASK_SOBJECT, SalesforceUser, SObjectDescribe
from .usage import api_usage_record

# What the cached describe keeps of each Task field: enough to validate mappings.
DESCRIBE_KEYS = (
    "name",
    "label",
    "type",
    "length",
    "nillable",
    "createable",
    "updateable",
    "custom",
    "externalId",
    "defaultedOnCreate",
    "referenceTo",
    "restrictedPicklist",
)


@sensitive_variables("secret")
def credentials(connection: SalesforceConnection) -> Credentials:
    try:
        secret = secret_decrypt(connection.client_secret_encrypted)
    except ValueError as exc:
        raise SecretUnreadableError(str(exc), code="SECRET_UNREADABLE") from None
    return Credentials(
        login_url=connection.login_url,
        client_id=connection.client_id,
        client_secret=secret,
        api_version=connection.api_version,
        ca_bundle=connection.ca_bundle,
        timeout=settings.SALESFORCE_TIMEOUT_SECONDS,
    )


def client_for(connection: SalesforceConnection) -> SalesforceClient:
    return SalesforceClient(credentials(connection))


def describe_compact(describe: SObjectDescribe) -> dict[str, Any]:
    fields = []
    for field in describe.get("fields", []):
        kept = {key: field.get(key) for key in DESCRIBE_KEYS}
        kept["picklistValues"] = [
            {
                "value": v["value"],
                "label": v.get("label"),
                "active": v.get("active", True),
                "defaultValue": v.get("defaultValue", False),
            }
            for v in field.get("picklistValues") or []
        ]
        fields.append(kept)
    return {"name": describe.get("name", TASK_SOBJECT), "fields": fields}


class SalesforceGateway:
    def org_check(self, connection: SalesforceConnection) -> OrgReport:
        calls_before = 0
        try:
            client = client_for(connection)
            calls_before = client.calls
            limits = client.limits()
            describe = describe_compact(client.task_describe())
        except ValueError as exc:  # the stored secret cannot be decrypted
            return OrgReport(ok=False, message=str(exc), state=SalesforceConnection.State.ERROR)
        except AuthError as exc:
            return OrgReport(
                ok=False, message=str(exc), state=SalesforceConnection.State.UNAUTHORIZED
            )
        except SalesforceError as exc:
            return OrgReport(ok=False, message=str(exc), state=SalesforceConnection.State.ERROR)
        outage_end(connection=connection)  # Salesforce answers: pushing need not wait
        daily = limits.get("DailyApiRequests")
        usage = client.api_usage
        if daily is not None and daily.get("Max") is not None:
            usage = (daily["Max"] - daily.get("Remaining", 0), daily["Max"])
        # The figures show on Sync health at once (not "not measured yet" until the next push),
        # and a usage near the limit pauses pushing as any other reading would.
        api_usage_record(connection, usage, calls=client.calls - calls_before)
        names = {f["name"] for f in describe["fields"]}
        has_external_id = connection.external_id_field in names
        parts = [f"Connected. {TASK_SOBJECT} has {len(describe['fields'])} fields"]
        if usage:
            parts.append(f"API usage today {usage[0]:,} of {usage[1]:,}")
        parts.append(
            f"external id field {connection.external_id_field} "
            + ("found" if has_external_id else "NOT found: retries may create duplicates")
        )
        return OrgReport(
            ok=True,
            message="; ".join(parts) + ".",
            state=SalesforceConnection.State.CONNECTED,
            api_usage=usage,
            task_describe=describe,
            has_external_id=has_external_id,
            instance_url=f"https://{client.sf.sf_instance}",
        )

    def org_users(self, connection: SalesforceConnection) -> list[SalesforceUser]:
        try:
            return client_for(connection).users()
        except (SalesforceError, ValueError) as exc:
            raise GatewayError(str(exc)) from exc
