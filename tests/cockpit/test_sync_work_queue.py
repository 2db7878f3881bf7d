"""Sync health as a work queue: every failed record with filters, search, pages and a CSV
export, and the whole log on a page of its own (issue 18)."""

import csv
import datetime as dt
import io

import pytest
import time_machine
from django.utils import timezone

from sync.models import OutboxEntry, SyncEvent
from tests.factories import OutboxEntryFactory, TaskFactory, UserFactory

pytestmark = pytest.mark.django_db

TOO_LONG = "STRING_TOO_LONG: Subject: data value too large (max length=255)"
UNMATCHED = "bob has no Salesforce user: map it in Salesforce sync configuration"


@pytest.fixture
def admin(client, sync_admin):
    client.force_login(sync_admin)
    return client


@pytest.fixture
def failures(db):
    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    with time_machine.travel(dt.datetime(2026, 12, 1, 9, tzinfo=dt.UTC), tick=False):
        OutboxEntryFactory(
            task_id=TaskFactory(owner=alice, name="Renewal call").pk,
            last_error=TOO_LONG,
            failed=True,
        )
    with time_machine.travel(dt.datetime(2026, 12, 3, 9, tzinfo=dt.UTC), tick=False):
        OutboxEntryFactory(
            task_id=TaskFactory(owner=bob, name="QBR deck").pk,
            last_error=UNMATCHED,
            error_kind="OWNER_NOT_MAPPED",
            failed=True,
        )
        OutboxEntryFactory(
            task_id=TaskFactory(owner=alice, name="=HYPERLINK(1)").pk,
            last_error="-bad: formula-looking reason",
            failed=True,
        )
    return {"alice": alice, "bob": bob}


def shown(admin, query: str = "") -> list[str]:
    answer = admin.get(f"/sync/failed/?{query}")
    assert answer.status_code == 200
    page = answer.content.decode()
    return [n for n in ("Renewal call", "QBR deck", "=HYPERLINK(1)") if f">{n}</a>" in page]


def test_every_failed_record_is_listed_the_newest_first(admin, failures):
    page = admin.get("/sync/failed/").content.decode()

    assert page.index("QBR deck") < page.index("Renewal call")
    assert "3 records" in page
    assert "A value is too long for its Salesforce field" in page  # the kind in words


@pytest.mark.parametrize(
    ("query", "expected"),
    [
        ("kind=STRING_TOO_LONG", ["Renewal call"]),
        ("kind=OWNER_NOT_MAPPED", ["QBR deck"]),
        ("since=2026-12-02", ["QBR deck", "=HYPERLINK(1)"]),
        ("until=2026-12-02", ["Renewal call"]),
        ("q=renewal", ["Renewal call"]),
        ("q=formula-looking", ["=HYPERLINK(1)"]),
    ],
    ids=["kind", "another kind", "from a day", "to a day", "task name", "reason"],
)
def test_the_failed_records_filter_by_kind_day_and_text(admin, failures, query, expected):
    assert shown(admin, query) == [
        n for n in ("Renewal call", "QBR deck", "=HYPERLINK(1)") if n in expected
    ]


def test_the_failed_records_filter_by_owner(admin, failures):
    assert shown(admin, f"owner={failures['bob'].pk}") == ["QBR deck"]


def test_a_wrong_day_is_said_beside_its_field_and_the_list_stays(admin, failures):
    page = admin.get("/sync/failed/?since=2026-13-45").content.decode()

    assert "Enter a valid date." in page
    assert "3 records" in page


def test_the_export_is_the_filtered_list_as_csv_without_formulas(admin, failures):
    answer = admin.get("/sync/failed/?since=2026-12-02&export=csv")

    assert answer["Content-Type"].startswith("text/csv")
    assert "attachment" in answer["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(answer.content.decode())))
    assert {r["task"] for r in rows} == {"QBR deck", "'=HYPERLINK(1)"}
    qbr = next(r for r in rows if r["task"] == "QBR deck")
    assert qbr["owner"] == "bob"
    assert qbr["kind"] == "The task's owner has no Salesforce user"
    assert next(r for r in rows if r["task"] != "QBR deck")["reason"].startswith("'-bad")


def test_the_failed_records_come_in_pages_of_50(admin):
    OutboxEntryFactory.create_batch(55, last_error=TOO_LONG, failed=True)

    first = admin.get("/sync/failed/").content.decode()
    second = admin.get("/sync/failed/?page=2").content.decode()

    assert first.count('data-label="Task"') == 50
    assert second.count('data-label="Task"') == 5
    assert "Page 1 of 2" in first


def test_retrying_from_the_queue_queues_it_and_comes_back_to_the_same_filters(admin, failures):
    entry = OutboxEntry.objects.get(last_error=TOO_LONG)

    answer = admin.post(
        f"/sync/errors/{entry.pk}/retry/", {"next": "/sync/failed/?kind=STRING_TOO_LONG"}
    )

    assert answer.status_code == 302
    assert answer["Location"] == "/sync/failed/?kind=STRING_TOO_LONG"
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.PENDING


def test_the_log_has_a_page_of_its_own_with_filters_and_pages(admin):
    task = TaskFactory(name="Renewal call")
    SyncEvent.objects.create(kind="pushed", task_id=task.pk, message="'Renewal call' pushed")
    SyncEvent.objects.create(kind="error", message="Pull failed: Salesforce unreachable")
    SyncEvent.objects.bulk_create(SyncEvent(kind="pulled", message=f"pull {n}") for n in range(60))

    errors = admin.get("/sync/log/?kind=error").content.decode()
    renewal = admin.get("/sync/log/?q=renewal").content.decode()
    first = admin.get("/sync/log/").content.decode()

    assert "Pull failed" in errors and "pushed" not in errors.split('id="log-lines"')[1]
    assert '<a href="/tasks/' in renewal and "Pull failed" not in renewal
    assert first.count("<li><time") == 50 and "Page 1 of 2" in first
    today = timezone.localdate().isoformat()
    assert "Pull failed" in admin.get(f"/sync/log/?since={today}&kind=error").content.decode()
    assert "Pull failed" not in admin.get("/sync/log/?until=2020-01-01").content.decode()


@pytest.mark.parametrize("path", ["/sync/failed/", "/sync/log/"])
def test_csms_are_refused_the_work_queues(client, csm, path):
    client.force_login(csm)

    assert client.get(path).status_code == 403
