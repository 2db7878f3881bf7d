"""The agreement a twin's merge starts from, as the current mapping can use it: which mapping
(and company links) each agreed value was agreed under, and which Cockpit fields a CSM's change
touched since. Pure reads of the sync record, except `agreement_touched`.
"""

from dataclasses import dataclass
from typing import Any

from tasks.models import Task, TaskSyncRecord

from .engine_config import Engine
from .mapping import FieldRule
from .merge import SKIP, same
from .payload import COMPANY, salesforce_fields_of

# ---- which mapping an agreement was made under ----------------------------------------------
# The agreed Cockpit values carry, under this key (no Salesforce field name starts with '@'),
# what the mapping was when each field was agreed: for a mapped field its Cockpit field and
# direction, for Status and Priority the Salesforce value Cockpit's agreed value translated to
# and whether the agreed Salesforce value had a mapping. A mapping or default change is then
# judged per task against the mapping its agreement was made under (issue 16): however many
# saves come before the re-sync reaches a task, and whichever of push, pull or re-sync merges
# it first. The company lookup is marked the same way: the Account the agreed company was
# linked to, and whether the agreed WhatId was an Account no company had; a company linked to
# another Account (by an admin, or by a pull that matched its name) is then a change of each
# of its tasks' WhatId, whichever merge meets the task first.
MARKS = "@mapping"
# A base value no real value equals: an agreed WhatId that became readable since (its Account
# is a company's now) is seen as changed in Salesforce.
LINKED = "\u2063cockpit-linked\u2063"


# A base value no real value equals: a field whose sides differ although the agreed values say
# they agree (drift) is seen as changed on both sides, and the policy decides, with a conflict.
DRIFT = "\u2063cockpit-drift\u2063"


@dataclass
class MergeBase:
    """What a twin's merge starts from (sync/merge.py): the agreement as the current mapping
    can use it, as Salesforce's values (`sf`; None: never compared) and Cockpit's (`ck`), the
    fields with no agreement yet (`fresh`) and those a CSM changed since it (`touched`)."""

    sf: dict[str, Any] | None
    ck: dict[str, Any]
    fresh: frozenset[str]
    touched: frozenset[str]


def merge_base(
    engine: Engine,
    record: TaskSyncRecord,
    ours: dict[str, Any],
    theirs: dict[str, Any] | None,
    *,
    override: tuple[dict[str, Any], dict[str, Any]] | None = None,
    drift: bool = False,
) -> MergeBase:
    """The agreement a merge of this twin starts from. `override`: a base of the caller's
    (what a lost first push sent, when its twin is found), taken as it is; `drift`: a
    reconcile's, where values that differ although both sides agreed clash."""
    touched = salesforce_fields_of(engine.spec, (record.agreed_cockpit or {}).get(TOUCHED) or [])
    base_sf: dict[str, Any] | None
    fresh: frozenset[str] = frozenset()
    if override is not None:
        base_sf, base_ck = override
    else:
        base_sf = record.agreed_values or None
        base_ck = record.agreed_cockpit or (
            legacy_base_ck(engine, base_sf, ours) if base_sf else {}
        )
        if base_sf is not None:
            base_sf, base_ck, fresh = mapping_changes(engine, base_sf, base_ck, ours, theirs)
    if drift and theirs is not None and base_sf is not None:
        base_sf, base_ck = _drift_marked(engine, ours, theirs, base_sf, base_ck)
    return MergeBase(base_sf, base_ck, fresh, touched)


