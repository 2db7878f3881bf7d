"""The CSM-facing cockpit pages, through Django's test client."""

import datetime as dt
import re

import pytest
import time_machine
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from tasks.models import CustomField, Status, Task, TaskSyncRecord
from tests.factories import (
    CompanyFactory,
    CustomFieldFactory,
    SyncRecordFactory,
    TaskFactory,
    UserFactory,
    priority,
    status,
    task_type,
)

pytestmark = pytest.mark.django_db

# A Sunday noon in UTC; every date below is relative to it.
NOW = dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC)
TODAY = dt.date(2026, 11, 29)
TOMORROW = dt.date(2026, 11, 30)


@pytest.fixture
def alice(client, csm):
    client.force_login(csm)
    return client


def form_data(**overrides):
    data = {
        "name": "Renewal call",
        "status": status("Open").pk,
        "priority": priority("Medium").pk,
        "due_date": "",
        "details": "",
        "company": "",
        "type": "",
    }
    data.update(overrides)
    return data


def page_text(response) -> str:
    return response.content.decode()


def heading(text: str, title: str) -> int:
    """Where the list's section heading `title` starts, or -1."""
    match = re.search(rf'<h2 id="section-\d+">{title}\b', text)
    return match.start() if match else -1


# --- Permissions ---------------------------------------------------------------------------


def test_every_page_and_action_sends_an_anonymous_visitor_to_log_in(client, csm):
    task = TaskFactory(owner=csm)
    for url in ["/", "/tasks/new/", f"/tasks/{task.pk}/edit/", f"/tasks/{task.pk}/delete/"]:
        response = client.get(url)
        assert response.status_code == 302, url
        assert response["Location"].startswith("/accounts/login/?next="), url
    for action in ["complete", "reopen", "delete", "edit"]:
        response = client.post(f"/tasks/{task.pk}/{action}/", form_data())
        assert response.status_code == 302, action
        assert response["Location"].startswith("/accounts/login/"), action
    assert Task.objects.filter(pk=task.pk, status__value="Open").exists()


def test_a_csm_gets_404_for_another_csms_task_on_every_page_and_action(alice, other_csm):
    theirs = TaskFactory(owner=other_csm, name="Bob's secret")

    assert alice.get(f"/tasks/{theirs.pk}/edit/").status_code == 404
    assert alice.get(f"/tasks/{theirs.pk}/delete/").status_code == 404
    assert alice.post(f"/tasks/{theirs.pk}/edit/", form_data(name="Mine")).status_code == 404
    assert alice.post(f"/tasks/{theirs.pk}/complete/").status_code == 404
    assert alice.post(f"/tasks/{theirs.pk}/reopen/").status_code == 404
    assert alice.post(f"/tasks/{theirs.pk}/delete/").status_code == 404

    theirs.refresh_from_db()
    assert theirs.name == "Bob's secret"
    assert theirs.status.value == "Open"
    assert "Bob's secret" not in page_text(alice.get("/?view=open"))


def test_staff_also_see_only_their_own_tasks_in_the_cockpit(client, admin_user, csm):
    TaskFactory(owner=csm, name="Alice's call")
    client.force_login(admin_user)

    assert "Alice's call" not in page_text(client.get("/?view=open"))
    assert client.get(f"/tasks/{Task.objects.get().pk}/edit/").status_code == 404


def test_state_changes_answer_405_to_get(alice, csm):
    task = TaskFactory(owner=csm)

    assert alice.get(f"/tasks/{task.pk}/complete/").status_code == 405
    assert alice.get(f"/tasks/{task.pk}/reopen/").status_code == 405
    assert alice.post("/").status_code == 405
    task.refresh_from_db()
    assert task.completed_at is None


