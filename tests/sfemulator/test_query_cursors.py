"""Query cursors live as Salesforce's do (released at their last page, after 15 idle minutes,
10 a user), and the indexes that serve the sync's queries return exactly what a full scan
would."""

from __future__ import annotations

import pytest
from simple_salesforce.exceptions import SalesforceMalformedRequest

from tests.sfemu import SEED_PASSWORD

PAGES_OF_200 = {"Sforce-Query-Options": "batchSize=200"}


@pytest.fixture
def sf(sfemu_clean):
    return sfemu_clean.simple_salesforce()


def _create_tasks(sf, count: int, owner: str | None = None, subject: str = "Task {n:04d}"):
    ids = []
    for start in range(0, count, 200):
        records = [
            {
                "attributes": {"type": "Task"},
                "Subject": subject.format(n=n),
                **({"OwnerId": owner} if owner else {}),
            }
            for n in range(start, min(start + 200, count))
        ]
        results = sf.restful("composite/sobjects", method="POST", json={"records": records})
        ids.extend(result["id"] for result in results)
    return ids


def _open_cursors(sfemu) -> int:
    return sfemu.admin("GET", "info")["open_cursors"]


def _more(sf, locator: str):
    return sf.query_more(locator, identifier_is_url=True, headers=PAGES_OF_200)


def test_query_all_leaves_no_cursor_open_and_the_last_locator_is_spent(sf, sfemu_clean):
    _create_tasks(sf, 450)

    first = sf.query("SELECT Id FROM Task", headers=PAGES_OF_200)
    second = _more(sf, first["nextRecordsUrl"])
    assert _open_cursors(sfemu_clean) == 1
    last = _more(sf, second["nextRecordsUrl"])

    assert (len(last["records"]), last["done"]) == (50, True)
    assert _open_cursors(sfemu_clean) == 0
    with pytest.raises(SalesforceMalformedRequest) as raised:
        _more(sf, second["nextRecordsUrl"])
    assert raised.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert len(sf.query_all("SELECT Id FROM Task", headers=PAGES_OF_200)["records"]) == 450
    assert _open_cursors(sfemu_clean) == 0


def test_a_cursor_idle_for_15_minutes_is_released(sf, sfemu_clean):
    _create_tasks(sf, 650)
    first = sf.query("SELECT Id FROM Task", headers=PAGES_OF_200)

    sfemu_clean.set_clock_offset(14 * 60)
    second = _more(sf, first["nextRecordsUrl"])  # in time: the 15 minutes start again
    sfemu_clean.set_clock_offset(14 * 60 + 15 * 60)

    with pytest.raises(SalesforceMalformedRequest) as raised:
        _more(sf, second["nextRecordsUrl"])
    assert raised.value.content[0]["errorCode"] == "INVALID_QUERY_LOCATOR"
    assert _open_cursors(sfemu_clean) == 0


def test_an_eleventh_cursor_releases_the_users_oldest_only(sf, sfemu_clean):
    _create_tasks(sf, 250)
    alice = sfemu_clean.simple_salesforce(
        username="alice@example.com.sfemu", password=SEED_PASSWORD
    )
    alices = alice.query("SELECT Id FROM Task", headers=PAGES_OF_200)
    mine = [sf.query("SELECT Id FROM Task", headers=PAGES_OF_200) for _ in range(11)]

    with pytest.raises(SalesforceMalformedRequest):
        _more(sf, mine[0]["nextRecordsUrl"])
    assert len(_more(sf, mine[1]["nextRecordsUrl"])["records"]) == 50
    assert len(_more(alice, alices["nextRecordsUrl"])["records"]) == 50


@pytest.mark.parametrize(
    ("where", "expected"),
    [
        ("Subject LIKE 'renewal%'", ["Renewal call", "RENEWAL plan", "renewal"]),
        ("Subject LIKE 'Ren_wal c%'", ["Renewal call"]),
        ("Subject LIKE 'Renewal'", ["renewal"]),
        ("Subject LIKE 'étu%'", ["Étude"]),
        ("Subject LIKE '%plan'", ["RENEWAL plan"]),
        ("Subject LIKE 'renewal%' AND Subject LIKE '%call'", ["Renewal call"]),
        ("Subject LIKE 'zz%'", []),
    ],
)
def test_like_on_subject_finds_what_salesforce_does(sf, where, expected):
    for subject in ("Renewal call", "RENEWAL plan", "renewal", "Étude", "Onboarding"):
        sf.Task.create({"Subject": subject})

    rows = sf.query(f"SELECT Subject FROM Task WHERE {where} ORDER BY Subject")["records"]

    assert sorted(row["Subject"] for row in rows) == sorted(expected)


def test_owner_filters_find_every_owners_tasks_by_18_or_15_character_ids(sf, sfemu_clean):
    alice_id = sf.query("SELECT Id FROM User WHERE Username = 'alice@example.com.sfemu'")[
        "records"
    ][0]["Id"]
    _create_tasks(sf, 30, owner=alice_id)
    _create_tasks(sf, 20)
    integration = sfemu_clean.integration_user_id

    by_18 = sf.query(f"SELECT COUNT() FROM Task WHERE OwnerId = '{alice_id}'")
    by_15 = sf.query(f"SELECT COUNT() FROM Task WHERE OwnerId IN ('{alice_id[:15]}')")
    both = sf.query(f"SELECT COUNT() FROM Task WHERE OwnerId IN ('{alice_id}', '{integration}')")
    recent = sf.query(
        "SELECT COUNT() FROM Task WHERE SystemModstamp >= 2020-01-01T00:00:00Z "
        f"AND OwnerId IN ('{alice_id}')"
    )

    assert [by_18["totalSize"], by_15["totalSize"], both["totalSize"]] == [30, 30, 50]
    assert recent["totalSize"] == 30


def test_count_of_a_whole_object_counts_deleted_records_only_with_query_all(sf):
    ids = _create_tasks(sf, 5)
    sf.Task.delete(ids[0])

    assert sf.query("SELECT COUNT() FROM Task")["totalSize"] == 4
    assert sf.query("SELECT COUNT() FROM Task", include_deleted=True)["totalSize"] == 5
    assert sf.query("SELECT COUNT() FROM Task LIMIT 3")["totalSize"] == 3
