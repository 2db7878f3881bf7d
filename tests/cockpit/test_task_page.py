"""The task page, desync, the list's counts, bulk actions and row refresh, and the API docs."""

import datetime as dt

import pytest
from django.db import connection as db
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from adminconfig.models import SyncSettings, UserMapping
from cockpit.selectors import (
    LIMIT,
    LOCKED,
    LOGIN,
    NO_ANSWER,
    OWNER_UNMATCHED,
    UNREACHABLE,
    error_in_words,
)
from sync import outbox
from sync.exceptions import SyncOffError
from sync.failures import Failure, kind_of
from sync.models import Conflict, OutboxEntry, SyncEvent
from tasks.field_kinds import FIELD_KINDS, NumberKind
from tasks.models import CustomField, Task, TaskSyncRecord
from tests.factories import (
    CompanyFactory,
    CustomFieldFactory,
    OutboxEntryFactory,
    SyncRecordFactory,
    TaskFactory,
    status,
)

pytestmark = pytest.mark.django_db

RAW_OUTAGE = (
    "Salesforce unreachable: HTTPSConnectionPool(host='acme.my.salesforce.com', port=443): "
    "Max retries exceeded with url: /services/data/v62.0/composite/sobjects (Caused by "
    "NewConnectionError('<urllib3.connection.HTTPSConnection object at 0x7f>: Failed to "
    "establish a new connection: [Errno 111] Connection refused'))"
)


@pytest.fixture
def alice(client, csm):
    client.force_login(csm)
    return client


def text_of(response) -> str:
    assert response.status_code == 200, response.status_code
    return response.content.decode()


# --- Errors in a CSM's words ---------------------------------------------------------------


@pytest.mark.parametrize(
    ("stored", "shown", "gave_up_after"),
    [
        ("", "", None),
        (RAW_OUTAGE, UNREACHABLE, None),
        (f"Will retry: {RAW_OUTAGE}", UNREACHABLE, None),
        ("Salesforce did not answer: Read timed out. (read timeout=30)", NO_ANSWER, None),
        ("INVALID_SESSION_ID: Session expired or invalid", LOGIN, None),
        ("Login refused: invalid_client client secret invalid", LOGIN, None),
        ("UNABLE_TO_LOCK_ROW: unable to obtain exclusive access", LOCKED, None),
        ("REQUEST_LIMIT_EXCEEDED: TotalRequests Limit exceeded.", LIMIT, None),
        (
            "alice has no Salesforce user: map it in Salesforce sync configuration",
            OWNER_UNMATCHED,
            None,
        ),
        (
            "FIELD_CUSTOM_VALIDATION_EXCEPTION: Due date must be in the future (ActivityDate)",
            "Salesforce refused the change: Due date must be in the future (ActivityDate)",
            None,
        ),
        (
            "STRING_TOO_LONG: Subject too long (gave up after 10 attempts)",
            "Salesforce refused the change: Subject too long. Cockpit gave up after 10 attempts: "
            "use Retry to try again.",
            10,
        ),
        (
            f"{RAW_OUTAGE} (gave up after 10 attempts)",
            "Salesforce could not be reached. Cockpit gave up after 10 attempts: use Retry to "
            "try again.",
            10,
        ),
        ("Something a person wrote", "Something a person wrote", None),
        (
            "FIELD_CUSTOM_VALIDATION_EXCEPTION: Escalate (gave up after 3 attempts)",
            "Salesforce refused the change: Escalate (gave up after 3 attempts)",
            None,
        ),
    ],
    ids=[
        "nothing",
        "connection refused",
        "retry prefix",
        "timeout",
        "expired session",
        "login refused",
        "locked row",
        "api limit",
        "owner not matched",
        "salesforce validation rule",
        "gave up on a refusal",
        "gave up on an outage",
        "plain text kept",
        "a rule's words that only look given up",
    ],
)
def test_errors_read_as_a_csm_understands_them(stored, shown, gave_up_after):
    assert error_in_words(stored, gave_up_after=gave_up_after) == shown


# --- The task page -------------------------------------------------------------------------


