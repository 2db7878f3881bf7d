"""The save preview (issue 18): before a mapping save re-syncs, the admin sees what it will
write, and the numbers are what the re-sync then writes to the emulator (over HTTPS, nothing
in the request path mocked)."""

import pytest

from adminconfig import services as config
from adminconfig.models import FieldMapping, PicklistMapping
from sync.preview import mapping_change_preview
from tasks.models import Status, TaskSyncRecord
from tests.factories import status
from tests.sync.test_mapping_changes import connection, pull, remote, resync, synced

pytestmark = pytest.mark.django_db


def salesforce_values(sf, ids, *fields):
    return {i: tuple(remote(sf, i)[f] for f in fields) for i in ids}


def changed_per_field(before, after, fields):
    return {
        name: sum(1 for i in before if before[i][n] != after[i][n])
        for n, name in enumerate(fields)
        if any(before[i][n] != after[i][n] for i in before)
    }


def test_the_preview_counts_what_the_resync_then_writes(bidi, sf, alice):
    blocked = Status.objects.create(value="Blocked", label="Blocked", order=40)
    ids = [
        synced(alice, name="Open one")[1],
        synced(alice, name="Open two")[1],
        synced(alice, name="Started", status=status("In Progress"))[1],
        synced(alice, name="Blocked, sent as the default", status=blocked)[1],
        synced(alice, name="Blocked, Deferred in Salesforce", status=blocked)[1],
    ]
    sf.Task.update(ids[4], {"Status": "Deferred"})  # a Salesforce user's value: it stays
    pull()
    open_row = PicklistMapping.objects.get(
        connection=connection(), picklist="status", cockpit_value="Open"
    )
    agreed_before = list(TaskSyncRecord.objects.values_list("agreed_values", "agreed_cockpit"))

    def change():
        config.picklist_mapping_save(
            connection=connection(),
            picklist="status",
            cockpit_value="Open",
            salesforce_values=["Waiting on someone else", "Not Started"],
            mapping=open_row,
            resync=False,
        )
        config.connection_save(
            connection=_with(connection(), default_status="Completed"), resync=False
        )

    preview = mapping_change_preview(connection=connection(), change=change)

    # The preview changed nothing.
    assert PicklistMapping.objects.get(pk=open_row.pk).salesforce_values == ["Not Started"]
    assert connection().default_status == "Not Started"
    assert (
        list(TaskSyncRecord.objects.values_list("agreed_values", "agreed_cockpit")) == agreed_before
    )

    before = salesforce_values(sf, ids, "Status", "Priority", "Subject")
    change()
    config.resync_start(connection=connection(), reason="test")
    run = resync(bidi)
    after = salesforce_values(sf, ids, "Status", "Priority", "Subject")

    assert preview.total == run.total == 5
    assert preview.by_field == changed_per_field(before, after, ["Status", "Priority", "Subject"])
    assert preview.by_field == {"Status": 3}
    assert preview.written == sum(1 for i in ids if before[i] != after[i])
    assert preview.sentence() == "Re-syncs 5 synced tasks; Status changes in Salesforce for 3."


def test_removing_a_field_mapping_previews_no_write(bidi, alice):
    synced(alice, name="Kept as it is", details="Notes")
    mapping = FieldMapping.objects.get(connection=connection(), salesforce_field="Description")

    preview = mapping_change_preview(
        connection=connection(),
        change=lambda: config.field_mapping_delete(mapping=mapping, resync=False),
    )

    assert (preview.total, preview.written, preview.by_field) == (1, 0, {})
    assert preview.sentence() == "Re-syncs 1 synced task; nothing changes in Salesforce."
    assert FieldMapping.objects.filter(salesforce_field="Description").exists()


def _with(conn, **changes):
    for name, value in changes.items():
        setattr(conn, name, value)
    return conn
