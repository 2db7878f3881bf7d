"""The live list is complete: tasks that join the open view while it is on screen (created
here or pulled from Salesforce), tasks deleted meanwhile, and the tab counts."""

import pytest

from sync.models import SyncEvent
from tasks.selectors import user_today
from tests.factories import TaskFactory

pytestmark = pytest.mark.django_db


@pytest.fixture
def alice(client, csm):
    client.force_login(csm)
    return client


def news_poll(client, url: str = "/"):
    """The news poll's URL, as the page drew it."""
    page = client.get(url).content.decode()
    start = page.index('hx-get="/tasks/news/')
    return page[start + len('hx-get="') : page.index('"', start + 10)].replace("&amp;", "&")


def test_the_news_poll_answers_nothing_while_the_view_is_unchanged(alice, csm):
    TaskFactory(owner=csm, due_date=user_today(csm))
    poll = news_poll(alice)

    assert alice.get(poll).status_code == 204


def test_a_task_that_joins_the_open_view_is_announced_and_the_counts_follow(alice, csm, other_csm):
    today = user_today(csm)
    TaskFactory(owner=csm, due_date=today)
    poll = news_poll(alice)

    TaskFactory(owner=csm, name="Pulled from Salesforce", due_date=today)
    TaskFactory(owner=other_csm, due_date=today)  # someone else's: not Alice's news
    answer = alice.get(poll)

    text = answer.content.decode()
    assert answer.status_code == 200
    assert "1 new task in this view" in text
    assert 'id="count-today" hx-swap-oob="true">2<' in text
    # The next poll carries the new version: no second announcement of the same news.
    assert alice.get(news_poll_of(text)).status_code == 204


def news_poll_of(answer: str) -> str:
    start = answer.index('hx-get="/tasks/news/')
    return answer[start + len('hx-get="') : answer.index('"', start + 10)].replace("&amp;", "&")


def test_a_task_deleted_in_salesforce_is_named_when_it_leaves_the_list(alice, csm):
    today = user_today(csm)
    gone = TaskFactory(owner=csm, name="Renewal call", due_date=today)
    TaskFactory(owner=csm, due_date=today)
    poll = news_poll(alice)

    SyncEvent.objects.create(
        kind=SyncEvent.Kind.DELETED,
        task_id=gone.pk,
        message="'Renewal call' was deleted in Salesforce, so it was deleted in Cockpit",
    )
    gone.delete()
    text = alice.get(poll).content.decode()

    assert "“Renewal call” was deleted in Salesforce." in text
    assert 'id="count-today" hx-swap-oob="true">1<' in text


def test_the_news_of_a_filtered_paged_view_keeps_its_query(alice, csm):
    TaskFactory(owner=csm, name="Alpha")
    poll = news_poll(alice, "/?view=open&q=Alpha")
    assert "view=open" in poll and "q=Alpha" in poll

    TaskFactory(owner=csm, name="Beta")  # does not match the search: no news
    assert alice.get(poll).status_code == 204

    TaskFactory(owner=csm, name="Alpha two")
    assert "1 new task in this view" in alice.get(poll).content.decode()