def test_the_task_page_shows_fields_company_custom_fields_and_the_salesforce_link(
    alice, csm, sync_on
):
    seats = CustomFieldFactory(key="seats", label="Seats", field_type=CustomField.FieldType.NUMBER)
    acme = CompanyFactory(name="Acme Corp")
    task = TaskFactory(
        owner=csm, name="Renewal call", company=acme, details="Bring the\nnew pricing"
    )
    Task.objects.filter(pk=task.pk).update(custom_fields={seats.key: 40})
    SyncRecordFactory(
        task=task,
        salesforce_id="00T000000000042AAA",
        state=TaskSyncRecord.State.SYNCED,
        last_synced_at=timezone.now(),
    )

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert "<h1>Renewal call</h1>" in text
    assert "Acme Corp" in text
    assert "Bring the\nnew pricing" in text
    assert "<dt>Seats</dt><dd>40</dd>" in text
    assert 'href="https://acme.my.salesforce.com/lightning/r/Task/00T000000000042AAA/view"' in text
    assert "Synced with Salesforce" in text
    assert f'href="/tasks/{task.pk}/edit/?next=' in text
    assert "Stop syncing this task" in text


@pytest.mark.parametrize(
    ("kind", "stored", "shown"),
    [
        ("text", "Dana <CFO>", "Dana &lt;CFO&gt;"),
        ("number", 40, "40"),
        ("number", 2.5, "2.5"),
        ("date", "2026-12-01", "Tuesday, 1 December 2026"),
        ("date", "not a date", "not a date"),  # stored before the check: shown as it is
        ("datetime", "2026-12-01T09:30:00+00:00", "2026-12-01T09:30:00+00:00"),
        ("boolean", True, "Yes"),
        ("boolean", False, "No"),
        ("email", "dana@example.com", "dana@example.com"),
        (
            "url",
            "https://example.com/deck?a=1&b=2",
            '<a href="https://example.com/deck?a=1&amp;b=2" rel="noopener noreferrer">'
            "https://example.com/deck?a=1&amp;b=2</a>",
        ),
    ],
)
def test_the_task_page_shows_each_kind_of_custom_value_as_its_kind_says(
    alice, csm, kind, stored, shown
):
    field = CustomFieldFactory(key="extra", label="Extra", field_type=kind)
    task = TaskFactory(owner=csm)
    Task.objects.filter(pk=task.pk).update(custom_fields={field.key: stored})

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert f"<dt>Extra</dt><dd>{shown}</dd>" in text


def test_a_new_field_kind_is_shown_on_the_task_page_with_no_template_edit(alice, csm, monkeypatch):
    class StarsKind(NumberKind):
        name = "stars"
        label = "Stars"

        def page_html(self, value):
            return "★" * value

    monkeypatch.setitem(FIELD_KINDS, "stars", StarsKind())
    field = CustomFieldFactory(key="rating", label="Rating", field_type="stars")
    task = TaskFactory(owner=csm)
    Task.objects.filter(pk=task.pk).update(custom_fields={field.key: 3})

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert "<dt>Rating</dt><dd>★★★</dd>" in text


def test_the_list_links_each_row_to_its_task_page(alice, csm):
    task = TaskFactory(owner=csm, name="Renewal call")

    text = text_of(alice.get("/?view=open"))

    assert f'<a class="task-name" href="/tasks/{task.pk}/?next=/%3Fview%3Dopen">' in text


def test_a_task_waiting_on_an_outage_says_so_in_plain_words(alice, csm, sync_on):
    UserMapping.objects.create(user=csm, salesforce_user_id="005000000000001AAA")
    task = TaskFactory(owner=csm)
    SyncRecordFactory(
        task=task, state=TaskSyncRecord.State.PENDING, last_error=f"Will retry: {RAW_OUTAGE}"
    )
    OutboxEntryFactory(
        task_id=task.pk,
        operation=OutboxEntry.Operation.UPSERT,
        attempts=2,
        last_error=RAW_OUTAGE,
        next_attempt_at=timezone.now() + dt.timedelta(minutes=2),
    )
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.RETRY, task_id=task.pk, message=f"Attempt 2 failed: {RAW_OUTAGE}"
    )

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert "Waiting to retry" in text
    assert UNREACHABLE in text
    assert "Next try" in text
    assert "HTTPSConnectionPool" not in text
    assert "urllib3" not in text


@pytest.mark.parametrize(
    ("setup", "headline", "words"),
    [
        ("sync_off", "Waiting: sync is switched off", "goes out when it is switched on again"),
        ("unmatched", "Waiting: your user is not matched", "Match users by email"),
        ("budget", "Waiting: Salesforce API budget", "close to its daily Salesforce API limit"),
        ("fresh", "Waiting to be sent", "within seconds"),
    ],
)
def test_a_pending_task_says_why_it_waits(alice, csm, sync_on, setup, headline, words):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, state=TaskSyncRecord.State.PENDING)
    if setup != "unmatched":
        UserMapping.objects.create(user=csm, salesforce_user_id="005000000000001AAA")
    if setup == "sync_off":
        SyncSettings.objects.filter(pk=1).update(auto_sync=False)
    if setup == "budget":
        sync_on.push_paused_until = timezone.now() + dt.timedelta(hours=1)
        sync_on.save(update_fields=["push_paused_until"])

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert headline in text
    assert words in text


