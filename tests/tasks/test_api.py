import datetime as dt

import pytest
import time_machine
from django.utils import timezone

from tasks.models import CustomField, Task
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
URL = "/api/v1/tasks/"


def names(response):
    return sorted(t["name"] for t in response.json()["results"])


def test_a_csm_creates_a_task_and_gets_the_documented_json(csm_api, csm):
    company = CompanyFactory(name="Acme")

    response = csm_api.post(
        URL,
        {
            "name": "Kick-off call",
            "status": "In Progress",
            "priority": "High",
            "due_date": "2026-12-01",
            "details": "Agenda attached",
            "company": company.pk,
            "type": "Call",
        },
        format="json",
    )

    assert response.status_code == 201, response.json()
    body = response.json()
    assert set(body) == {
        "id",
        "name",
        "status",
        "priority",
        "due_date",
        "details",
        "owner",
        "company",
        "type",
        "custom_fields",
        "is_closed",
        "completed_at",
        "created_at",
        "updated_at",
        "salesforce_id",
        "sync",
    }
    assert body["status"] == "In Progress"
    assert body["priority"] == "High"
    assert body["owner"] == csm.pk
    assert body["company"] == company.pk
    assert body["type"] == "Call"
    assert body["is_closed"] is False
    assert body["salesforce_id"] is None
    assert body["sync"] == {
        "state": "not_synced",
        "with_differences": False,
        "differences": [],
        "last_synced_at": None,
        "error": "",
        "desynced_at": None,
    }
    assert Task.objects.get(pk=body["id"]).owner == csm


def test_the_sync_record_shows_in_the_task_json(csm_api, csm):
    task = TaskFactory(owner=csm)
    now = timezone.now()
    SyncRecordFactory(
        task=task,
        salesforce_id="00T000000000001AAA",
        state="error",
        last_synced_at=now,
        last_error="UNABLE_TO_LOCK_ROW",
    )

    body = csm_api.get(f"{URL}{task.pk}/").json()

    assert body["salesforce_id"] == "00T000000000001AAA"
    assert body["sync"]["state"] == "error"
    assert body["sync"]["error"] == "UNABLE_TO_LOCK_ROW"


def test_completing_through_the_api_sets_completed_at_and_reopening_clears_it(csm_api, csm):
    task = TaskFactory(owner=csm)

    done = csm_api.patch(f"{URL}{task.pk}/", {"status": "Complete"}, format="json").json()
    assert done["is_closed"] is True
    assert done["completed_at"] is not None

    reopened = csm_api.patch(f"{URL}{task.pk}/", {"status": "Open"}, format="json").json()
    assert reopened["completed_at"] is None


def test_a_full_update_and_a_delete(csm_api, csm):
    task = TaskFactory(owner=csm)

    response = csm_api.put(
        f"{URL}{task.pk}/", {"name": "Renamed", "priority": "Low", "due_date": None}, format="json"
    )
    assert response.status_code == 200
    assert response.json()["name"] == "Renamed"
    assert response.json()["due_date"] is None

    assert csm_api.delete(f"{URL}{task.pk}/").status_code == 204
    assert not Task.objects.filter(pk=task.pk).exists()


@pytest.mark.parametrize(
    ("payload", "field", "fragment"),
    [
        ({}, "name", "required"),
        ({"name": "x" * 256}, "name", "255"),
        ({"name": "ok", "details": "d" * 32_001}, "details", "32000"),
        ({"name": "ok", "status": "Done"}, "status", "Allowed values: Open, In Progress, Complete"),
        ({"name": "ok", "priority": "Urgent"}, "priority", "Allowed values: Low, Medium, High"),
        ({"name": "ok", "due_date": "31/12/2026"}, "due_date", "format"),
        ({"name": "ok", "owner": 999999}, "owner", "does not exist"),
        ({"name": "ok", "company": 999999}, "company", "does not exist"),
    ],
)
def test_bad_input_answers_400_with_a_message_for_the_field(csm_api, payload, field, fragment):
    response = csm_api.post(URL, payload, format="json")

    assert response.status_code == 400
    assert fragment in " ".join(response.json()[field])
    assert Task.objects.count() == 0


