"""The list as a Salesforce user knows it: sortable columns, a page-size choice, a "Next 7
days" view, company and type as columns, dates formatted alike."""

import datetime as dt
import re

import pytest

from tasks.models import CustomField, Task
from tasks.selectors import user_today
from tasks.services import task_complete
from tests.factories import (
    CompanyFactory,
    CustomFieldFactory,
    TaskFactory,
    priority,
    task_type,
)

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, csm):
    client.force_login(csm)
    return client


def names_in(page: str) -> list[str]:
    return re.findall(r'class="task-name" href="[^"]*">([^<]+)</a>', page)


def test_a_column_header_sorts_the_list_and_says_which_way(alice, csm):
    TaskFactory(owner=csm, name="Low one", priority=priority("Low"))
    TaskFactory(owner=csm, name="High one", priority=priority("High"))
    TaskFactory(owner=csm, name="Medium one", priority=priority("Medium"))

    ascending = alice.get("/?view=open&sort=priority").content.decode()
    descending = alice.get("/?view=open&sort=-priority").content.decode()

    assert names_in(ascending) == ["Low one", "Medium one", "High one"]
    assert names_in(descending) == ["High one", "Medium one", "Low one"]
    assert 'aria-sort="ascending"><a class="sort" href="?view=open&amp;sort=-priority"' in (
        ascending
    )


def test_sorting_by_name_applies_within_each_section_of_today(alice, csm):
    today = user_today(csm)
    for name in ("Beta", "Alpha", "Gamma"):
        TaskFactory(owner=csm, name=name, due_date=today)

    assert names_in(alice.get("/?sort=name").content.decode()) == ["Alpha", "Beta", "Gamma"]


def test_the_csm_chooses_how_many_tasks_a_page_shows(alice, csm):
    TaskFactory.create_batch(30, owner=csm)

    assert len(names_in(alice.get("/?view=open").content.decode())) == 25
    assert len(names_in(alice.get("/?view=open&size=50").content.decode())) == 30
    # A size nobody offered is a bookmark gone stale: the default, not an error.
    assert len(names_in(alice.get("/?view=open&size=7").content.decode())) == 25


def test_next_7_days_shows_open_work_due_from_today_to_six_days_on(alice, csm):
    today = user_today(csm)
    TaskFactory(owner=csm, name="Today", due_date=today)
    TaskFactory(owner=csm, name="In six days", due_date=today + dt.timedelta(days=6))
    TaskFactory(owner=csm, name="In a week", due_date=today + dt.timedelta(days=7))
    TaskFactory(owner=csm, name="Overdue", due_date=today - dt.timedelta(days=1))
    task_complete(task=TaskFactory(owner=csm, name="Done", due_date=today))

    page = alice.get("/?view=week").content.decode()

    assert names_in(page) == ["Today", "In six days"]
    assert 'Next 7 days <span class="count" id="count-week">2</span>' in page


def test_company_and_type_have_columns_of_their_own(alice, csm):
    TaskFactory(
        owner=csm, name="Call", company=CompanyFactory(name="Acme Corp"), type=task_type("Call")
    )

    page = alice.get("/?view=open").content.decode()

    assert '<td data-label="Company">Acme Corp</td>' in page
    assert '<td data-label="Type">Call</td>' in page


def test_a_custom_date_reads_like_the_due_date(alice, csm):
    follow_up = CustomFieldFactory(
        key="follow_up", label="Follow-up date", field_type=CustomField.FieldType.DATE
    )
    task = TaskFactory(owner=csm, due_date=dt.date(2026, 12, 9))
    Task.objects.filter(pk=task.pk).update(custom_fields={follow_up.key: "2026-12-11"})

    page = alice.get(f"/tasks/{task.pk}/").content.decode()

    assert "Wednesday, 9 December 2026" in page
    assert "Friday, 11 December 2026" in page
    assert "2026-12-11<" not in page