def _push_given_up(task: Task, reason: str) -> OutboxEntry:
    """The last two tries of a push as the engine records them: one more retry, then it gives
    up (outbox.MAX_ATTEMPTS) and the entry fails."""
    failure = Failure(reason, kind_of(reason.split(":")[0]), reason.split(":")[0])
    entry = OutboxEntryFactory(
        task_id=task.pk,
        state=OutboxEntry.State.IN_FLIGHT,
        claimed_at=timezone.now(),
        attempts=outbox.MAX_ATTEMPTS - 2,
    )
    outbox.entry_retry_later(entry, failure)
    OutboxEntry.objects.filter(pk=entry.pk).update(
        state=OutboxEntry.State.IN_FLIGHT, claimed_at=timezone.now()
    )
    entry.refresh_from_db()
    outbox.entry_retry_later(entry, failure)
    entry.refresh_from_db()
    assert entry.state == OutboxEntry.State.FAILED
    return entry


def _history(response) -> str:
    text = text_of(response)
    return text[text.index('id="timeline-heading"') : text.index("<aside>")]


def test_the_sync_history_says_in_a_sentence_that_cockpit_gave_up_and_where_to_retry(
    alice, csm, sync_on
):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA")
    _push_given_up(task, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Pick a type")

    history = _history(alice.get(f"/tasks/{task.pk}/"))

    assert history.count("Gave up after 10 attempts") == 1  # the failure and its log line: one
    assert (
        '<strong>Gave up after 10 attempts</strong>\n          <span class="detail">'
        "Salesforce refused the change: Pick a type. "
        "Retry from “Retry sync to Salesforce” on this page.</span>"
    ) in history
    assert "Attempt 9 failed: Salesforce refused the change: Pick a type." in history
    assert "(gave up after" not in history
    assert "FIELD_CUSTOM_VALIDATION_EXCEPTION" not in history


def test_a_give_up_since_retried_stays_in_the_history_without_the_retry_hint(alice, csm, sync_on):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA")
    entry = _push_given_up(task, "UNABLE_TO_LOCK_ROW: unable to obtain exclusive access")
    OutboxEntry.objects.filter(pk=entry.pk).update(state=OutboxEntry.State.DONE)  # retried

    history = _history(alice.get(f"/tasks/{task.pk}/"))

    assert "<strong>Gave up after 10 attempts</strong>" in history
    assert "The Salesforce record was busy with another update." in history
    assert "Retry from" not in history
    assert "(gave up after" not in history


def test_a_sync_admin_reading_the_task_is_sent_to_the_failed_pushes(client, csm, sync_admin):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA")
    _push_given_up(task, "FIELD_CUSTOM_VALIDATION_EXCEPTION: Pick a type")
    client.force_login(sync_admin)

    history = _history(client.get(f"/tasks/{task.pk}/"))

    assert "Pick a type. Retry from Failed pushes on the sync health page." in history


def test_the_sync_history_lists_events_conflicts_and_failed_pushes(alice, csm):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA")
    SyncEvent.objects.create(
        kind=SyncEvent.Kind.PULLED, task_id=task.pk, message="Subject changed in Salesforce"
    )
    Conflict.objects.create(
        task_id=task.pk,
        salesforce_id="00T000000000042AAA",
        salesforce_field="Subject",
        cockpit_value="Call Acme",
        salesforce_value="Call Acme Corp",
        winner="salesforce",
        policy="latest",
    )
    OutboxEntryFactory(
        task_id=task.pk,
        operation=OutboxEntry.Operation.UPSERT,
        state=OutboxEntry.State.FAILED,
        last_error="FIELD_CUSTOM_VALIDATION_EXCEPTION: Pick a type",
        next_attempt_at=timezone.now(),
    )
    other = TaskFactory(owner=csm)
    SyncEvent.objects.create(kind=SyncEvent.Kind.PUSHED, task_id=other.pk, message="Not this")

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert "Pulled from Salesforce" in text
    assert "Subject changed in Salesforce" in text
    assert "Changed on both sides: Subject" in text
    assert "Salesforce&#x27;s value was kept" in text
    assert "Push failed" in text
    assert "Salesforce refused the change: Pick a type" in text
    assert "Not this" not in text


def test_a_push_that_failed_for_good_is_said_once_on_the_task_page(alice, csm):
    task = TaskFactory(owner=csm, name="Call Acme")
    entry = OutboxEntryFactory(
        task_id=task.pk,
        operation=OutboxEntry.Operation.UPSERT,
        state=OutboxEntry.State.FAILED,
        last_error="FIELD_CUSTOM_VALIDATION_EXCEPTION: Pick a type",
        next_attempt_at=timezone.now(),
    )
    # The log line the engine writes with it (sync/outbox.py, entry_fail), a moment later.
    SyncEvent.objects.create(kind=SyncEvent.Kind.ERROR, task_id=task.pk, message=entry.last_error)

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert text.count("Salesforce refused the change: Pick a type") == 1
    assert "Push failed" in text


def test_another_csms_task_page_is_a_404(alice, other_csm):
    task = TaskFactory(owner=other_csm)

    assert alice.get(f"/tasks/{task.pk}/").status_code == 404
    assert alice.post(f"/tasks/{task.pk}/desync/").status_code == 404


# --- Desync --------------------------------------------------------------------------------


def test_a_csm_stops_syncing_a_task_and_syncs_it_again(
    alice, csm, sync_on, django_capture_on_commit_callbacks
):
    UserMapping.objects.create(user=csm, salesforce_user_id="005000000000001AAA")
    task = TaskFactory(owner=csm)
    SyncRecordFactory(
        task=task, salesforce_id="00T000000000042AAA", state=TaskSyncRecord.State.SYNCED
    )

    response = alice.post(f"/tasks/{task.pk}/desync/", follow=True)

    text = text_of(response)
    assert "Stopped syncing" in text
    assert "Not syncing" in text
    assert "Sync again" in text
    assert 'id="sync-now"' not in text
    record = TaskSyncRecord.objects.get(task=task)
    assert record.desynced_at is not None
    assert record.salesforce_id == "00T000000000042AAA"  # the link is kept

    # Edits of a desynced task are not queued for Salesforce.
    alice.post(
        f"/tasks/{task.pk}/edit/",
        {
            "name": "Changed while stopped",
            "status": task.status_id,
            "priority": task.priority_id,
        },
    )
    assert Task.objects.get(pk=task.pk).name == "Changed while stopped"
    assert not OutboxEntry.objects.filter(task_id=task.pk).exists()

    with django_capture_on_commit_callbacks() as callbacks:
        response = alice.post(f"/tasks/{task.pk}/resync/", follow=True)

    assert "syncs with Salesforce again" in text_of(response)
    assert TaskSyncRecord.objects.get(task=task).desynced_at is None
    assert OutboxEntry.objects.filter(
        task_id=task.pk, state=OutboxEntry.State.PENDING, operation="upsert"
    ).exists()
    assert callbacks  # the worker is rung after commit


def test_desync_of_a_task_that_never_synced_is_refused(alice, csm):
    task = TaskFactory(owner=csm)

    response = alice.post(f"/tasks/{task.pk}/desync/", follow=True)

    assert "not synced with Salesforce" in text_of(response)
    assert not TaskSyncRecord.objects.filter(task=task).exists()


def test_sync_to_salesforce_is_refused_for_a_desynced_task(alice, csm, sync_on):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, desynced_at=timezone.now())

    response = alice.post(f"/tasks/{task.pk}/sync/", follow=True)

    assert "sync it again first" in text_of(response)
    assert not OutboxEntry.objects.filter(task_id=task.pk).exists()