def test_a_custom_field_of_the_wrong_type_answers_400_naming_the_field(csm_api):
    CustomFieldFactory(key="seats", field_type=CustomField.FieldType.NUMBER)

    response = csm_api.post(URL, {"name": "ok", "custom_fields": {"seats": "many"}}, format="json")

    assert response.status_code == 400
    assert response.json() == {"custom_fields": {"seats": ["Enter a number."]}}
    assert Task.objects.count() == 0


def test_a_bad_update_changes_nothing(csm_api, csm):
    task = TaskFactory(owner=csm, name="Keep me")

    response = csm_api.patch(f"{URL}{task.pk}/", {"name": "New", "status": "Nope"}, format="json")

    assert response.status_code == 400
    task.refresh_from_db()
    assert task.name == "Keep me"


def test_anonymous_requests_get_401(api):
    assert api.get(URL).status_code == 401
    assert api.get("/api/v1/picklists/").status_code == 401
    assert api.get("/api/v1/companies/").status_code == 401


def test_a_csm_sees_only_their_own_tasks(csm_api, csm, other_csm):
    TaskFactory(owner=csm, name="mine")
    theirs = TaskFactory(owner=other_csm, name="theirs")

    assert names(csm_api.get(URL)) == ["mine"]
    assert csm_api.get(f"{URL}{theirs.pk}/").status_code == 404
    assert csm_api.patch(f"{URL}{theirs.pk}/", {"name": "x"}, format="json").status_code == 404
    assert csm_api.delete(f"{URL}{theirs.pk}/").status_code == 404
    assert Task.objects.filter(pk=theirs.pk, name="theirs").exists()


def test_a_csm_cannot_give_a_task_to_someone_else(csm_api, csm, other_csm):
    task = TaskFactory(owner=csm)

    created = csm_api.post(URL, {"name": "x", "owner": other_csm.pk}, format="json")
    moved = csm_api.patch(f"{URL}{task.pk}/", {"owner": other_csm.pk}, format="json")

    assert created.status_code == 400
    assert "only assign tasks to yourself" in created.json()["owner"][0]
    assert moved.status_code == 400
    task.refresh_from_db()
    assert task.owner == csm


def test_staff_see_and_change_every_task_and_can_assign_them(admin_api, csm, other_csm):
    task = TaskFactory(owner=csm, name="a")
    TaskFactory(owner=other_csm, name="b")

    assert names(admin_api.get(URL)) == ["a", "b"]
    response = admin_api.patch(f"{URL}{task.pk}/", {"owner": other_csm.pk}, format="json")
    assert response.status_code == 200
    task.refresh_from_db()
    assert task.owner == other_csm


def test_filters_by_status_priority_owner_company_and_search(admin_api, csm, other_csm):
    acme = CompanyFactory(name="Acme")
    TaskFactory(owner=csm, name="a", status=status("In Progress"), company=acme)
    TaskFactory(owner=csm, name="b", priority=priority("High"), details="renewal risk")
    TaskFactory(owner=other_csm, name="c")

    assert names(admin_api.get(URL, {"status": "In Progress"})) == ["a"]
    assert names(admin_api.get(URL, {"priority": "High"})) == ["b"]
    assert names(admin_api.get(URL, {"owner": other_csm.pk})) == ["c"]
    assert names(admin_api.get(URL, {"company": acme.pk})) == ["a"]
    assert names(admin_api.get(URL, {"search": "RENEWAL"})) == ["b"]
    assert names(admin_api.get(URL, {"search": "acme"})) == ["a"]


def test_filters_by_due_date_range_and_sync_state(csm_api, csm):
    a = TaskFactory(owner=csm, name="a", due_date=dt.date(2026, 12, 1))
    TaskFactory(owner=csm, name="b", due_date=dt.date(2026, 12, 10))
    SyncRecordFactory(task=a, state="synced")

    assert names(csm_api.get(URL, {"due_after": "2026-12-05"})) == ["b"]
    assert names(csm_api.get(URL, {"due_before": "2026-12-05"})) == ["a"]
    assert names(csm_api.get(URL, {"sync_state": "synced"})) == ["a"]
    assert names(csm_api.get(URL, {"sync_state": "not_synced"})) == ["b"]


