"""Checks a parsed query against the schema and runs it over the stored records."""

from __future__ import annotations

import functools
import re
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sfemulator.errors import SalesforceError
from sfemulator.ids import normalize_id
from sfemulator.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, Field, SObjectType, sobject_type
from sfemulator.sftime import Clock, parse_date, parse_datetime, start_of_day
from sfemulator.soql.ast import And, Comparison, Condition, FieldRef, InList, Literal, Not, Or
from sfemulator.soql.dates import date_range
from sfemulator.soql.errors import located
from sfemulator.soql.parser import parse
from sfemulator.soql.plan import make_plan
from sfemulator.store import Record, Store

MAX_OFFSET = 2000
Predicate = Callable[[Record], bool]

_NO_SUCH_COLUMN_HINT = (
    "If you are attempting to use a custom field, be sure to append the '__c' after the custom "
    "field name. Please reference your WSDL or the describe call for the appropriate names."
)
_NO_SUCH_RELATIONSHIP_HINT = (
    "If you are attempting to use a custom relationship, be sure to append the '__r' after the "
    "custom relationship name. Please reference your WSDL or the describe call for the "
    "appropriate names."
)


@dataclass(frozen=True)
class BoundField:
    relationships: tuple[Field, ...]  # reference fields walked, Owner.Email -> (OwnerId,)
    types: tuple[SObjectType, ...]  # the object at each level, root first
    field: Field

    @property
    def key(self) -> str:
        return ".".join([r.relationship_name or "" for r in self.relationships] + [self.field.name])


@dataclass
class QueryResult:
    total_size: int
    records: list[dict[str, Any]]
    # COUNT() queries answer a size and no rows; they are never paged.
    is_count: bool = False


class QueryEngine:
    def __init__(self, store: Store, clock: Clock) -> None:
        self.store = store
        self.clock = clock

    def run(self, text: str, include_deleted: bool, version: str) -> QueryResult:
        return _Run(self, text, include_deleted, version).execute()