def test_the_list_shows_a_desynced_task_as_not_syncing(alice, csm):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, state=TaskSyncRecord.State.SYNCED, desynced_at=timezone.now())

    assert '<span class="badge desynced">Not syncing</span>' in text_of(alice.get("/?view=open"))


# --- The list: counts, bulk actions, row refresh -------------------------------------------


def test_each_tab_shows_its_count(alice, csm, other_csm):
    from tasks.selectors import user_today

    today = user_today(csm)
    TaskFactory(owner=csm, due_date=today - dt.timedelta(days=3))  # overdue
    TaskFactory(owner=csm, due_date=today)
    TaskFactory(owner=csm, due_date=today + dt.timedelta(days=1))
    TaskFactory(owner=csm, due_date=today + dt.timedelta(days=9))  # upcoming
    TaskFactory(owner=csm, due_date=today, status=status("Complete"))
    TaskFactory(owner=other_csm, due_date=today)

    text = text_of(alice.get("/"))

    assert 'Today &amp; tomorrow <span class="count" id="count-today">4</span>' in text
    assert 'All open <span class="count" id="count-open">4</span>' in text
    assert 'Upcoming <span class="count" id="count-upcoming">1</span>' in text
    assert 'Completed <span class="count" id="count-completed">1</span>' in text


