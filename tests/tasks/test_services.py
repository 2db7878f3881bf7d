import datetime as dt

import pytest
from django.core.exceptions import ValidationError

from tasks import services
from tasks.models import CustomField, Task
from tests.factories import CustomFieldFactory, TaskFactory, priority, status

pytestmark = pytest.mark.django_db


def test_a_new_task_gets_the_default_status_and_priority(csm):
    task = services.task_create(owner=csm, name="Call the champion")

    assert task.status.value == "Open"
    assert task.priority.value == "Medium"
    assert task.completed_at is None
    assert not task.is_closed


def test_the_default_picklists_come_from_the_data_migration():
    from tasks.models import Priority, Status

    assert list(Status.objects.values_list("value", "is_closed")) == [
        ("Open", False),
        ("In Progress", False),
        ("Complete", True),
    ]
    assert list(Priority.objects.values_list("value", flat=True)) == ["Low", "Medium", "High"]


def test_completing_a_task_stamps_completed_at_and_reopening_clears_it(csm):
    task = services.task_create(owner=csm, name="Send QBR deck")

    services.task_complete(task=task)
    task.refresh_from_db()
    assert task.status.value == "Complete"
    assert task.completed_at is not None

    services.task_reopen(task=task)
    task.refresh_from_db()
    assert task.status.value == "Open"
    assert task.completed_at is None


def test_moving_to_a_closed_status_through_update_completes_the_task(csm):
    task = services.task_create(owner=csm, name="Renewal")

    services.task_update(task=task, status=status("Complete"))

    assert task.completed_at is not None


def test_completing_twice_keeps_the_first_completion_time(csm):
    task = services.task_complete(task=services.task_create(owner=csm, name="x"))
    first = task.completed_at

    services.task_update(task=task, priority=priority("High"))

    assert task.completed_at == first


def test_an_over_long_name_is_refused_and_nothing_is_saved(csm):
    with pytest.raises(ValidationError) as exc:
        services.task_create(owner=csm, name="x" * 256)

    assert "name" in exc.value.message_dict
    assert Task.objects.count() == 0


def test_details_longer_than_salesforce_description_are_refused(csm):
    with pytest.raises(ValidationError) as exc:
        services.task_create(owner=csm, name="ok", details="d" * 32_001)

    assert "details" in exc.value.message_dict


def test_custom_field_values_are_validated_by_type(csm):
    CustomFieldFactory(key="renewal_date", field_type=CustomField.FieldType.DATE)
    CustomFieldFactory(key="seats", field_type=CustomField.FieldType.NUMBER)

    task = services.task_create(
        owner=csm, name="ok", custom_fields={"renewal_date": "2026-12-01", "seats": 40}
    )
    assert task.custom_fields == {"renewal_date": "2026-12-01", "seats": 40}

    with pytest.raises(ValidationError) as exc:
        services.task_create(owner=csm, name="bad", custom_fields={"seats": "forty"})
    assert exc.value.message_dict == {"seats": ["Enter a number."]}


def test_a_required_custom_field_must_have_a_value(csm):
    CustomFieldFactory(key="health", required=True)

    with pytest.raises(ValidationError) as exc:
        services.task_create(owner=csm, name="no health")

    assert "health" in exc.value.message_dict


def test_a_partial_custom_field_update_keeps_the_other_values(csm):
    CustomFieldFactory(key="a")
    CustomFieldFactory(key="b")
    task = services.task_create(owner=csm, name="t", custom_fields={"a": "1", "b": "2"})

    services.task_update(task=task, custom_fields={"b": "3"})

    assert task.custom_fields == {"a": "1", "b": "3"}


def test_an_unknown_custom_field_is_refused(csm):
    with pytest.raises(ValidationError) as exc:
        services.task_create(owner=csm, name="t", custom_fields={"nope": 1})

    assert "Unknown custom field" in exc.value.message_dict["nope"][0]


def test_deleting_a_task_removes_it(csm):
    task = TaskFactory(owner=csm)

    services.task_delete(task=task)

    assert not Task.objects.filter(pk=task.pk).exists()


def test_a_task_is_overdue_only_while_open_and_past_due(csm):
    yesterday = dt.date.today() - dt.timedelta(days=1)
    task = TaskFactory(owner=csm, due_date=yesterday)

    assert task.is_overdue(dt.date.today())
    services.task_complete(task=task)
    assert not task.is_overdue(dt.date.today())


def test_deactivating_a_custom_field_keeps_its_values_through_later_edits(csm):
    field = CustomFieldFactory(key="legacy")
    CustomFieldFactory(key="current")
    task = services.task_create(
        owner=csm, name="t", custom_fields={"legacy": "old", "current": "1"}
    )
    field.is_active = False
    field.save()

    services.task_update(task=task, custom_fields={"current": "2"})

    assert task.custom_fields == {"legacy": "old", "current": "2"}


# ---- a copy read before someone else's write (issue 16, item 2) ---------------------------


def test_an_update_from_a_stale_copy_writes_only_the_fields_it_changes(csm):
    CustomFieldFactory(key="a")
    CustomFieldFactory(key="b")
    task = services.task_create(owner=csm, name="Kick-off", custom_fields={"a": "1", "b": "2"})
    copy = Task.objects.get(pk=task.pk)
    Task.objects.filter(pk=task.pk).update(
        name="Renamed meanwhile", custom_fields={"a": "9", "b": "2"}
    )

    services.task_update(task=copy, details="Edited", custom_fields={"b": "3"})

    task.refresh_from_db()
    assert (task.name, task.details) == ("Renamed meanwhile", "Edited")
    assert task.custom_fields == {"a": "9", "b": "3"}
    assert copy.name == "Renamed meanwhile"  # the caller's copy is the row as saved


def test_a_field_stored_since_with_another_value_than_the_user_saw_is_refused(csm):
    task = services.task_create(owner=csm, name="Kick-off")
    Task.objects.filter(pk=task.pk).update(name="Renamed meanwhile")

    with pytest.raises(ValidationError) as exc:
        services.task_update(
            task=Task.objects.get(pk=task.pk), name="Mine", expected={"name": "Kick-off"}
        )

    assert "Changed meanwhile (now “Renamed meanwhile”)" in exc.value.message_dict["name"][0]
    task.refresh_from_db()
    assert task.name == "Renamed meanwhile"


def test_an_update_of_a_task_deleted_meanwhile_is_refused_and_does_not_bring_it_back(csm):
    task = services.task_create(owner=csm, name="Short-lived")
    Task.objects.filter(pk=task.pk).delete()

    with pytest.raises(ValidationError, match="deleted meanwhile"):
        services.task_update(task=task, details="Too late")

    assert not Task.objects.filter(pk=task.pk).exists()
