"""The three-way merge of one task: pure, no database and no network (DESIGN rules 5, 8, 11).

Both directions use it. The inbound pull merges what Salesforce sent; the push merges what it
just read from Salesforce before it writes, so a push never overwrites a Salesforce edit it has
not seen. Every field is decided alone:

- `base`: what both sides last agreed on, as the Salesforce value (`base_sf`) and as the Cockpit
  value it corresponds to (`base_ck`). Both are needed: a Salesforce value with no Cockpit
  mapping ('Deferred') agrees with the Cockpit value that stands beside it ('Open').
- `ours`: Cockpit's value now; `theirs`: Salesforce's value now.

Cockpit changed a field when ours differs from base_ck, or when a CSM changed it and back since
(`touched`) and ours would change theirs; Salesforce changed it when theirs differs from base_sf.
One side changed: it wins. Both changed to values that mean the same: they agree. Both changed
differently: a conflict, settled by the policy and reported.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

SALESFORCE = "salesforce"
COCKPIT = "cockpit"


class _Skip:
    """A Salesforce value with no Cockpit counterpart (an unmapped picklist value, an unmapped
    owner): it does not sync in, and the Cockpit field keeps its value."""

    def __repr__(self) -> str:
        return "SKIP"


SKIP: Any = _Skip()


def same(a: Any, b: Any) -> bool:
    """Equal as the two systems see it: empty text and null are one; 2 and 2.0 are one."""
    if a in ("", None) and b in ("", None):
        return True
    if isinstance(a, bool) or isinstance(b, bool):
        return a is b
    if isinstance(a, int | float) and isinstance(b, int | float):
        return float(a) == float(b)
    return bool(a == b)


@dataclass(frozen=True)
class SyncField:
    """One Salesforce Task field and the Cockpit value that travels with it."""

    salesforce: str
    goes_out: bool = True
    comes_in: bool = True
    out: Callable[[Any], Any] = lambda value: value
    back: Callable[[Any], Any] = lambda value: value


@dataclass(frozen=True)
class Conflict:
    salesforce_field: str
    cockpit_value: Any
    salesforce_value: Any
    winner: str
    late_write: bool = False  # Salesforce's value was a late arrival of an older write of ours
    # A newly mapped one-way field: its direction, not the policy, named the winner.
    by_direction: bool = False


@dataclass
class Merge:
    """What to do for one task."""

    to_cockpit: dict[str, Any] = field(default_factory=dict)  # Salesforce field → Cockpit value
    to_salesforce: dict[str, Any] = field(default_factory=dict)  # Salesforce field → value
    base_sf: dict[str, Any] = field(default_factory=dict)  # the agreement after this merge
    base_ck: dict[str, Any] = field(default_factory=dict)
    conflicts: list[Conflict] = field(default_factory=list)
    skipped: list[tuple[str, Any]] = field(default_factory=list)  # (field, Salesforce value)

    def agreed_after_push(self, ours: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """The agreement once `to_salesforce` has been written."""
        base_sf = {**self.base_sf, **self.to_salesforce}
        base_ck = dict(self.base_ck)
        for name in self.to_salesforce:
            base_ck[name] = ours.get(name)
        return base_sf, base_ck


def merge(
    fields: list[SyncField],
    *,
    base_sf: dict[str, Any] | None,
    base_ck: dict[str, Any],
    ours: dict[str, Any],
    theirs: dict[str, Any] | None,
    latest: str,
    policy: str = "latest",
    stale: frozenset[str] = frozenset(),
    fresh: frozenset[str] = frozenset(),
    touched: frozenset[str] = frozenset(),
    passed: dict[str, list[Any]] | None = None,
) -> Merge:
    """Merge one task.

    `base_sf` None: the two were never compared (a link found by external id after a lost
    answer): Salesforce's values count as unchanged and Cockpit's go out where they differ.
    `theirs` None: Salesforce was not read (a push with Bi-directional Sync off): Cockpit's
    changes go out and nothing comes in. A field missing from `base_ck` has an unknown Cockpit
    base: Cockpit counts as changed where its value would change Salesforce's. `latest` names the
    side changed last (for the "latest" policy). `stale` names fields whose Salesforce value is a
    late echo of an earlier write of ours: Salesforce did not really change them. `fresh` names
    fields with no agreement yet (newly mapped, see `_first_meeting`); with `theirs` None they
    cannot be compared and Cockpit's value goes out as for an unknown base. `touched` names
    fields a CSM changed since the agreement, even where the value is the agreed one again
    (handed to Bob and back): Cockpit counts as changed there too where its value would
    change Salesforce's. `passed` names fields Salesforce held another value in since the
    agreement, though `theirs` holds the agreed one again (change events the merge sees only
    the last of: a Salesforce user's change and change back; field → the values it held):
    where Cockpit changed them too, both sides changed, and the policy decides with a
    conflict recorded.
    """
    result = Merge()
    moved = _passed_fields(theirs, passed or {})
    for item in fields:
        name = item.salesforce
        our_value = ours.get(name)
        if name in fresh and theirs is not None:
            their_value = theirs.get(name)
            result.base_sf[name] = their_value
            _first_meeting(result, item, our_value, their_value, latest=latest, policy=policy)
            continue
        known = base_sf is not None and name in base_sf and name not in stale
        base_value = base_sf.get(name) if base_sf is not None else None
        their_value = base_value if theirs is None else theirs.get(name, base_value)
        result.base_sf[name] = their_value
        agreed_ck = base_ck if known and name in base_ck else None
        cockpit_changed, agreed_ck = _cockpit_changed(
            item,
            our_value,
            their_value,
            agreed_ck,
            touched=name in touched,
            read=theirs is not None,
        )
        salesforce_changed = (
            known
            and item.comes_in
            and (not same(their_value, base_value) or (cockpit_changed and name in moved))
        )
        _decide(
            result,
            item,
            our_value,
            their_value,
            agreed_ck,
            changed=(cockpit_changed, salesforce_changed),
            winner={"salesforce": SALESFORCE, "cockpit": COCKPIT}.get(policy, latest),
        )
    return result


def _cockpit_changed(
    item: SyncField,
    our_value: Any,
    their_value: Any,
    agreed_ck: dict[str, Any] | None,
    *,
    touched: bool,
    read: bool,
) -> tuple[bool, dict[str, Any] | None]:
    """Whether Cockpit changed the field since the agreement (`agreed_ck`: Cockpit's agreed
    values where the field's is known), and the agreement the merge may keep for it."""
    name = item.salesforce
    if agreed_ck is None:
        changed = not same(item.out(our_value), their_value)
    else:
        changed = not same(our_value, agreed_ck[name])
        if not changed and touched:
            # Changed and changed back before a push: a CSM's choice made after what
            # Salesforce holds may have changed (a task handed back to its CSM while a
            # Salesforce user gave it to someone else). Compared as for an unknown base, and
            # kept unknown until a push confirms it, so a failed push retries it. Salesforce
            # not read: it goes out (a conditional write, refused if the twin changed since,
            # is then read and merged again; with Bi-directional Sync off, Cockpit's changes
            # go out).
            changed = not read or not same(item.out(our_value), their_value)
            agreed_ck = None
    return changed and item.goes_out, agreed_ck


def _decide(
    result: Merge,
    item: SyncField,
    our_value: Any,
    their_value: Any,
    agreed_ck: dict[str, Any] | None,
    *,
    changed: tuple[bool, bool],
    winner: str,
) -> None:
    """One field's outcome: the side that changed it wins; both changed to values that mean
    the same agree; both changed otherwise is a conflict, and `winner` (by the policy) wins."""
    name = item.salesforce
    cockpit_changed, salesforce_changed = changed
    if not cockpit_changed and not salesforce_changed:
        result.base_ck[name] = agreed_ck[name] if agreed_ck is not None else our_value
    elif cockpit_changed and not salesforce_changed:
        _send_ours(result, item, our_value, agreed_ck)
    elif salesforce_changed and not cockpit_changed:
        _take_theirs(result, item, their_value, our_value)
    elif same(item.out(our_value), their_value) or same(item.back(their_value), our_value):
        result.base_ck[name] = our_value  # both changed, to values that mean the same
    else:
        result.conflicts.append(Conflict(name, our_value, their_value, winner))
        if winner == SALESFORCE:
            _take_theirs(result, item, their_value, our_value)
        else:
            _send_ours(result, item, our_value, agreed_ck)


def _passed_fields(theirs: dict[str, Any] | None, passed: dict[str, list[Any]]) -> frozenset[str]:
    """The fields Salesforce held another value in than it does now, since the agreement."""
    if theirs is None:
        return frozenset()
    return frozenset(
        name
        for name, values in passed.items()
        if any(not same(value, theirs.get(name)) for value in values)
    )


def _first_meeting(
    result: Merge, item: SyncField, our_value: Any, their_value: Any, *, latest: str, policy: str
) -> None:
    """A field with no agreement yet (newly mapped, or its Cockpit field or direction changed
    under an agreement the new mapping cannot use). Values that mean the same agree; a value
    Cockpit cannot express stays in Salesforce; an empty side takes the other's value where the
    direction lets it; two different values are a conflict, settled by the policy (a one-way
    field: by its direction, the side it syncs from wins)."""
    name = item.salesforce
    back = item.back(their_value)
    if same(item.out(our_value), their_value) or (back is not SKIP and same(back, our_value)):
        result.base_ck[name] = our_value
        return
    if back is SKIP:
        result.skipped.append((name, their_value))
        result.base_ck[name] = our_value
        return
    winner: str | None
    if same(our_value, None):
        winner = SALESFORCE if item.comes_in else None
    elif same(their_value, None):
        winner = COCKPIT if item.goes_out else None
    else:
        two_way = item.comes_in and item.goes_out
        if two_way:
            winner = {"salesforce": SALESFORCE, "cockpit": COCKPIT}.get(policy, latest)
        else:
            winner = COCKPIT if item.goes_out else SALESFORCE
        result.conflicts.append(
            Conflict(name, our_value, their_value, winner, by_direction=not two_way)
        )
    if winner == SALESFORCE:
        _take_theirs(result, item, their_value, our_value)
    elif winner == COCKPIT:
        _send_ours(result, item, our_value, None)
    else:
        # One-way, and the side that would take the value is the one the field never writes
        # to: both keep theirs (a later edit on the field's own side syncs as usual).
        result.base_ck[name] = our_value


def _send_ours(
    result: Merge, item: SyncField, our_value: Any, base_ck: dict[str, Any] | None
) -> None:
    result.to_salesforce[item.salesforce] = item.out(our_value)
    # Until the write is confirmed, Cockpit's side stays changed: the old base (or none, when it
    # was unknown) keeps the field going out at the next cycle if this one fails.
    if base_ck is not None:
        result.base_ck[item.salesforce] = base_ck[item.salesforce]


def _take_theirs(result: Merge, item: SyncField, their_value: Any, our_value: Any) -> None:
    value = item.back(their_value)
    if value is SKIP:
        # The Cockpit field keeps its value; Salesforce keeps its own until a CSM changes it.
        result.skipped.append((item.salesforce, their_value))
        result.base_ck[item.salesforce] = our_value
        return
    result.to_cockpit[item.salesforce] = value
    result.base_ck[item.salesforce] = value