def test_bad_filter_values_answer_400(csm_api):
    assert csm_api.get(URL, {"due": "someday"}).status_code == 400
    assert csm_api.get(URL, {"due_after": "soon"}).status_code == 400
    assert "Allowed values" in csm_api.get(URL, {"status": "x"}).json()["status"][0]
    assert csm_api.get(URL, {"ordering": "password"}).status_code == 400


@time_machine.travel(dt.datetime(2026, 11, 29, 20, 0, tzinfo=dt.UTC), tick=False)
def test_due_today_is_the_requesting_users_today_in_their_time_zone(api):
    # 20:00 UTC on 29 Nov is already 30 Nov in Tokyo, still 29 Nov in London.
    tokyo = UserFactory(username="tokyo", time_zone="Asia/Tokyo")
    london = UserFactory(username="london", time_zone="Europe/London")
    for user in (tokyo, london):
        TaskFactory(owner=user, name=f"{user.username} 29th", due_date=dt.date(2026, 11, 29))
        TaskFactory(owner=user, name=f"{user.username} 30th", due_date=dt.date(2026, 11, 30))

    api.force_authenticate(tokyo)
    assert names(api.get(URL, {"due": "today"})) == ["tokyo 30th"]
    api.force_authenticate(london)
    assert names(api.get(URL, {"due": "today"})) == ["london 29th"]
    assert names(api.get(URL, {"due": "tomorrow"})) == ["london 30th"]


@time_machine.travel(dt.datetime(2026, 11, 29, 12, 0, tzinfo=dt.UTC), tick=False)
def test_overdue_lists_open_past_tasks_and_upcoming_lists_later_ones(csm_api, csm):
    TaskFactory(owner=csm, name="late", due_date=dt.date(2026, 11, 20))
    TaskFactory(
        owner=csm, name="late but done", due_date=dt.date(2026, 11, 20), status=status("Complete")
    )
    TaskFactory(owner=csm, name="tomorrow", due_date=dt.date(2026, 11, 30))
    TaskFactory(owner=csm, name="later", due_date=dt.date(2026, 12, 5))

    assert names(csm_api.get(URL, {"due": "overdue"})) == ["late"]
    assert names(csm_api.get(URL, {"due": "upcoming"})) == ["later"]


def test_ordering_and_pagination(csm_api, csm):
    for n, p in enumerate(["Low", "High", "Medium"]):
        TaskFactory(owner=csm, name=f"t{n}", priority=priority(p))

    ordered = csm_api.get(URL, {"ordering": "-priority"}).json()["results"]
    assert [t["priority"] for t in ordered] == ["High", "Medium", "Low"]

    page = csm_api.get(URL, {"page_size": 2}).json()
    assert page["count"] == 3
    assert len(page["results"]) == 2
    assert page["next"] is not None


def test_picklists_list_the_values_a_task_form_offers(csm_api):
    CustomFieldFactory(key="seats", field_type=CustomField.FieldType.NUMBER)

    body = csm_api.get("/api/v1/picklists/").json()

    assert [s["value"] for s in body["status"]] == ["Open", "In Progress", "Complete"]
    assert [s["is_closed"] for s in body["status"]] == [False, False, True]
    assert [p["value"] for p in body["priority"]] == ["Low", "Medium", "High"]
    assert "Call" in body["type"]
    assert body["custom_fields"][0]["key"] == "seats"


def test_csms_read_companies_but_only_staff_change_them(csm_api, admin_api):
    CompanyFactory(name="Acme")

    assert [c["name"] for c in csm_api.get("/api/v1/companies/").json()["results"]] == ["Acme"]
    assert csm_api.post("/api/v1/companies/", {"name": "New"}).status_code == 403
    created = admin_api.post(
        "/api/v1/companies/", {"name": "Globex", "salesforce_account_id": "001000000000001AAA"}
    )
    assert created.status_code == 201
    bad = admin_api.post("/api/v1/companies/", {"name": "X", "salesforce_account_id": "nope"})
    assert bad.status_code == 400
    assert "salesforce_account_id" in bad.json()


# --- Messages that say what to send (issue 18) ---------------------------------------------


