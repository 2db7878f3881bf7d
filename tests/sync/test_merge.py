"""The three-way merge (sync/merge.py), one row per case: pure, no database, no network."""

import pytest

from sync.merge import COCKPIT, SALESFORCE, SKIP, SyncField, merge

STATUS_OUT = {"Open": "Not Started", "In Progress": "In Progress", "Complete": "Completed"}
STATUS_BACK = {v: k for k, v in STATUS_OUT.items()}

SUBJECT = SyncField("Subject")
STATUS = SyncField(
    "Status",
    out=lambda value: STATUS_OUT.get(value, "Not Started"),
    back=lambda value: STATUS_BACK.get(value, SKIP),
)
TO_SALESFORCE_ONLY = SyncField("Subject", comes_in=False)
FROM_SALESFORCE_ONLY = SyncField("Subject", goes_out=False)


def run(
    field,
    *,
    base_sf,
    base_ck,
    ours,
    theirs,
    latest=COCKPIT,
    policy="latest",
    stale=(),
    fresh=(),
    touched=(),
):
    def wrap(value):
        return None if value is None else {field.salesforce: value}

    return merge(
        [field],
        base_sf=wrap(base_sf),
        base_ck=wrap(base_ck) or {},
        ours={field.salesforce: ours},
        theirs=wrap(theirs),
        latest=latest,
        policy=policy,
        stale=frozenset(stale),
        fresh=frozenset(fresh),
        touched=frozenset(touched),
    )


NEW = {"fresh": ["Subject", "Status"]}

CASES = {
    # name: (field, base_sf, base_ck, ours, theirs, options, to_cockpit, to_salesforce, conflict)
    "nothing changed": (SUBJECT, "a", "a", "a", "a", {}, None, None, None),
    "only Cockpit changed: it goes out": (SUBJECT, "a", "a", "b", "a", {}, None, "b", None),
    "only Salesforce changed: it comes in": (SUBJECT, "a", "a", "a", "c", {}, "c", None, None),
    "both changed to the same value: agreed": (SUBJECT, "a", "a", "b", "b", {}, None, None, None),
    "both changed, latest is Salesforce": (
        SUBJECT, "a", "a", "b", "c", {"latest": SALESFORCE}, "c", None, SALESFORCE,
    ),
    "both changed, latest is Cockpit": (
        SUBJECT, "a", "a", "b", "c", {"latest": COCKPIT}, None, "b", COCKPIT,
    ),
    "both changed, policy Salesforce wins": (
        SUBJECT, "a", "a", "b", "c", {"policy": "salesforce"}, "c", None, SALESFORCE,
    ),
    "both changed, policy Cockpit wins": (
        SUBJECT, "a", "a", "b", "c", {"policy": "cockpit", "latest": SALESFORCE}, None, "b",
        COCKPIT,
    ),
    "Salesforce not read (theirs None): Cockpit's change goes out": (
        SUBJECT, "a", "a", "b", None, {}, None, "b", None,
    ),
    "empty text and null are the same": (SUBJECT, "", "", None, None, {}, None, None, None),
    "unmapped Salesforce value arrives: kept, skipped, no conflict": (
        STATUS, "Not Started", "Open", "Open", "Deferred", {}, None, None, None,
    ),
    "unmapped Salesforce value stays while Cockpit does not touch the field": (
        STATUS, "Deferred", "Open", "Open", "Deferred", {}, None, None, None,
    ),
    "a CSM changes a field holding an unmapped value: Cockpit's goes out": (
        STATUS, "Deferred", "Open", "Complete", "Deferred", {}, None, "Completed", None,
    ),
    "mapped Salesforce picklist value comes in as Cockpit's value": (
        STATUS, "Not Started", "Open", "Open", "Completed", {}, "Complete", None, None,
    ),
    "a field sent to Salesforce only ignores Salesforce's edits": (
        TO_SALESFORCE_ONLY, "a", "a", "a", "c", {}, None, None, None,
    ),
    "a field from Salesforce only never goes out": (
        FROM_SALESFORCE_ONLY, "a", "a", "b", "a", {}, None, None, None,
    ),
    "a stale echo of ours is not a Salesforce change: Cockpit's value goes out again": (
        SUBJECT, "v2", "v2", "v2", "v1", {"stale": ["Subject"]}, None, "v2", None,
    ),
    "unknown Cockpit base: Cockpit counts as changed where it differs": (
        SUBJECT, "a", None, "b", "a", {}, None, "b", None,
    ),
    # Changed by a CSM and changed back before a push (`touched`): a change all the same.
    "changed back, Salesforce changed meanwhile: a conflict, latest is Cockpit": (
        SUBJECT, "a", "a", "a", "c", {"touched": ["Subject"]}, None, "a", COCKPIT,
    ),
    "changed back, Salesforce changed meanwhile: a conflict, latest is Salesforce": (
        SUBJECT, "a", "a", "a", "c", {"touched": ["Subject"], "latest": SALESFORCE}, "c", None,
        SALESFORCE,
    ),
    "changed back, Salesforce not read: it goes out (a conditional write, or sync one way)": (
        SUBJECT, "a", "a", "a", None, {"touched": ["Subject"]}, None, "a", None,
    ),
    "changed back, Salesforce unchanged: nothing to do": (
        SUBJECT, "a", "a", "a", "a", {"touched": ["Subject"]}, None, None, None,
    ),
    "changed back over an unmapped Salesforce value: Cockpit's goes out": (
        STATUS, "Deferred", "Open", "Open", "Deferred", {"touched": ["Status"]}, None,
        "Not Started", None,
    ),
    "changed to a value Salesforce also chose: agreed, nothing comes back": (
        STATUS, "Not Started", "Open", "Complete", "Completed", {"touched": ["Status"]}, None,
        None, None,
    ),
    # Newly mapped (no agreement yet, `fresh`): the first meeting of the two values.
    "newly mapped, values that mean the same: agreed": (
        STATUS, None, None, "Open", "Not Started", NEW, None, None, None,
    ),
    "newly mapped, Cockpit empty: it takes Salesforce's value": (
        SUBJECT, None, None, "", "c", NEW, "c", None, None,
    ),
    "newly mapped, Salesforce empty: Cockpit's value goes out": (
        SUBJECT, None, None, "b", None, NEW, None, "b", None,
    ),
    "newly mapped, two values, latest is Salesforce: a conflict Salesforce wins": (
        SUBJECT, None, None, "b", "c", {**NEW, "latest": SALESFORCE}, "c", None, SALESFORCE,
    ),
    "newly mapped, two values, policy Cockpit wins: a conflict Cockpit wins": (
        SUBJECT, None, None, "b", "c", {**NEW, "policy": "cockpit", "latest": SALESFORCE},
        None, "b", COCKPIT,
    ),
    "newly mapped, a Salesforce value Cockpit cannot express stays": (
        STATUS, None, None, "Open", "Deferred", NEW, None, None, None,
    ),
    "newly mapped to Salesforce only, two values: Cockpit wins by direction": (
        TO_SALESFORCE_ONLY, None, None, "b", "c", {**NEW, "latest": SALESFORCE}, None, "b",
        COCKPIT,
    ),
    "newly mapped to Salesforce only, Cockpit empty: Salesforce keeps its value": (
        TO_SALESFORCE_ONLY, None, None, "", "c", NEW, None, None, None,
    ),
    "newly mapped from Salesforce only, two values: Salesforce wins by direction": (
        FROM_SALESFORCE_ONLY, None, None, "b", "c", {**NEW, "policy": "cockpit"}, "c", None,
        SALESFORCE,
    ),
    "newly mapped from Salesforce only, Salesforce empty: Cockpit keeps its value": (
        FROM_SALESFORCE_ONLY, None, None, "b", None, NEW, None, None, None,
    ),
}  # fmt: skip