def test_bulk_complete_completes_only_the_csms_own_selected_tasks(alice, csm, other_csm):
    one, two, untouched = TaskFactory.create_batch(3, owner=csm)
    theirs = TaskFactory(owner=other_csm)

    response = alice.post(
        "/tasks/bulk/",
        {"action": "complete", "task": [one.pk, two.pk, theirs.pk], "next": "/?view=open"},
    )

    assert response.status_code == 302
    assert response["Location"] == "/?view=open"
    closed = set(Task.objects.filter(status__is_closed=True).values_list("pk", flat=True))
    assert closed == {one.pk, two.pk}
    text = text_of(alice.get("/?view=open"))
    assert "Completed 2 tasks." in text
    assert "1 task not completed: complete already, deleted meanwhile, or no longer yours." in text
    assert untouched.pk not in closed


def test_a_bulk_action_on_no_task_of_one_s_own_says_so_and_not_that_it_succeeded(alice, other_csm):
    theirs = TaskFactory(owner=other_csm)

    text = text_of(
        alice.post(
            "/tasks/bulk/", {"action": "complete", "task": [theirs.pk], "next": "/"}, follow=True
        )
    )

    assert "Completed 0 tasks." not in text
    assert "1 task not completed" in text
    assert not Task.objects.get(pk=theirs.pk).status.is_closed


def test_bulk_delete_asks_first_then_deletes_only_own_tasks(alice, csm, other_csm):
    one, two = TaskFactory.create_batch(2, owner=csm)
    theirs = TaskFactory(owner=other_csm)
    chosen = [one.pk, two.pk, theirs.pk]

    text = text_of(alice.post("/tasks/bulk/", {"action": "delete", "task": chosen}))

    assert "Delete these tasks?" in text
    assert one.name in text
    assert theirs.name not in text
    assert Task.objects.count() == 3

    response = alice.post(
        "/tasks/bulk/", {"action": "delete", "task": chosen, "confirmed": "on"}, follow=True
    )

    assert "Deleted 2 tasks." in text_of(response)
    assert "1 task not deleted: deleted meanwhile, or no longer yours." in text_of(response)
    assert list(Task.objects.values_list("pk", flat=True)) == [theirs.pk]


def test_bulk_sync_queues_pushes_and_says_when_sync_is_off(alice, csm, sync_on):
    one, two = TaskFactory.create_batch(2, owner=csm)
    stopped = TaskFactory(owner=csm)
    SyncRecordFactory(task=stopped, desynced_at=timezone.now())
    OutboxEntry.objects.all().delete()

    response = alice.post(
        "/tasks/bulk/", {"action": "sync", "task": [one.pk, two.pk, stopped.pk]}, follow=True
    )

    text = text_of(response)
    assert "Queued 2 tasks for Salesforce." in text
    assert "1 task not sent" in text
    queued = OutboxEntry.objects.filter(state=OutboxEntry.State.PENDING)
    assert set(queued.values_list("task_id", flat=True)) == {one.pk, two.pk}

    SyncSettings.objects.filter(pk=1).update(auto_sync=False)
    response = alice.post("/tasks/bulk/", {"action": "sync", "task": [one.pk]}, follow=True)
    assert "sync is switched off" in text_of(response)


def test_a_bulk_post_without_a_selection_says_what_to_do(alice):
    response = alice.post("/tasks/bulk/", {"action": "complete"}, follow=True)

    assert "Select one or more tasks" in text_of(response)