def test_an_impossible_due_date_is_refused_with_the_format_to_use(csm_api):
    answer = csm_api.post("/api/v1/tasks/", {"name": "x", "due_date": "2026-13-45"}, format="json")

    assert answer.status_code == 400
    assert answer.json() == {
        "due_date": [
            "Enter a real date in the format YYYY-MM-DD (year-month-day), e.g. 2026-12-31."
        ]
    }


RANGE_MESSAGE = "Enter a date from 1700-01-01 to 4000-12-31: Salesforce holds no other dates."


@pytest.mark.parametrize("due", ["0001-01-01", "1699-12-31", "4001-01-01", "9999-12-31"])
def test_a_due_date_salesforce_cannot_hold_is_refused_on_create_and_update(csm_api, csm, due):
    task = TaskFactory(owner=csm, due_date=dt.date(2026, 5, 1))

    created = csm_api.post(URL, {"name": "x", "due_date": due}, format="json")
    changed = csm_api.patch(f"{URL}{task.pk}/", {"due_date": due}, format="json")

    assert (created.status_code, changed.status_code) == (400, 400)
    assert created.json() == changed.json() == {"due_date": [RANGE_MESSAGE]}
    assert Task.objects.count() == 1
    task.refresh_from_db()
    assert task.due_date == dt.date(2026, 5, 1)


@pytest.mark.parametrize("due", ["1700-01-01", "4000-12-31"])
def test_the_first_and_last_dates_salesforce_holds_are_accepted(csm_api, due):
    assert csm_api.post(URL, {"name": "x", "due_date": due}, format="json").status_code == 201


def test_custom_fields_sent_as_a_list_get_a_message_that_shows_an_object(csm_api):
    answer = csm_api.post("/api/v1/tasks/", {"name": "x", "custom_fields": [1]}, format="json")

    assert answer.status_code == 400
    assert answer.json() == {
        "custom_fields": [
            'Send an object of values by custom field key, e.g. {"seats": 40}, not a list.'
        ]
    }


def test_writing_another_salesforce_id_is_refused_and_changes_nothing(csm_api, csm):
    task = TaskFactory(owner=csm, name="Linked")
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA", state="synced")

    answer = csm_api.patch(
        f"/api/v1/tasks/{task.pk}/",
        {"salesforce_id": "00T000000000099AAA", "name": "Renamed"},
        format="json",
    )

    assert answer.status_code == 400
    assert answer.json() == {
        "salesforce_id": ["Read-only: the sync sets it when it links the task."]
    }
    task.refresh_from_db()
    assert task.name == "Linked"
    assert task.sync_record.state == "synced"  # not flipped to pending


def test_a_put_of_what_a_get_returned_keeps_working(csm_api, csm):
    task = TaskFactory(owner=csm, name="Linked")
    SyncRecordFactory(task=task, salesforce_id="00T000000000042AAA", state="synced")
    body = csm_api.get(f"/api/v1/tasks/{task.pk}/").json()

    answer = csm_api.put(f"/api/v1/tasks/{task.pk}/", {**body, "name": "Renamed"}, format="json")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["name"] == "Renamed"


def _a_task_with_every_field(owner):
    CustomFieldFactory(key="seats", field_type=CustomField.FieldType.NUMBER)
    return TaskFactory(
        owner=owner,
        name="Full",
        details="Notes",
        due_date=dt.date(2026, 5, 1),
        status=status("In Progress"),
        priority=priority("High"),
        type=task_type("Meeting"),
        company=CompanyFactory(),
        custom_fields={"seats": 40},
    )


def test_a_put_sets_every_field_and_what_it_leaves_out_takes_the_create_default(csm_api, csm):
    task = _a_task_with_every_field(csm)

    answer = csm_api.put(f"{URL}{task.pk}/", {"name": "only name"}, format="json")

    assert answer.status_code == 200, answer.json()
    body = answer.json()
    made = csm_api.post(URL, {"name": "only name"}, format="json").json()
    fields = ["name", "status", "priority", "due_date", "details", "owner", "company", "type"]
    assert {f: body[f] for f in [*fields, "custom_fields"]} == {
        f: made[f] for f in [*fields, "custom_fields"]
    }
    assert body["details"] == "" and body["due_date"] is None and body["custom_fields"] == {}
    assert (body["company"], body["type"]) == (None, None)