def test_posts_without_a_csrf_token_are_refused(csm):
    task = TaskFactory(owner=csm)
    client = Client(enforce_csrf_checks=True)
    client.force_login(csm)

    assert client.post(f"/tasks/{task.pk}/complete/").status_code == 403
    assert client.post(f"/tasks/{task.pk}/delete/").status_code == 403
    assert client.post("/tasks/new/", form_data()).status_code == 403
    assert Task.objects.get().completed_at is None


def test_a_redirect_after_an_action_never_leaves_the_site(alice, csm):
    task = TaskFactory(owner=csm)

    response = alice.post(f"/tasks/{task.pk}/complete/", {"next": "https://evil.example/"})

    assert response["Location"] == "/"


# --- The list ------------------------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_the_list_opens_on_today_and_tomorrow_with_overdue_work_above(alice, csm):
    TaskFactory(owner=csm, name="Late QBR prep", due_date=TODAY - dt.timedelta(days=3))
    TaskFactory(
        owner=csm,
        name="Late but done",
        due_date=TODAY - dt.timedelta(days=3),
        status=status("Complete"),
    )
    TaskFactory(owner=csm, name="Call Acme today", due_date=TODAY)
    TaskFactory(owner=csm, name="Email Globex tomorrow", due_date=TOMORROW)
    TaskFactory(owner=csm, name="Next week review", due_date=TODAY + dt.timedelta(days=7))
    TaskFactory(owner=csm, name="Someday", due_date=None)

    text = page_text(alice.get("/"))

    assert "Sunday, 29 November 2026" in text
    overdue, today, tomorrow = (heading(text, h) for h in ("Overdue", "Today", "Tomorrow"))
    assert -1 < overdue < today < tomorrow
    assert overdue < text.index("Late QBR prep") < today
    assert today < text.index("Call Acme today") < tomorrow
    assert tomorrow < text.index("Email Globex tomorrow")
    for hidden in ("Late but done", "Next week review", "Someday"):
        assert hidden not in text


@time_machine.travel(NOW, tick=False)
def test_it_leaves_out_the_overdue_section_when_nothing_is_overdue(alice, csm):
    TaskFactory(owner=csm, name="Call Acme today", due_date=TODAY)
    TaskFactory(owner=csm, name="Old and done", due_date=TODAY - dt.timedelta(days=1)).delete()

    text = page_text(alice.get("/"))

    assert heading(text, "Overdue") == -1
    assert "Nothing due tomorrow." in text


@time_machine.travel(dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.UTC), tick=False)
def test_today_and_tomorrow_are_the_csms_own_dates_in_their_time_zone(client):
    # 20:00 UTC on 29 Nov is already 30 Nov in Tokyo, still 29 Nov in London.
    tokyo = UserFactory(username="tokyo", time_zone="Asia/Tokyo")
    london = UserFactory(username="london", time_zone="Europe/London")
    for user in (tokyo, london):
        for day in (29, 30, 1):
            month = 12 if day == 1 else 11
            TaskFactory(
                owner=user, name=f"{user.username} {day}th", due_date=dt.date(2026, month, day)
            )

    client.force_login(tokyo)
    text = page_text(client.get("/"))
    assert "Monday, 30 November 2026" in text
    assert "Asia/Tokyo" in text
    today, tomorrow = heading(text, "Today"), heading(text, "Tomorrow")
    assert today < text.index("tokyo 30th") < tomorrow < text.index("tokyo 1th")
    # The 29th is overdue in Tokyo.
    assert -1 < heading(text, "Overdue") < text.index("tokyo 29th") < today

    client.force_login(london)
    text = page_text(client.get("/"))
    assert "Sunday, 29 November 2026" in text
    today, tomorrow = heading(text, "Today"), heading(text, "Tomorrow")
    assert today < text.index("london 29th") < tomorrow < text.index("london 30th")
    assert "london 1th" not in text
    assert heading(text, "Overdue") == -1


