import pytest

from adminconfig import services
from adminconfig.models import SalesforceConnection
from sfemulator.certs import ensure_certificates


def sf_field(name, type_, length=0, updateable=True, picklist=(), label=None, **extra):
    return {
        "name": name,
        "label": label or name,
        "type": type_,
        "length": length,
        "createable": updateable,
        "updateable": updateable,
        "nillable": True,
        "custom": name.endswith("__c"),
        "externalId": False,
        "picklistValues": [{"value": v, "label": v, "active": True} for v in picklist],
        **extra,
    }


# The compact Task describe Cockpit caches, in Salesforce's field shapes.
TASK_DESCRIBE = {
    "name": "Task",
    "fields": [
        sf_field("Id", "id", 18, updateable=False),
        sf_field("Subject", "combobox", 255),
        sf_field(
            "Status",
            "picklist",
            40,
            picklist=[
                "Not Started",
                "In Progress",
                "Completed",
                "Waiting on someone else",
                "Deferred",
            ],
        ),
        sf_field("Priority", "picklist", 40, picklist=["High", "Normal", "Low"]),
        sf_field("Type", "picklist", 40, picklist=["Call", "Email", "Meeting", "Other"]),
        sf_field("ActivityDate", "date"),
        sf_field("Description", "textarea", 32000),
        sf_field("OwnerId", "reference", 18, referenceTo=["User"]),
        sf_field("WhatId", "reference", 18, referenceTo=["Account"]),
        sf_field("IsClosed", "boolean", updateable=False),
        sf_field("CompletedDateTime", "datetime", updateable=False),
        sf_field("Name__c", "string", 80),
        sf_field("Effort_Hours__c", "double"),
        sf_field("Follow_Up_Date__c", "date"),
        sf_field("Customer_Health__c", "picklist", 40, picklist=["Green", "Red"]),
        sf_field("Tags__c", "multipicklist", 4099, picklist=["A", "B"]),
    ],
}


@pytest.fixture
def connection(db):
    conn = services.connection_create(
        name="Org", login_url="https://127.0.0.1:9", client_id="cid", client_secret="s3cret-value"
    )
    SalesforceConnection.objects.filter(pk=conn.pk).update(task_describe=TASK_DESCRIBE)
    conn.refresh_from_db()
    return conn


# The same, with the external id fields an org marks (the connection's is Cockpit_Task_Id__c).
TASK_DESCRIBE_WITH_EXTERNAL_IDS = {
    **TASK_DESCRIBE,
    "fields": [
        *TASK_DESCRIBE["fields"],
        sf_field("Cockpit_Task_Id__c", "string", 255, externalId=True),
        sf_field("Legacy_Id__c", "string", 80, externalId=True),
    ],
}


@pytest.fixture
def ca_bundles(tmp_path):
    """A real CA certificate file, and three paths Cockpit could not use (→ the error's words)."""
    ensure_certificates(tmp_path / "certs", "127.0.0.1")
    not_pem = tmp_path / "notes.txt"
    not_pem.write_text("not a certificate\n")
    return str(tmp_path / "certs" / "ca.pem"), {
        "certs/ca.pem": "absolute path",
        str(tmp_path / "missing.pem"): "No readable file",
        str(not_pem): "no PEM CA certificate",
    }
