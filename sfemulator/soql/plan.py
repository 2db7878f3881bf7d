"""Narrowing the rows a query reads with the store's indexes.

The WHERE predicate still runs on every candidate, so a plan only has to return a superset of
the matching rows. It looks at the top level of the condition (alone or inside an AND):
`Id = / IN`, a unique field (the external id) `= / IN`, `SystemModstamp` bounds, `OwnerId =
/ IN` and `Subject LIKE 'prefix%'`, which is what a sync's queries use.
"""

from __future__ import annotations

from dataclasses import dataclass

from sfemulator.ids import normalize_id
from sfemulator.schema import SObjectType
from sfemulator.sftime import format_datetime, parse_datetime
from sfemulator.soql.ast import And, Comparison, Condition, InList, Literal
from sfemulator.store import Narrowing, prefix_indexed, value_indexed


@dataclass
class Plan:
    ids: set[str] | None = None
    unique_field: str | None = None
    unique_values: set[str] | None = None
    modstamp_from: str | None = None  # inclusive
    modstamp_to: str | None = None  # inclusive
    value_field: str | None = None
    value_in: tuple[str, ...] = ()
    prefix_field: str | None = None
    prefix: str | None = None  # lower-cased, ASCII

    def narrowing(self) -> Narrowing:
        low = high = ""
        if self.prefix:
            # Every string that starts with the prefix sorts in [prefix, prefix + 1).
            low, high = self.prefix, self.prefix[:-1] + chr(ord(self.prefix[-1]) + 1)
        return Narrowing(
            modstamp_from=self.modstamp_from,
            modstamp_to=self.modstamp_to,
            value_field=self.value_field,
            value_in=self.value_in,
            prefix_field=self.prefix_field if self.prefix else None,
            prefix_low=low,
            prefix_high=high,
        )


def _strings(literals: list[Literal]) -> list[str] | None:
    if any(literal.kind != "string" for literal in literals):
        return None  # the binder reports the type error
    return [str(literal.value) for literal in literals]


def like_prefix(pattern: str) -> str | None:
    """The literal start of a LIKE pattern, lower-cased, when it is plain ASCII: SQLite's
    lower() folds ASCII only, and a prefix it cannot fold as Salesforce does would drop
    matching rows."""
    prefix = ""
    for char in pattern:
        if char in "%_\\":
            break
        prefix += char
    if not prefix or not all(" " <= char < "\x7f" for char in prefix):
        return None
    return prefix.lower()


def make_plan(where: Condition | None, root: SObjectType) -> Plan:
    plan = Plan()
    if where is None:
        return plan
    conditions = where.items if isinstance(where, And) else (where,)
    for condition in conditions:
        if isinstance(condition, Comparison):
            ref, op, literals = condition.field, condition.op, [condition.value]
        elif isinstance(condition, InList) and not condition.negated:
            ref, op, literals = condition.field, "IN", list(condition.values)
        else:
            continue
        path = (
            ref.path[1:]
            if len(ref.path) > 1 and ref.path[0].lower() == root.name.lower()
            else ref.path
        )
        item = root.field(path[0]) if len(path) == 1 else None
        if item is None:
            continue
        if item.name == "Id" and op in ("=", "IN") and plan.ids is None:
            values = _strings(literals)
            ids = {normalize_id(v) for v in values} if values is not None else {None}
            if None not in ids:
                plan.ids = {i for i in ids if i}
        elif item.unique and op in ("=", "IN") and plan.unique_field is None:
            values = _strings(literals)
            if values is not None:
                plan.unique_field = item.name
                plan.unique_values = {v.lower() for v in values}
        elif op in ("=", "IN") and plan.value_field is None and value_indexed(root.name, item.name):
            values = _strings(literals)
            ids = [normalize_id(v) for v in values] if values is not None else [None]
            if all(ids):
                plan.value_field = item.name
                plan.value_in = tuple(sorted({i for i in ids if i}))
        elif (
            op == "LIKE"
            and plan.prefix_field is None
            and prefix_indexed(root.name, item.name)
            and literals[0].kind == "string"
        ):
            prefix = like_prefix(str(literals[0].value))
            if prefix:
                plan.prefix_field, plan.prefix = item.name, prefix
        elif item.name == "SystemModstamp" and literals[0].kind == "datetime":
            moment = parse_datetime(str(literals[0].value))
            if moment is None:
                continue
            stamp = format_datetime(moment)
            if op in (">", ">=", "="):
                plan.modstamp_from = max(plan.modstamp_from or stamp, stamp)
            if op in ("<", "<=", "="):
                plan.modstamp_to = min(plan.modstamp_to or stamp, stamp)
    return plan