@time_machine.travel(NOW, tick=False)
def test_the_other_views_list_all_open_upcoming_and_completed_work(alice, csm):
    TaskFactory(owner=csm, name="Open today", due_date=TODAY)
    TaskFactory(owner=csm, name="Open undated", due_date=None)
    TaskFactory(owner=csm, name="Open next week", due_date=TODAY + dt.timedelta(days=7))
    TaskFactory(owner=csm, name="Done next week", due_date=TODAY + dt.timedelta(days=7))
    alice.post(f"/tasks/{Task.objects.get(name='Done next week').pk}/complete/", follow=True)

    all_open = page_text(alice.get("/?view=open"))
    assert all_open.index("Open today") < all_open.index("Open next week")
    assert all_open.index("Open next week") < all_open.index("Open undated")
    assert "Done next week" not in all_open

    upcoming = page_text(alice.get("/?view=upcoming"))
    assert "Open next week" in upcoming
    assert "Open today" not in upcoming
    assert "Done next week" not in upcoming

    completed = page_text(alice.get("/?view=completed"))
    assert "Done next week" in completed
    assert "Open today" not in completed
    assert "Reopen" in completed


def test_search_and_the_status_and_priority_filters_narrow_the_list(alice, csm):
    acme = CompanyFactory(name="Acme Corp")
    TaskFactory(owner=csm, name="Kick-off", company=acme, priority=priority("High"))
    TaskFactory(owner=csm, name="Health check", details="ask about acme renewal")
    TaskFactory(owner=csm, name="Quarterly review", status=status("In Progress"))

    found = page_text(alice.get("/", {"view": "open", "q": "acme"}))
    assert "Kick-off" in found
    assert "Health check" in found
    assert "Quarterly review" not in found

    assert "Quarterly review" in page_text(alice.get("/", {"status": "In Progress"}))
    assert "Kick-off" not in page_text(alice.get("/", {"status": "In Progress"}))
    high = page_text(alice.get("/", {"view": "open", "priority": "High"}))
    assert "Kick-off" in high
    assert "Health check" not in high
    # A bad value in a bookmarked URL is ignored, not an error page.
    assert alice.get("/", {"status": "Nonsense", "view": "whatever"}).status_code == 200


def test_long_views_are_paginated_and_keep_their_filters(alice, csm):
    for n in range(30):
        TaskFactory(owner=csm, name=f"Task {n:02d}", due_date=dt.date(2027, 1, 1) + dt.timedelta(n))

    first = page_text(alice.get("/", {"view": "open", "priority": "Medium"}))
    assert "Task 00" in first
    assert "Task 24" in first
    assert "Task 25" not in first
    assert "Page 1 of 2" in first
    assert "?view=open&amp;priority=Medium&amp;page=2" in first

    second = page_text(alice.get("/", {"view": "open", "priority": "Medium", "page": 2}))
    assert "Task 25" in second
    assert "Task 00" not in second


