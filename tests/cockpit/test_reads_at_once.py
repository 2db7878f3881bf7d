"""Several one-row reads in one query give what the ORM's own reads give (issue 19)."""

import datetime as dt

import pytest
from django.db.models import Count
from django.utils import timezone

from adminconfig import services as config
from adminconfig.models import SalesforceConnection, SyncSettings
from cockpit.page_rows import page_row
from cockpit.reads_at_once import count_of, first_rows, rows_at_once, values_at_once
from cockpit.request_memo import reads_memoized
from sync.models import PullState, SyncEvent

pytestmark = pytest.mark.django_db


def fields_of(row) -> dict:
    return {f.attname: getattr(row, f.attname) for f in row._meta.concrete_fields}


def test_first_rows_are_the_rows_first_reads_with_every_kind_of_value():
    connection = config.connection_create(
        name="Org",
        login_url="https://acme.my.salesforce.com",
        client_id="cid",
        client_secret="s3cret",
        is_primary=True,
    )
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        task_describe={"fields": [{"name": "Subject", "length": 255}]},
        push_paused_until=timezone.now() + dt.timedelta(hours=1),
        api_usage=12,
    )
    config.sync_settings_update(auto_sync=True, bidirectional_sync=False)

    rows = first_rows(
        {
            "connection": SalesforceConnection.objects.filter(is_primary=True),
            "settings": SyncSettings.objects.filter(pk=1),
            "pull": PullState.objects.filter(pk=1),  # none yet
        }
    )

    assert fields_of(rows["connection"]) == fields_of(
        SalesforceConnection.objects.filter(is_primary=True).first()
    )
    assert rows["connection"].task_describe["fields"][0]["length"] == 255  # JSON, parsed
    assert rows["settings"].auto_sync is True and rows["settings"].bidirectional_sync is False
    assert fields_of(rows["settings"]) == fields_of(SyncSettings.objects.get(pk=1))
    assert rows["pull"] is None


def test_values_at_once_counts_and_dates_as_their_own_queries_would():
    for kind in ("pushed", "pushed", "pulled"):
        SyncEvent.objects.create(kind=kind, message="m")

    values = values_at_once(
        {
            "pushed": count_of(SyncEvent.objects.filter(kind="pushed")),
            "deleted": count_of(SyncEvent.objects.filter(kind="deleted")),
            "newest": SyncEvent.objects.order_by("-created_at").values("created_at"),
            "none": SyncEvent.objects.filter(kind="deleted").values("created_at"),
        }
    )

    assert values == {
        "pushed": 2,
        "deleted": 0,
        "newest": SyncEvent.objects.latest("created_at").created_at,
        "none": None,
    }
    assert SyncEvent.objects.aggregate(n=Count("id"))["n"] == 3


def test_a_get_request_reads_the_one_row_tables_together_and_elsewhere_each_afresh(
    django_assert_num_queries,
):
    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)

    with reads_memoized(), django_assert_num_queries(1):
        page_row("sync_settings")
        page_row("primary_connection")
        page_row("pull_state")
        assert page_row("sync_settings").auto_sync is True

    with django_assert_num_queries(2):
        page_row("sync_settings")
        page_row("pull_state")


def test_rows_at_once_are_the_rows_each_read_gives_in_its_order_with_every_kind_of_value(
    django_assert_num_queries,
):
    from adminconfig.models import FieldMapping, PicklistMapping
    from tasks.models import CustomField
    from tests.factories import CustomFieldFactory

    connection = config.connection_create(
        name="Org",
        login_url="https://acme.my.salesforce.com",
        client_id="cid",
        client_secret="s3cret",
        is_primary=True,
    )
    config.mappings_create_defaults(connection=connection)  # picklists: JSON lists
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        task_describe={"fields": [{"name": "Subject", "length": 255}]},
        push_paused_until=timezone.now() + dt.timedelta(hours=1),  # an aware datetime
    )
    CustomFieldFactory(key="zeta", label="Zeta", required=True)
    CustomFieldFactory(key="alpha", label="Alpha", is_active=False)
    reads = {
        "connections": SalesforceConnection.objects.all(),
        "fields": FieldMapping.objects.filter(connection__is_primary=True),
        "picklists": PicklistMapping.objects.order_by("-id"),
        "custom": CustomField.objects.order_by("key"),
        "none": SyncEvent.objects.all(),
    }

    with django_assert_num_queries(1):
        rows = rows_at_once(reads, statement="test_rows_at_once")

    for name, qs in reads.items():
        assert [fields_of(r) for r in rows[name]] == [fields_of(r) for r in qs], name
    assert [c.key for c in rows["custom"]] == ["alpha", "zeta"]
    assert rows["custom"][1].required is True and rows["custom"][0].is_active is False
    assert rows["connections"][0].task_describe["fields"][0]["length"] == 255
    assert rows["connections"][0].push_paused_until > timezone.now()
    assert rows["fields"] and rows["none"] == []
    assert len(rows["picklists"]) > 1 and isinstance(rows["picklists"][0].salesforce_values, list)