def test_a_create_answers_the_etag_a_get_would_so_a_patch_can_follow_with_if_match(csm_api):
    made = csm_api.post(URL, {"name": "Kick-off call"}, format="json")

    assert made.status_code == 201
    url = f"{URL}{made.json()['id']}/"
    assert made["ETag"] == csm_api.get(url)["ETag"]
    renamed = csm_api.patch(url, {"name": "Kick-off"}, format="json", HTTP_IF_MATCH=made["ETag"])
    assert renamed.status_code == 200, renamed.json()


def test_a_put_that_leaves_out_the_owner_keeps_the_task_with_its_owner(admin_api, csm):
    task = _a_task_with_every_field(csm)

    answer = admin_api.put(f"{URL}{task.pk}/", {"name": "Renamed by an admin"}, format="json")

    assert answer.status_code == 200, answer.json()
    assert answer.json()["owner"] == csm.pk
    task.refresh_from_db()
    assert (task.name, task.owner) == ("Renamed by an admin", csm)


def test_a_put_replaces_the_custom_field_values(csm_api, csm):
    task = _a_task_with_every_field(csm)
    CustomFieldFactory(key="tier", field_type=CustomField.FieldType.TEXT)
    csm_api.patch(f"{URL}{task.pk}/", {"custom_fields": {"tier": "gold"}}, format="json")

    answer = csm_api.put(
        f"{URL}{task.pk}/", {"name": "x", "custom_fields": {"tier": "silver"}}, format="json"
    )

    assert answer.json()["custom_fields"] == {"tier": "silver"}


def test_a_put_without_a_required_custom_field_is_refused_naming_it(csm_api, csm):
    task = _a_task_with_every_field(csm)
    CustomField.objects.filter(key="seats").update(required=True)

    answer = csm_api.put(f"{URL}{task.pk}/", {"name": "only name"}, format="json")

    assert answer.status_code == 400
    assert answer.json() == {"custom_fields": {"seats": ["This field is required."]}}
    task.refresh_from_db()
    assert task.name == "Full"


def test_a_patch_changes_only_the_fields_it_sends(csm_api, csm):
    task = _a_task_with_every_field(csm)

    body = csm_api.patch(f"{URL}{task.pk}/", {"name": "only name"}, format="json").json()

    assert body["name"] == "only name"
    assert (body["details"], body["due_date"], body["status"], body["priority"]) == (
        "Notes",
        "2026-05-01",
        "In Progress",
        "High",
    )
    assert body["type"] == "Meeting" and body["company"] == task.company_id
    assert body["custom_fields"] == {"seats": 40}


def test_a_put_with_an_old_etag_is_refused_and_with_the_current_one_saved(csm_api, csm):
    task = TaskFactory(owner=csm, details="Notes")
    etag = csm_api.get(f"{URL}{task.pk}/")["ETag"]
    csm_api.patch(f"{URL}{task.pk}/", {"name": "Renamed elsewhere"}, format="json")
    current = csm_api.get(f"{URL}{task.pk}/")["ETag"]

    stale = csm_api.put(f"{URL}{task.pk}/", {"name": "Mine"}, format="json", HTTP_IF_MATCH=etag)
    fresh = csm_api.put(f"{URL}{task.pk}/", {"name": "Mine"}, format="json", HTTP_IF_MATCH=current)

    assert stale.status_code == 412
    assert fresh.status_code == 200
    assert fresh.json()["details"] == ""
    assert fresh["ETag"] != current


# ---- lists at scale (issue 19) ----------------------------------------------------------------


def test_cursor_paging_returns_every_task_once_across_pages(admin_api):
    made = {
        TaskFactory(
            name=f"Task {n}", due_date=None if n % 4 == 0 else dt.date(2026, 12, n % 9 + 1)
        ).pk
        for n in range(23)
    }

    seen: list[int] = []
    url = f"{URL}?paging=cursor&page_size=5"
    while url:
        body = admin_api.get(url).json()
        assert "count" not in body  # no COUNT(*) of the whole list
        seen += [t["id"] for t in body["results"]]
        url = body["next"]

    assert sorted(seen) == sorted(made)
    assert len(seen) == len(set(seen))