def test_each_row_shows_company_status_priority_due_date_and_sync_state(alice, csm):
    acme = CompanyFactory(name="Acme Corp")
    synced = TaskFactory(owner=csm, name="Synced one", company=acme, priority=priority("High"))
    SyncRecordFactory(
        task=synced, salesforce_id="00T000000000001AAA", state=TaskSyncRecord.State.SYNCED
    )
    failed = TaskFactory(owner=csm, name="Failed one")
    SyncRecordFactory(
        task=failed, state=TaskSyncRecord.State.ERROR, last_error="INVALID_FIELD: Subject too long"
    )
    pending = TaskFactory(owner=csm, name="Pending one")
    SyncRecordFactory(task=pending, state=TaskSyncRecord.State.PENDING)
    TaskFactory(owner=csm, name="Plain one")

    text = page_text(alice.get("/?view=open"))

    assert f'href="/tasks/{synced.pk}/?next=' in text  # the row links to the task page
    assert f'href="/tasks/{synced.pk}/edit/' in text
    assert "Acme Corp" in text
    assert "High" in text
    assert synced.due_date.strftime("%a %-d %b %Y") in text
    assert ">Synced<" in text
    assert ">Pending<" in text
    assert ">Not synced<" in text
    assert ">Error<" in text
    # In a CSM's words: Salesforce's message without its error code.
    assert '<span class="sync-error">Salesforce refused the change: Subject too long</span>' in text
    assert "INVALID_FIELD" not in text


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("view", ["today", "week", "open"])
def test_what_salesforce_holds_costs_the_list_a_few_queries_whatever_its_length(
    alice, csm, view, sync_on
):
    def make(count: int) -> None:
        for n in range(count):
            task = TaskFactory(owner=csm, due_date=TODAY + dt.timedelta(days=n % 2))
            # Linked, and Salesforce holds a Status and an owner Cockpit cannot show.
            SyncRecordFactory(
                task=task,
                linked=True,
                agreed_values={"Status": "Deferred", "OwnerId": "005000000000099AAA"},
                agreed_cockpit={"Status": "Open", "OwnerId": csm.pk},
            )

    def queries() -> tuple[int, str]:
        with CaptureQueriesContext(connection) as captured:
            answer = alice.get("/", {"view": view})
        return len(captured), answer.content.decode()

    make(3)
    few, page = queries()
    assert "In Salesforce: Deferred" in page
    make(27)
    assert queries()[0] == few
    assert few <= 18


@time_machine.travel(NOW, tick=False)
@pytest.mark.parametrize("view", ["today", "week", "open", "upcoming", "completed"])
def test_the_number_of_queries_of_the_list_does_not_grow_with_the_tasks(alice, csm, view):
    company = CompanyFactory()

    def make(count: int) -> None:
        for n in range(count):
            # Overdue, today, tomorrow and upcoming all have rows, even with three tasks.
            due = TODAY + dt.timedelta(days=(2, -1, 0, 1)[n % 4])
            task = TaskFactory(
                owner=csm,
                due_date=due,
                company=company,
                type=task_type("Call"),
                status=status("Complete" if view == "completed" else "Open"),
            )
            SyncRecordFactory(task=task, state=TaskSyncRecord.State.PENDING)

    def queries() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert alice.get("/", {"view": view}).status_code == 200
        return len(captured)

    make(3)
    few = queries()
    make(27)
    assert queries() == few
    assert few <= 10


# --- Create and edit -----------------------------------------------------------------------


def custom_fields() -> dict[str, CustomField]:
    types = CustomField.FieldType
    return {
        "text": CustomFieldFactory(key="champion", field_type=types.TEXT, max_length=20),
        "number": CustomFieldFactory(key="seats", field_type=types.NUMBER),
        "date": CustomFieldFactory(key="renewal_date", field_type=types.DATE),
        "datetime": CustomFieldFactory(key="meeting_at", field_type=types.DATETIME),
        "boolean": CustomFieldFactory(key="at_risk", field_type=types.BOOLEAN),
        "email": CustomFieldFactory(key="contact", field_type=types.EMAIL),
        "url": CustomFieldFactory(key="deck", field_type=types.URL),
    }


def test_the_new_task_form_renders_every_active_custom_field_by_type(alice):
    custom_fields()
    CustomFieldFactory(key="retired", is_active=False)
    CustomFieldFactory(key="segment", required=True)

    text = page_text(alice.get("/tasks/new/"))

    assert '<input type="date" name="due_date"' in text
    assert 'type="text" name="cf_champion" maxlength="20"' in text
    assert 'type="number" name="cf_seats" step="any"' in text
    assert 'type="date" name="cf_renewal_date"' in text
    assert 'type="datetime-local" name="cf_meeting_at"' in text
    assert '<select name="cf_at_risk"' in text
    assert 'type="email" name="cf_contact"' in text
    assert 'type="url" name="cf_deck"' in text
    assert 'name="cf_segment" maxlength="255" required' in text
    assert "cf_retired" not in text
    assert '<label for="id_name" class="required">' in text