@pytest.mark.parametrize("case", CASES, ids=list(CASES))
def test_merge(case):
    field, base_sf, base_ck, ours, theirs, options, to_cockpit, to_salesforce, conflict = CASES[
        case
    ]
    result = run(field, base_sf=base_sf, base_ck=base_ck, ours=ours, theirs=theirs, **options)

    name = field.salesforce
    assert result.to_cockpit.get(name) == to_cockpit
    assert result.to_salesforce.get(name) == to_salesforce
    assert [c.winner for c in result.conflicts] == ([conflict] if conflict else [])


def test_an_unmapped_value_is_reported_as_skipped_once_and_agreed():
    result = run(STATUS, base_sf="Not Started", base_ck="Open", ours="Open", theirs="Deferred")

    assert result.skipped == [("Status", "Deferred")]
    assert (result.base_sf["Status"], result.base_ck["Status"]) == ("Deferred", "Open")
    again = run(STATUS, base_sf="Deferred", base_ck="Open", ours="Open", theirs="Deferred")
    assert again.skipped == []


def test_the_agreement_after_a_confirmed_push_holds_what_was_sent():
    result = run(SUBJECT, base_sf="a", base_ck="a", ours="b", theirs="a")

    assert result.agreed_after_push({"Subject": "b"}) == ({"Subject": "b"}, {"Subject": "b"})
    # Until the push is confirmed, Cockpit's side stays changed, so a failure retries it.
    assert result.base_ck["Subject"] == "a"


def test_a_field_changed_back_and_sent_stays_changed_until_the_push_is_confirmed():
    result = run(SUBJECT, base_sf="a", base_ck="a", ours="a", theirs="c", touched=["Subject"])

    assert result.to_salesforce == {"Subject": "a"}
    assert "Subject" not in result.base_ck  # unknown: a failed push sends it again


def test_a_newly_mapped_one_way_conflict_says_its_direction_decided():
    result = run(TO_SALESFORCE_ONLY, base_sf=None, base_ck=None, ours="b", theirs="c", **NEW)

    assert [c.by_direction for c in result.conflicts] == [True]
    both_ways = run(SUBJECT, base_sf=None, base_ck=None, ours="b", theirs="c", **NEW)
    assert [c.by_direction for c in both_ways.conflicts] == [False]