def _drift_marked(
    engine: Engine,
    ours: dict[str, Any],
    theirs: dict[str, Any],
    base_sf: dict[str, Any],
    base_ck: dict[str, Any],
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The base with drifted fields marked: both sides hold what they last agreed on, and yet
    the values differ (a write lost without trace, a mapping changed under the record). A value
    Salesforce has that Cockpit cannot map is no drift: it is kept beside Cockpit's by design."""
    base_sf, base_ck = dict(base_sf), dict(base_ck)
    for item in engine.fields:
        name = item.salesforce
        if name not in theirs or name not in base_sf or name not in base_ck:
            continue
        if item.back(theirs[name]) is SKIP or same(item.out(ours.get(name)), theirs[name]):
            continue
        if same(theirs[name], base_sf[name]) and same(ours.get(name), base_ck[name]):
            base_sf[name] = base_ck[name] = DRIFT
    return base_sf, base_ck


_DIRECTIONS = {(True, True): "both", (True, False): "out", (False, True): "in"}


def _direction(rule: FieldRule) -> str:
    return _DIRECTIONS.get((rule.goes_out, rule.comes_in), "none")


def agreement_marked(
    engine: Engine, base_sf: dict[str, Any], base_ck: dict[str, Any]
) -> dict[str, Any]:
    """The agreed Cockpit values with the marks of the mapping (and company links) they are
    agreed under."""
    spec = engine.spec
    marks: dict[str, Any] = {
        rule.salesforce_field: {"from": rule.cockpit_field, "dir": _direction(rule)}
        for rule in spec.fields
    }
    for _, picklist in spec.picklists:
        name = picklist.salesforce_field
        if base_ck.get(name) is None or name not in base_sf:
            continue  # not agreed (a write on its way): nothing to mark
        theirs = base_sf[name]
        marks[name] = {
            "out": picklist.out(base_ck[name]),
            "unmapped": theirs is not None and picklist.back(theirs) is None,
        }
    if COMPANY in base_sf and COMPANY in base_ck:
        lookups, theirs = engine.lookups, base_sf[COMPANY]
        company = base_ck[COMPANY]
        marks[COMPANY] = {
            "out": lookups.accounts_out.get(company) if company else None,
            "unmapped": bool(theirs) and theirs not in lookups.accounts_in,
        }
    return {**{k: v for k, v in base_ck.items() if k != MARKS}, MARKS: marks}


def mapping_changes(
    engine: Engine,
    base_sf: dict[str, Any],
    base_ck: dict[str, Any],
    ours: dict[str, Any],
    theirs: dict[str, Any] | None,
) -> tuple[dict[str, Any], dict[str, Any], frozenset[str]]:
    """The agreement as the current mapping can use it, and the fields with none (README, "What
    the sync guarantees", 11). Only what the new mapping translates differently from the old
    one's agreement goes out; a value Salesforce chose is never rewritten by a mapping change."""
    # A picklist that joined the sync after the twin's agreement (the task type, once mapped)
    # has none: it meets Salesforce's value as a newly mapped field does, so a Type a
    # Salesforce user chose is neither cleared by a task without a type nor overwritten.
    unagreed = {
        picklist.salesforce_field
        for _, picklist in engine.spec.picklists
        if picklist.salesforce_field not in base_sf
    }
    marks = base_ck.get(MARKS)
    if marks is None:
        # Agreed before marks were kept: as if under this one.
        return base_sf, base_ck, frozenset(unagreed)
    base_sf, base_ck = dict(base_sf), dict(base_ck)
    fresh = {
        *unagreed,
        *_field_rule_changes(engine, marks, base_sf, base_ck),
        *_picklist_changes(engine, marks, base_sf, base_ck, theirs),
    }
    _company_link_changes(engine, marks, base_sf, base_ck, theirs)
    return base_sf, base_ck, frozenset(fresh)


def _forgotten(name: str, base_sf: dict[str, Any], base_ck: dict[str, Any]) -> str:
    """No agreement for this field any more (changed in place); returns its name."""
    base_sf.pop(name, None)
    base_ck.pop(name, None)
    return name


def _field_rule_changes(
    engine: Engine, marks: dict[str, Any], base_sf: dict[str, Any], base_ck: dict[str, Any]
) -> set[str]:
    """The mapped fields whose agreement the current field rules cannot use (forgotten)."""
    by_name = {item.salesforce: item for item in engine.fields}
    fresh = set()
    for rule in engine.spec.fields:
        name, mark = rule.salesforce_field, marks.get(rule.salesforce_field)
        if name not in base_sf or (mark is not None and mark["from"] != rule.cockpit_field):
            # Newly mapped, or another Cockpit field behind it: no agreement yet.
            fresh.add(_forgotten(name, base_sf, base_ck))
        elif mark is not None and mark["dir"] != _direction(rule) and name in base_ck:
            # A one-way field's agreement is only half a one (the side it ignored may have
            # moved on): it still holds where the two values translate into each other.
            item = by_name[name]
            agreed, agreed_sf = base_ck[name], base_sf[name]
            if not (same(item.out(agreed), agreed_sf) or same(item.back(agreed_sf), agreed)):
                fresh.add(_forgotten(name, base_sf, base_ck))
    return fresh


def _picklist_changes(
    engine: Engine,
    marks: dict[str, Any],
    base_sf: dict[str, Any],
    base_ck: dict[str, Any],
    theirs: dict[str, Any] | None,
) -> set[str]:
    """Status and Priority under a changed value mapping or default: Cockpit's translation
    that Salesforce still holds goes out anew; an unmapped value newly mapped to another
    Cockpit value has no agreement yet (forgotten, returned)."""
    fresh = set()
    for _, picklist in engine.spec.picklists:
        name, mark = picklist.salesforce_field, marks.get(picklist.salesforce_field)
        if mark is None or name not in base_ck or name not in base_sf:
            continue
        agreed, agreed_sf = base_ck[name], base_sf[name]
        readable = agreed_sf is not None and picklist.back(agreed_sf) is not None
        if same(agreed_sf, mark["out"]) and readable:
            # Salesforce holds Cockpit's own translation, and the new mapping still reads it:
            # it follows a new translation (a changed mapping or default), unless a Salesforce
            # user changed the field since (the merge then takes that edit, or keeps it when
            # it has no mapping). A value the new mapping cannot read stays, as any other.
            moved = theirs is not None and not same(theirs.get(name, agreed_sf), agreed_sf)
            if not same(picklist.out(agreed), agreed_sf) and not moved:
                del base_ck[name]  # Cockpit's value counts as changed: it goes out
        elif mark["unmapped"] and agreed_sf is not None:
            meaning = picklist.back(agreed_sf)
            if meaning is not None and meaning != agreed:
                fresh.add(_forgotten(name, base_sf, base_ck))
    return fresh


# ---- what a CSM changed since the agreement ---------------------------------------------------
# A field a CSM changed and changed back before a push (a task handed to Bob and back to its
# CSM) holds the agreed value again, and the merge would see no Cockpit change: a Salesforce
# change made meanwhile (the task given to a user with no Cockpit account) would win without a
# conflict, and a value Salesforce holds that Cockpit cannot express would stay although a CSM
# chose the field's value since. The Cockpit fields a CSM's change wrote are kept beside the
# agreement, under this key, until the next merge (README, "What the sync guarantees", 3).
TOUCHED = "@touched"


def agreement_touched(*, task: Task, fields: set[str]) -> None:
    """A CSM's change wrote these Cockpit fields ('owner', 'status', 'custom:<key>') of a
    task: the next merge counts them as changed by Cockpit even where the value is the agreed
    one again. Called in the change's transaction, which holds the task's row lock, so no
    merge (which locks the task first) runs between the change and this."""
    record = TaskSyncRecord.objects.select_for_update().filter(task=task).first()
    if record is None or not record.agreed_cockpit:
        return  # no agreement yet: the first push sends every field
    before = record.agreed_cockpit.get(TOUCHED) or []
    touched = sorted({*before, *fields})
    if touched != before:
        record.agreed_cockpit = {**record.agreed_cockpit, TOUCHED: touched}
        record.save(update_fields=["agreed_cockpit"])


def _company_link_changes(
    engine: Engine,
    marks: dict[str, Any],
    base_sf: dict[str, Any],
    base_ck: dict[str, Any],
    theirs: dict[str, Any] | None,
) -> None:
    """The agreed company's Account changed since the agreement (the agreement as the merge can
    use it, changed in place). Where Salesforce held the Account Cockpit's company meant, the
    company's new Account (or none) is a Cockpit change of the task's WhatId: it goes out, and
    a Salesforce user's change of it meanwhile makes a conflict, settled by the policy and
    recorded. Where Salesforce held an Account no company had (a push does not link
    companies), and that Account is now another company's, Salesforce's choice is a Salesforce
    change: it comes in (or meets Cockpit's own change as a conflict)."""
    if COMPANY not in base_sf or COMPANY not in base_ck:
        return
    agreed, agreed_sf = base_ck[COMPANY], base_sf[COMPANY]
    mark = marks.get(COMPANY)
    if mark is None:
        if agreed is None or agreed_sf is not None:
            return  # agreed before links were marked, and nothing tells what it meant
        # An empty WhatId agreed beside a company: that company had no Account then.
        mark = {"out": None, "unmapped": False}
    lookups = engine.lookups
    if mark["unmapped"]:
        meaning = lookups.accounts_in.get(agreed_sf) if agreed_sf else None
        if meaning is not None and meaning != agreed and theirs is not None:
            base_sf[COMPANY] = LINKED  # Salesforce's value counts as changed
    elif same(agreed_sf, mark["out"]):
        now = lookups.accounts_out.get(agreed) if agreed else None
        if not same(now, agreed_sf):
            del base_ck[COMPANY]  # Cockpit's value counts as changed: it goes out


def legacy_base_ck(engine: Engine, base_sf: dict[str, Any], ours: dict[str, Any]) -> dict[str, Any]:
    """Records agreed before Cockpit's side was kept: what Cockpit held then, as far as the
    Salesforce values tell (an unmapped value stood beside Cockpit's current one)."""
    base_ck = {}
    for item in engine.fields:
        if item.salesforce in base_sf:
            value = item.back(base_sf[item.salesforce])
            base_ck[item.salesforce] = ours.get(item.salesforce) if value is SKIP else value
    return base_ck