def test_a_csm_creates_a_task_with_custom_field_values(client):
    tokyo = UserFactory(username="tokyo", time_zone="Asia/Tokyo")
    client.force_login(tokyo)
    custom_fields()
    acme = CompanyFactory(name="Acme Corp")

    response = client.post(
        "/tasks/new/",
        form_data(
            name="Kick-off call",
            priority=priority("High").pk,
            due_date="2026-12-01",
            details="Agenda:\r\n1. Goals",
            company=acme.pk,
            type=task_type("Meeting").pk,
            cf_champion="Dana",
            cf_seats="42",
            cf_renewal_date="2027-03-31",
            cf_meeting_at="2026-12-01T09:30",
            cf_at_risk="false",
            cf_contact="dana@acme.example",
            cf_deck="https://acme.example/deck",
        ),
        follow=True,
    )

    assert "Created “Kick-off call”." in page_text(response)
    task = Task.objects.get()
    assert task.owner == tokyo
    assert task.priority.value == "High"
    assert task.status.value == "Open"
    # The due date is the date entered, in any time zone.
    assert task.due_date == dt.date(2026, 12, 1)
    assert task.company == acme
    assert task.type.name == "Meeting"
    assert task.custom_fields == {
        "champion": "Dana",
        "seats": 42,
        "renewal_date": "2027-03-31",
        # 09:30 in Tokyo is 00:30 UTC.
        "meeting_at": "2026-12-01T00:30:00+00:00",
        "at_risk": False,
        "contact": "dana@acme.example",
        "deck": "https://acme.example/deck",
    }

    edit = page_text(client.get(f"/tasks/{task.pk}/edit/"))
    assert 'name="due_date" value="2026-12-01"' in edit
    assert 'name="cf_meeting_at" value="2026-12-01T09:30"' in edit
    assert '<option value="false" selected>No</option>' in edit


def test_the_owner_is_always_the_signed_in_csm(alice, csm, other_csm):
    alice.post("/tasks/new/", form_data(owner=other_csm.pk))

    assert Task.objects.get().owner == csm


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("name", "x" * 256, "Ensure this value has at most 255 characters (it has 256)."),
        ("name", "", "This field is required."),
        ("details", "x" * 32_001, "Ensure this value has at most 32000 characters"),
        ("due_date", "31/12/2026", "Enter a valid date."),
        ("due_date", "0001-01-01", "Enter a date from 1700-01-01 to 4000-12-31"),
        ("due_date", "9999-12-31", "Enter a date from 1700-01-01 to 4000-12-31"),
        ("status", "999", "Select a valid choice."),
    ],
)
def test_bad_input_shows_a_form_error_and_saves_nothing(alice, field, value, message):
    response = alice.post("/tasks/new/", form_data(**{field: value}))

    assert response.status_code == 200
    assert message in response.context["form"].errors[field][0]
    assert "Nothing was saved." in page_text(response)
    assert 'aria-invalid="true"' in page_text(response)
    assert not Task.objects.exists()


@pytest.mark.parametrize(
    ("field", "value", "message"),
    [
        ("cf_seats", "many", "Enter a number."),
        ("cf_contact", "not-an-email", "Enter a valid email address."),
        ("cf_deck", "not a url", "Enter a valid URL."),
        ("cf_champion", "x" * 21, "at most 20 characters"),
        ("cf_renewal_date", "tomorrow", "Enter a valid date."),
        ("cf_at_risk", "perhaps", "Select a valid choice."),
    ],
)
def test_a_bad_custom_field_value_shows_an_error_on_that_field(alice, field, value, message):
    custom_fields()

    response = alice.post("/tasks/new/", form_data(**{field: value}))

    assert message in response.context["form"].errors[field][0]
    assert not Task.objects.exists()