def test_cursor_paging_keeps_the_filters_on_every_page(csm_api, csm, other_csm):
    mine = {TaskFactory(owner=csm, name=f"Renewal {n}").pk for n in range(7)}
    TaskFactory(owner=csm, name="Kick-off")
    TaskFactory(owner=other_csm, name="Renewal elsewhere")

    seen: list[int] = []
    url = f"{URL}?paging=cursor&page_size=3&search=renewal"
    while url:
        body = csm_api.get(url).json()
        seen += [t["id"] for t in body["results"]]
        url = body["next"]

    assert sorted(seen) == sorted(mine)


def test_cursor_paging_refuses_an_ordering_it_cannot_keep(admin_api):
    response = admin_api.get(f"{URL}?paging=cursor&ordering=name")

    assert response.status_code == 400
    assert "ordering" in response.json()


def test_page_numbers_stay_the_default_for_existing_clients(admin_api):
    for n in range(3):
        TaskFactory(name=f"Task {n}")

    body = admin_api.get(f"{URL}?page_size=2&page=2").json()

    assert body["count"] == 3
    assert len(body["results"]) == 1


def test_search_finds_a_task_by_its_company_name(admin_api):
    TaskFactory(name="Call", company=CompanyFactory(name="Renewal Partners"))
    TaskFactory(name="Renewal call")
    TaskFactory(name="Kick-off", details="renewal in March")
    TaskFactory(name="Unrelated", company=CompanyFactory(name="Acme"))

    assert names(admin_api.get(f"{URL}?search=RENEWAL")) == ["Call", "Kick-off", "Renewal call"]


@pytest.mark.parametrize(
    "query",
    ["page_size=200", "page_size=2&page=2", "paging=cursor&page_size=200", "search=renewal"],
)
def test_the_staff_list_costs_the_same_few_queries_for_few_or_many_rows(
    admin_api, query, django_assert_max_num_queries
):
    def world(n: int) -> None:
        for i in range(n):
            company = CompanyFactory(name=f"Renewal Co {n}-{i}")
            task = TaskFactory(name=f"Renewal {i}", company=company)
            SyncRecordFactory(task=task, linked=True)

    world(3)
    admin_api.get(f"{URL}?page_size=1")  # the session and user, read once
    with django_assert_max_num_queries(10) as few:
        assert admin_api.get(f"{URL}?{query}").status_code == 200
    world(12)
    with django_assert_max_num_queries(len(few)):
        assert admin_api.get(f"{URL}?{query}").status_code == 200


@pytest.mark.parametrize("method", ["patch", "put"])
def test_a_change_of_a_task_deleted_between_its_lookup_and_its_save_answers_404(
    csm_api, csm, monkeypatch, method
):
    """A pull applying Salesforce's delete (or another tab's) between the view finding the
    task and the service locking it: the client is told the task is gone, as for any other
    deleted task, and nothing comes back."""
    from tasks.api import TaskViewSet

    task = TaskFactory(owner=csm, name="Short-lived")
    body = csm_api.get(f"{URL}{task.pk}/").json()
    found = TaskViewSet.get_object

    def found_then_deleted_meanwhile(view):
        got = found(view)
        Task.objects.filter(pk=got.pk).delete()
        return got

    monkeypatch.setattr(TaskViewSet, "get_object", found_then_deleted_meanwhile)

    answer = getattr(csm_api, method)(
        f"{URL}{task.pk}/", {**body, "name": "Too late"}, format="json"
    )

    assert answer.status_code == 404, answer.json()
    assert answer.json() == {"detail": "This task was deleted meanwhile: nothing was saved."}
    assert not Task.objects.filter(pk=task.pk).exists()


def test_a_custom_date_salesforce_cannot_hold_is_a_400_naming_the_field(csm_api, csm):
    CustomFieldFactory(key="renewal", label="Renewal", field_type=CustomField.FieldType.DATE)

    answer = csm_api.post(
        URL, {"name": "Renewal call", "custom_fields": {"renewal": "0001-01-01"}}, format="json"
    )

    assert answer.status_code == 400, answer.json()
    assert "Salesforce holds no other dates" in str(answer.json()["custom_fields"])
    assert not Task.objects.filter(name="Renewal call").exists()