class _Run:
    """One query execution: binds, filters, sorts and projects, caching parent records."""

    def __init__(self, engine: QueryEngine, text: str, include_deleted: bool, version: str):
        self.store = engine.store
        self.clock = engine.clock
        self.text = text
        self.include_deleted = include_deleted
        self.version = version
        self._parents: dict[str, Record | None] = {}

    # Binding --------------------------------------------------------------------------------

    def execute(self) -> QueryResult:
        query = parse(self.text)
        root = sobject_type(query.sobject)
        if root is None:
            raise located(
                "INVALID_TYPE",
                self.text,
                query.sobject_pos,
                f"sObject type '{query.sobject}' is not supported. If you are attempting to use "
                "a custom object, be sure to append the '__c' after the entity name. Please "
                "reference your WSDL or the describe call for the appropriate names.",
            )
        self.root = root
        selected = [self.bind(ref) for ref in query.fields]
        seen: set[str] = set()
        for ref, bound in zip(query.fields, selected, strict=True):
            if bound.key.lower() in seen:
                raise located(
                    "MALFORMED_QUERY", self.text, ref.pos, f"duplicate field selected: {bound.key}"
                )
            seen.add(bound.key.lower())
        counted = self.bind(query.count_field) if query.count_field else None
        predicate = self.compile(query.where) if query.where else None
        order = []
        for item in query.order_by:
            bound = self.bind(item.field)
            if not bound.field.filterable:
                raise located(
                    "INVALID_FIELD",
                    self.text,
                    item.field.pos,
                    f"field '{bound.field.name}' can not be sorted in a query call",
                )
            order.append((item, bound))
        if query.offset is not None and query.offset > MAX_OFFSET:
            raise SalesforceError(
                400, "NUMBER_OUTSIDE_VALID_RANGE", f"Maximum SOQL offset allowed is {MAX_OFFSET}"
            )

        if query.count and counted is None and query.where is None and not query.offset:
            # COUNT() of a whole object: no row needs reading.
            total = self.store.count(self.root.name, self.include_deleted)
            if query.limit is not None:
                total = min(total, query.limit)
            return QueryResult(total, [], is_count=True)
        rows = self.candidates(query.where)
        if predicate is not None:
            rows = [row for row in rows if predicate(row)]
        if order:
            rows = self.sort(rows, order)
        if query.offset:
            rows = rows[query.offset :]
        if query.limit is not None:
            rows = rows[: query.limit]

        if query.count and counted is None:
            return QueryResult(len(rows), [], is_count=True)
        if counted is not None:
            total = sum(1 for row in rows if self.raw(row, counted) is not None)
            aggregate = {"attributes": {"type": "AggregateResult"}, "expr0": total}
            return QueryResult(1, [aggregate])
        return QueryResult(len(rows), [self.project(row, selected) for row in rows])

    def bind(self, ref: FieldRef) -> BoundField:
        path = ref.path
        if len(path) > 1 and path[0].lower() == self.root.name.lower():
            path = path[1:]
        current = self.root
        relationships: list[Field] = []
        types = [current]
        for part in path[:-1]:
            relationship = current.relationship(part)
            target = sobject_type(relationship.reference_to[0]) if relationship else None
            if relationship is None or target is None:
                raise located(
                    "INVALID_FIELD",
                    self.text,
                    ref.pos,
                    f"Didn't understand relationship '{part}' in field path. "
                    + _NO_SUCH_RELATIONSHIP_HINT,
                )
            relationships.append(relationship)
            current = target
            types.append(current)
        item = current.field(path[-1])
        if item is None:
            raise located(
                "INVALID_FIELD",
                self.text,
                ref.pos,
                f"No such column '{path[-1]}' on entity '{current.name}'. " + _NO_SUCH_COLUMN_HINT,
            )
        return BoundField(tuple(relationships), tuple(types), item)

    # Values ---------------------------------------------------------------------------------

    def parent(self, record_id: str | None) -> Record | None:
        if record_id is None:
            return None
        if record_id not in self._parents:
            found = self.store.get(record_id)
            self._parents[record_id] = found[1] if found and not found[2] else None
        return self._parents[record_id]

    def raw(self, record: Record, bound: BoundField) -> Any:
        current: Record | None = record
        for relationship in bound.relationships:
            current = self.parent(current.get(relationship.name)) if current else None
        return current.get(bound.field.name) if current else None

    def typed(self, record: Record, bound: BoundField) -> Any:
        return _typed(bound.field, self.raw(record, bound))

    # WHERE --------------------------------------------------------------------------------

    def compile(self, condition: Condition) -> Predicate:
        if isinstance(condition, And):
            parts = [self.compile(item) for item in condition.items]
            return lambda row: all(part(row) for part in parts)
        if isinstance(condition, Or):
            parts = [self.compile(item) for item in condition.items]
            return lambda row: any(part(row) for part in parts)
        if isinstance(condition, Not):
            inner = self.compile(condition.item)
            return lambda row: not inner(row)
        bound = self.bind(condition.field)
        if not bound.field.filterable:
            raise located(
                "INVALID_FIELD",
                self.text,
                condition.field.pos,
                f"field '{bound.field.name}' can not be filtered in a query call",
            )
        if isinstance(condition, InList):
            return self.compile_in(bound, condition)
        if condition.op == "LIKE":
            return self.compile_like(bound, condition)
        return self.compile_comparison(bound, condition)

    def compile_in(self, bound: BoundField, condition: InList) -> Predicate:
        values = {self.literal_value(bound, value) for value in condition.values}
        negated = condition.negated

        def predicate(row: Record) -> bool:
            value = self.typed(row, bound)
            return (value in values) != negated

        return predicate

    def compile_like(self, bound: BoundField, condition: Comparison) -> Predicate:
        if bound.field.type not in TEXT_TYPES and bound.field.type not in ID_TYPES:
            raise located(
                "INVALID_FIELD",
                self.text,
                condition.field.pos,
                f"invalid operator on field '{bound.field.name}': LIKE",
            )
        if condition.value.kind != "string":
            raise self.type_error(bound, condition.value)
        pattern = _like_regex(condition.value.raw)

        def predicate(row: Record) -> bool:
            value = self.raw(row, bound)
            return value is not None and pattern.fullmatch(str(value)) is not None

        return predicate

    def compile_comparison(self, bound: BoundField, condition: Comparison) -> Predicate:
        op = condition.op
        literal = condition.value
        if literal.kind == "date_literal":
            return self.compile_range(bound, condition)
        expected = self.literal_value(bound, literal)
        if expected is None and op not in ("=", "!="):
            raise located(
                "MALFORMED_QUERY", self.text, literal.pos, f"invalid operator for null: {op}"
            )
        if bound.field.type == "boolean" and op not in ("=", "!="):
            raise located(
                "INVALID_FIELD",
                self.text,
                condition.field.pos,
                f"invalid operator on a boolean field '{bound.field.name}': {op}",
            )

        def predicate(row: Record) -> bool:
            value = self.typed(row, bound)
            if op == "=":
                return value == expected
            if op == "!=":
                return value != expected
            if value is None:
                return False
            return _ordered(op, value, expected)

        return predicate

    def compile_range(self, bound: BoundField, condition: Comparison) -> Predicate:
        if bound.field.type not in ("date", "datetime"):
            raise self.type_error(bound, condition.value)
        start_day, end_day = date_range(
            str(condition.value.value), condition.value.days, self.clock.today()
        )
        start: date | datetime = start_day
        end: date | datetime = end_day
        if bound.field.type == "datetime":
            start, end = start_of_day(start_day), start_of_day(end_day)
        op = condition.op

        def predicate(row: Record) -> bool:
            value = self.typed(row, bound)
            if value is None:
                return op == "!="
            inside = start <= value < end
            return {
                "=": inside,
                "!=": not inside,
                "<": value < start,
                "<=": value < end,
                ">": value >= end,
                ">=": value >= start,
            }[op]

        return predicate

    def literal_value(self, bound: BoundField, literal: Literal) -> Any:
        """The literal as a value comparable with `_typed` values of the field, after the same
        type checks Salesforce makes."""
        item = bound.field
        if literal.kind == "null":
            return None
        if item.type in ID_TYPES:
            if literal.kind != "string":
                raise self.type_error(bound, literal)
            normalized = normalize_id(literal.value)
            if normalized is None:
                raise located(
                    "INVALID_QUERY_FILTER_OPERATOR",
                    self.text,
                    literal.pos,
                    f"invalid ID field: {literal.value}",
                )
            return normalized
        if item.type in TEXT_TYPES:
            if literal.kind != "string":
                raise self.type_error(bound, literal)
            return str(literal.value).lower()
        if item.type == "boolean":
            if literal.kind != "boolean":
                raise self.type_error(bound, literal)
            return literal.value
        if item.type in NUMBER_TYPES:
            if literal.kind != "number":
                raise self.type_error(bound, literal)
            return literal.value
        if item.type == "date":
            if literal.kind != "date":
                raise self.type_error(bound, literal)
            return parse_date(str(literal.value))
        if item.type == "datetime":
            if literal.kind != "datetime":
                raise self.type_error(bound, literal)
            return parse_datetime(str(literal.value))
        raise AssertionError(f"unhandled field type {item.type}")

    def type_error(self, bound: BoundField, literal: Literal) -> SalesforceError:
        item = bound.field
        if item.type in TEXT_TYPES or item.type in ID_TYPES:
            expectation = "must be of type string and should be enclosed in quotes"
        else:
            kind = {"datetime": "dateTime"}.get(item.type, item.type)
            if item.type in NUMBER_TYPES:
                kind = "double"
            expectation = f"must be of type {kind} and should not be enclosed in quotes"
        return located(
            "INVALID_FIELD",
            self.text,
            literal.pos,
            f"value of filter criterion for field '{item.name}' {expectation}",
        )

    # Rows, ordering, projection ----------------------------------------------------------------

    def candidates(self, where: Condition | None) -> list[Record]:
        """The rows the WHERE clause can match, in creation order (see plan.py)."""
        plan = make_plan(where, self.root)
        name = self.root.name
        if plan.ids is not None:
            found = self.store.get_many(sorted(plan.ids))
            rows = [
                record
                for sobject, record, deleted in found.values()
                if sobject == name and (self.include_deleted or not deleted)
            ]
            return sorted(rows, key=lambda record: record["Id"])
        if plan.unique_field is not None and plan.unique_values is not None:
            return self.store.find_by_unique(
                name, plan.unique_field, sorted(plan.unique_values), self.include_deleted
            )
        return self.store.scan(name, self.include_deleted, plan.narrowing())

    def sort(self, rows: list[Record], order: list) -> list[Record]:
        keyed = [([self.typed(row, bound) for _, bound in order], row) for row in rows]

        def compare(left: tuple, right: tuple) -> int:
            for (item, _), a, b in zip(order, left[0], right[0], strict=True):
                if a is None and b is None:
                    continue
                if a is None:
                    return 1 if item.nulls_last else -1
                if b is None:
                    return -1 if item.nulls_last else 1
                if a == b:
                    continue
                result = -1 if a < b else 1
                return -result if item.descending else result
            return 0

        keyed.sort(key=functools.cmp_to_key(compare))
        return [row for _, row in keyed]

    def attributes(self, sobject: SObjectType, record_id: str) -> dict[str, str]:
        return {
            "type": sobject.name,
            "url": f"/services/data/v{self.version}/sobjects/{sobject.name}/{record_id}",
        }

    def project(self, record: Record, selected: list[BoundField]) -> dict[str, Any]:
        out: dict[str, Any] = {"attributes": self.attributes(self.root, record["Id"])}
        for bound in selected:
            node = out
            current: Record | None = record
            for level, relationship in enumerate(bound.relationships):
                name = relationship.relationship_name or relationship.name
                current = self.parent(current.get(relationship.name)) if current else None
                if current is None:
                    node.setdefault(name, None)
                    break
                if node.get(name) is None:
                    node[name] = {
                        "attributes": self.attributes(bound.types[level + 1], current["Id"])
                    }
                node = node[name]
            else:
                node[bound.field.name] = current.get(bound.field.name) if current else None
        return out


def _typed(item: Field, value: Any) -> Any:
    if value is None:
        return None
    if item.type in TEXT_TYPES:
        return str(value).lower()
    if item.type == "date":
        return parse_date(value)
    if item.type == "datetime":
        return parse_datetime(value)
    if item.type in NUMBER_TYPES:
        return float(value)
    return value


def _ordered(op: str, value: Any, expected: Any) -> bool:
    if op == "<":
        return value < expected
    if op == "<=":
        return value <= expected
    if op == ">":
        return value > expected
    return value >= expected


def _like_regex(raw: str) -> re.Pattern[str]:
    parts: list[str] = []
    index = 0
    while index < len(raw):
        char = raw[index]
        if char == "\\" and index + 1 < len(raw):
            escaped = raw[index + 1]
            decoded = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f"}.get(escaped, escaped)
            parts.append(re.escape(decoded))
            index += 2
            continue
        parts.append(".*" if char == "%" else "." if char == "_" else re.escape(char))
        index += 1
    return re.compile("".join(parts), re.IGNORECASE | re.DOTALL)