def test_a_missing_required_custom_field_is_an_error_on_create_and_on_edit(alice, csm):
    CustomFieldFactory(key="segment", label="Segment", required=True)
    response = alice.post("/tasks/new/", form_data())
    assert response.context["form"].errors["cf_segment"] == ["This field is required."]
    assert not Task.objects.exists()

    task = TaskFactory(owner=csm, name="Before", custom_fields={"segment": "SMB"})
    response = alice.post(f"/tasks/{task.pk}/edit/", form_data(name="After", cf_segment=""))
    assert response.context["form"].errors["cf_segment"] == ["This field is required."]
    task.refresh_from_db()
    assert task.name == "Before"
    assert task.custom_fields == {"segment": "SMB"}


def test_errors_from_the_task_services_land_on_the_fields_they_name(alice, csm, monkeypatch):
    # Rules the form cannot know (a model validator, a custom field rule) come back from the
    # service; they must appear next to the right input and leave the task as it was.
    from django.core.exceptions import ValidationError

    import cockpit.views

    CustomFieldFactory(key="seats", field_type=CustomField.FieldType.NUMBER)
    task = TaskFactory(owner=csm, name="Before")

    def refuse(*, task, **changes):
        task.name = changes["name"]  # the service mutates the instance before refusing it
        raise ValidationError(
            {"name": ["Name is taken."], "seats": ["Too many seats."], "owner": ["Nope."]}
        )

    monkeypatch.setattr(cockpit.views, "task_update", refuse)
    response = alice.post(f"/tasks/{task.pk}/edit/", form_data(name="After", cf_seats="3"))

    form = response.context["form"]
    assert form.errors["name"] == ["Name is taken."]
    assert form.errors["cf_seats"] == ["Too many seats."]
    assert form.non_field_errors() == ["owner: Nope."]
    assert response.context["task"].name == "Before"
    assert "<h1>Edit task</h1>" in page_text(response)
    task.refresh_from_db()
    assert task.name == "Before"