def test_the_rows_answer_204_until_a_row_changes(alice, csm, other_csm):
    one, two = TaskFactory.create_batch(2, owner=csm)
    theirs = TaskFactory(owner=other_csm, name="Bob's secret")
    ids = f"{one.pk},{two.pk}"

    first = alice.get("/tasks/rows/", {"ids": ids, "v": "", "next": "/?view=open"})
    text = text_of(first)
    assert text.lstrip().startswith("{% load") is False
    assert f'id="task-row-{one.pk}"' in text
    version = text.split("&amp;v=")[1].split("&amp;")[0]

    with CaptureQueriesContext(db) as captured:
        unchanged = alice.get("/tasks/rows/", {"ids": ids, "v": version})
    assert unchanged.status_code == 204
    assert len(captured) <= 4  # session, user, the rows: nothing per row

    Task.objects.filter(pk=one.pk).update(name="Renamed in Salesforce", updated_at=timezone.now())
    changed = alice.get("/tasks/rows/", {"ids": ids, "v": version, "task": [two.pk]})
    text = text_of(changed)
    assert "Renamed in Salesforce" in text
    assert f'value="{two.pk}" form="bulk" aria-label="Select {two.name}" checked' in text

    mixed = alice.get("/tasks/rows/", {"ids": f"{one.pk},{theirs.pk}", "v": ""})
    assert "Bob&#x27;s secret" not in text_of(mixed)


# --- The API -------------------------------------------------------------------------------


def test_the_api_desyncs_and_resyncs_a_task(csm_api, csm, sync_on):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(
        task=task, salesforce_id="00T000000000042AAA", state=TaskSyncRecord.State.SYNCED
    )

    response = csm_api.post(f"/api/v1/tasks/{task.pk}/desync/")
    assert response.status_code == 200, response.json()
    assert response.json()["sync"]["desynced_at"] is not None

    again = csm_api.post(f"/api/v1/tasks/{task.pk}/desync/")
    assert again.status_code == 400
    assert "already stopped" in str(again.json())

    response = csm_api.post(f"/api/v1/tasks/{task.pk}/resync/")
    assert response.status_code == 200, response.json()
    assert response.json()["sync"]["desynced_at"] is None
    assert response.json()["sync"]["state"] == "pending"
    assert csm_api.post(f"/api/v1/tasks/{task.pk}/resync/").status_code == 400


def test_the_api_refuses_desync_of_a_task_never_synced_and_of_anothers(csm_api, other_csm):
    from tests.factories import UserFactory

    mine = TaskFactory(owner=UserFactory(username="alice"))
    theirs = TaskFactory(owner=other_csm)

    assert csm_api.post(f"/api/v1/tasks/{mine.pk}/desync/").status_code == 400
    assert csm_api.post(f"/api/v1/tasks/{theirs.pk}/desync/").status_code == 404
    assert csm_api.post(f"/api/v1/tasks/{theirs.pk}/resync/").status_code == 404


# --- API docs ------------------------------------------------------------------------------


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_send_anonymous_visitors_to_log_in(client, path):
    response = client.get(path)

    assert response.status_code == 302
    assert response["Location"] == f"/accounts/login/?next={path}"


@pytest.mark.parametrize("path", ["/api/docs/", "/api/redoc/"])
def test_the_api_docs_come_from_our_own_static_files(alice, path):
    text = text_of(alice.get(path))

    assert "/static/drf_spectacular_sidecar/" in text
    assert "cdn.jsdelivr" not in text
    assert "unpkg" not in text


def test_the_api_does_not_push_a_desynced_task(csm_api, csm, sync_on):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, desynced_at=timezone.now())

    response = csm_api.post(f"/api/v1/tasks/{task.pk}/sync/")

    assert response.status_code == 409
    assert "resync it first" in response.json()["detail"]
    assert not OutboxEntry.objects.filter(task_id=task.pk).exists()


def test_sync_to_salesforce_of_a_desynced_task_is_refused_by_the_service_with_its_reason(
    csm, sync_on
):
    # The rule lives in the service, so no interface can queue the push of a desynced task;
    # the API answers its reason as a 409 (test above), a page shows it.
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, desynced_at=timezone.now())

    with pytest.raises(SyncOffError, match="Syncing of this task is stopped: resync it first"):
        outbox.task_push_request(task=task)
    assert not OutboxEntry.objects.filter(task_id=task.pk).exists()


def test_the_salesforce_link_uses_the_orgs_address_once_a_test_recorded_it(alice, csm, sync_on):
    sync_on.instance_url = "https://acme.lightning.force.com"
    sync_on.save(update_fields=["instance_url"])
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA")

    text = text_of(alice.get(f"/tasks/{task.pk}/"))

    assert (
        'href="https://acme.lightning.force.com/lightning/r/Task/00T000000000042AAA/view"' in text
    )


def test_deleting_a_desynced_task_says_its_salesforce_task_stays(alice, csm):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA", desynced_at=timezone.now())

    text = text_of(alice.get(f"/tasks/{task.pk}/delete/"))

    assert "its Salesforce task stays" in text
    assert "deleted too" not in text