def test_a_csm_edits_a_task_and_returns_to_the_view_they_came_from(alice, csm):
    CustomFieldFactory(key="champion")
    task = TaskFactory(owner=csm, name="Old name", custom_fields={"champion": "Dana"})

    page = page_text(alice.get(f"/tasks/{task.pk}/edit/?next=/%3Fview%3Dopen"))
    assert 'value="Old name"' in page
    assert 'name="cf_champion" value="Dana"' in page
    assert '<a class="button" href="/?view=open">Cancel</a>' in page

    response = alice.post(
        f"/tasks/{task.pk}/edit/",
        form_data(
            name="New name",
            due_date="2027-01-15",
            status=status("In Progress").pk,
            cf_champion="",
            next="/?view=open",
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == "/?view=open"
    assert "Saved “New name”." in page_text(alice.get("/?view=open"))
    task.refresh_from_db()
    assert task.name == "New name"
    assert task.due_date == dt.date(2027, 1, 15)
    assert task.status.value == "In Progress"
    assert task.custom_fields == {}
    assert task.owner == csm


def test_editing_keeps_a_status_that_admins_have_since_retired(alice, csm):
    waiting = Status.objects.create(value="Waiting", label="Waiting", order=25)
    task = TaskFactory(owner=csm, status=waiting)
    Status.objects.filter(pk=waiting.pk).update(is_active=False)

    response = alice.post(f"/tasks/{task.pk}/edit/", form_data(name="Renamed", status=waiting.pk))

    assert response.status_code == 302
    task.refresh_from_db()
    assert task.name == "Renamed"
    assert task.status == waiting
    assert "Waiting" not in page_text(alice.get("/tasks/new/"))


def test_editing_to_a_closed_status_stamps_completed_at(alice, csm):
    task = TaskFactory(owner=csm)

    alice.post(f"/tasks/{task.pk}/edit/", form_data(name=task.name, status=status("Complete").pk))

    task.refresh_from_db()
    assert task.completed_at is not None


def test_the_edit_page_shows_the_sync_record(alice, csm):
    task = TaskFactory(owner=csm)
    SyncRecordFactory(
        task=task,
        salesforce_id="00T000000000042AAA",
        state=TaskSyncRecord.State.ERROR,
        last_synced_at=dt.datetime(2026, 11, 28, 9, 15, tzinfo=dt.UTC),
        last_error="UNABLE_TO_LOCK_ROW: try again",
    )

    text = page_text(alice.get(f"/tasks/{task.pk}/edit/"))

    assert "Salesforce sync" in text
    assert "00T000000000042AAA" in text
    assert ">Error<" in text
    assert "28 Nov 2026, 09:15" in text
    assert "The Salesforce record was busy with another update; Cockpit will retry." in text
    assert "UNABLE_TO_LOCK_ROW" not in text


def test_the_edit_page_of_a_task_never_synced_says_so(alice, csm):
    task = TaskFactory(owner=csm)

    text = page_text(alice.get(f"/tasks/{task.pk}/edit/"))

    assert ">Not synced<" in text
    assert "None yet" in text
    assert "Never" in text


# --- Complete, reopen, delete --------------------------------------------------------------


@time_machine.travel(NOW, tick=False)
def test_completing_sets_completed_at_and_reopening_clears_it(alice, csm):
    task = TaskFactory(owner=csm, name="Call Acme", due_date=TODAY)

    response = alice.post(f"/tasks/{task.pk}/complete/", {"next": "/"}, follow=True)
    assert "Completed “Call Acme”." in page_text(response)
    task.refresh_from_db()
    assert task.status.is_closed
    assert task.completed_at == timezone.now()
    assert f'action="/tasks/{task.pk}/reopen/"' in page_text(response)

    response = alice.post(f"/tasks/{task.pk}/reopen/", follow=True)
    assert "Reopened “Call Acme”." in page_text(response)
    task.refresh_from_db()
    assert not task.status.is_closed
    assert task.completed_at is None


def test_delete_asks_for_confirmation_and_deletes_only_on_post(alice, csm):
    task = TaskFactory(owner=csm, name="Obsolete follow-up")

    confirm = alice.get(f"/tasks/{task.pk}/delete/?next=/%3Fview%3Dopen")
    assert confirm.status_code == 200
    assert "Delete this task?" in page_text(confirm)
    assert "Obsolete follow-up" in page_text(confirm)
    assert 'name="next" value="/?view=open"' in page_text(confirm)
    assert Task.objects.filter(pk=task.pk).exists()

    response = alice.post(f"/tasks/{task.pk}/delete/", {"next": "/?view=open"}, follow=True)

    assert response.redirect_chain[-1][0] == "/?view=open"
    assert "Deleted “Obsolete follow-up”." in page_text(response)
    assert not Task.objects.filter(pk=task.pk).exists()


def test_deleting_from_the_edit_page_returns_to_the_list(alice, csm):
    task = TaskFactory(owner=csm)

    response = alice.post(f"/tasks/{task.pk}/delete/", {"next": f"/tasks/{task.pk}/edit/"})

    assert response["Location"] == "/"


# --- Layout --------------------------------------------------------------------------------


def test_the_navigation_offers_the_admin_only_to_staff(client, csm, admin_user):
    client.force_login(csm)
    text = page_text(client.get("/"))
    nav = text[text.index('<nav class="main"') : text.index("</nav>")]
    for link in ('href="/" aria-current="page">My tasks', 'href="/tasks/new/">New task'):
        assert link in nav
    assert 'href="/api/docs/">API docs' in nav
    assert "Log out" in nav
    assert 'href="/admin/"' not in nav

    client.force_login(admin_user)
    assert 'href="/admin/"' in page_text(client.get("/"))


def test_the_login_page_has_labelled_inputs(client):
    text = page_text(client.get("/accounts/login/?next=/"))

    assert '<label for="id_username">' in text
    assert '<label for="id_password">' in text


def test_a_csm_opening_sync_health_gets_cockpits_page_saying_it_is_for_sync_admins(client, csm):
    client.force_login(csm)

    answer = client.get("/sync/")

    assert answer.status_code == 403
    page = answer.content.decode()
    assert "You cannot open this page" in page
    assert "for sync admins" in page
    assert 'href="/"' in page  # a way back, in the site's own frame


def test_an_unknown_task_is_cockpits_404_page_and_the_api_stays_json(client, csm):
    client.force_login(csm)

    page = client.get("/tasks/999999/")
    api = client.get("/api/v1/tasks/999999/")

    assert page.status_code == 404
    assert "There is nothing here" in page.content.decode()
    assert api.status_code == 404 and api.json() == {"detail": "No Task matches the given query."}


def overdue_backlog(csm, count: int) -> None:
    """`count` open tasks overdue by 1 to 40 days, oldest "Late 000" first in due order."""
    Task.objects.bulk_create(
        [
            Task(
                name=f"Late {n:03d}",
                owner=csm,
                status=status("Open"),
                priority=priority("Medium"),
                due_date=TODAY - dt.timedelta(days=40 - n // 3),
            )
            for n in range(count)
        ]
    )


@time_machine.travel(NOW, tick=False)
def test_a_long_overdue_backlog_pages_above_today_and_tomorrow(
    alice, csm, django_assert_max_num_queries
):
    overdue_backlog(csm, 60)
    TaskFactory(owner=csm, name="Call Acme today", due_date=TODAY)
    TaskFactory(owner=csm, name="Email Globex tomorrow", due_date=TOMORROW)
    alice.get("/")  # the session and user, read once

    with django_assert_max_num_queries(10):
        first = page_text(alice.get("/"))

    # One page of the backlog (the first page size, 25), oldest first, then the day's work.
    assert late_rows(first) == [f"Late {n:03d}" for n in range(25)]
    assert heading(first, "Overdue") < heading(first, "Today") < heading(first, "Tomorrow")
    assert "Call Acme today" in first and "Email Globex tomorrow" in first
    assert "Page 1 of 3 · 60 overdue" in first
    assert 'id="count-today">62<' in first  # the tab counts all of it, as before
    # Further pages of the backlog keep Today and Tomorrow on the page.
    last = page_text(alice.get("/?page=3"))
    assert late_rows(last) == [f"Late {n:03d}" for n in range(50, 60)]
    assert heading(last, "Overdue") < heading(last, "Today") < last.index("Call Acme today")
    assert "Email Globex tomorrow" in last
    assert 'id="count-today">62<' in last
    # The page size the other tabs offer pages it too.
    assert len(late_rows(page_text(alice.get("/?size=50&page=2")))) == 10


def late_rows(text: str) -> list[str]:
    """The backlog's task names in page order, once each (a row names its task more than once)."""
    return list(dict.fromkeys(re.findall(r"Late \d{3}", text)))


@time_machine.travel(NOW, tick=False)
def test_a_short_overdue_list_shows_whole_without_a_pager(alice, csm):
    overdue_backlog(csm, 3)

    text = page_text(alice.get("/"))

    assert len(late_rows(text)) == 3
    assert "overdue</span>" not in text and "Page 1 of" not in text


@time_machine.travel(NOW, tick=False)
def test_a_day_longer_than_a_section_links_to_the_next_7_days(alice, csm):
    from cockpit.views import SECTION_LIMIT

    Task.objects.bulk_create(
        [
            Task(
                name=f"Today {n:03d}",
                owner=csm,
                status=status("Open"),
                priority=priority("Medium"),
                due_date=TODAY,
            )
            for n in range(SECTION_LIMIT + 5)
        ]
        + [TaskFactory.build(name="Tomorrow 000", owner=csm, due_date=TOMORROW)]
    )

    response = alice.get("/")
    text = page_text(response)

    assert len(set(re.findall(r"Today \d{3}", text))) == SECTION_LIMIT
    assert "Tomorrow 000" in text  # today's long list does not crowd tomorrow out
    assert 'href="?view=week"' in response.content.decode()
