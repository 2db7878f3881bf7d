"""Several small reads in one round trip to the database (issue 19).

A page asks for the sync switches, the primary connection, the pull's and the listener's state
and the newest re-sync (tables of one row each), and sync health adds a dozen counts and dates.
Each was a query of its own. Here each read is the ORM's own query, limited to its first row,
and they are joined side by side into one statement:

    SELECT * FROM (SELECT 1) AS anchor LEFT JOIN (<read 1>) AS r0 ON 1 = 1 LEFT JOIN ...

so a read without a row gives NULLs and the others still come back. Reads of one value each
(counts, a newest date) are scalar subqueries instead, `SELECT (<read 1>), (<read 2>), ...`:
SQLite's planner materialises every joined subquery first (sync health's figures took 36 ms
joined, 15 ms as scalars), and it joins at most 64 tables. Every value is converted as the ORM
would have converted it (the backend's and the field's converters), and the reads see one
snapshot of the database.
"""

import json
from collections.abc import Callable, Sequence
from typing import Any

from django.db import connection
from django.db.models import F, Func, IntegerField, Model, QuerySet, Window
from django.db.models.functions import RowNumber


def count_of(qs: QuerySet[Any]) -> QuerySet[Any]:
    """The queryset's COUNT(*), as a one-value read for values_at_once(). COUNT(*), not
    COUNT(id): SQLite counts a whole table from its b-tree's size only for COUNT(*) (the
    100,000 tasks: 0.1 ms rather than 3)."""
    count = Func(template="COUNT(*)", output_field=IntegerField())
    return qs.order_by().annotate(n=count).values("n")


Statement = tuple[str, list[Any], list[list[Any]]]  # SQL, parameters, each read's columns
_statements: dict[tuple[str, str], Statement] = {}


def _statement(reads: Sequence[QuerySet[Any]], *, scalar: bool = False) -> Statement:
    if scalar:
        return _scalar_statement(reads)
    joins: list[str] = []
    params: list[Any] = []
    selected = []
    for n, qs in enumerate(reads):
        compiler = qs[:1].query.get_compiler(connection=connection)
        sql, sub_params = compiler.as_sql()
        # A found-row marker first: a row of NULLs is told apart from no row. The SQL is
        # Django's own, its parameters passed apart.
        join = f"LEFT JOIN (SELECT 1 AS found, r.* FROM ({sql}) AS r) AS r{n} ON 1 = 1"  # noqa: S608
        joins.append(join)
        params.extend(sub_params)
        selected.append([column for column, _, _ in compiler.select])
    sql = "SELECT * FROM (SELECT 1 AS anchor) AS a " + " ".join(joins)  # noqa: S608
    return sql, params, selected


def _scalar_statement(reads: Sequence[QuerySet[Any]]) -> Statement:
    parts: list[str] = []
    params: list[Any] = []
    selected = []
    for qs in reads:
        compiler = qs[:1].query.get_compiler(connection=connection)
        sql, sub_params = compiler.as_sql()
        if len(compiler.select) != 1:
            raise ValueError(f"A read of one value selects one column: {sql}")
        # The found-row marker of the joins is 1 here: a scalar read without a row is NULL.
        parts.append(f"1, ({sql})")
        params.extend(sub_params)
        selected.append([compiler.select[0][0]])
    return "SELECT 1, " + ", ".join(parts), params, selected  # noqa: S608


def _first_of_each(
    reads: Callable[[], Sequence[QuerySet[Any]]], statement: str | None, *, scalar: bool = False
) -> list[list[Any] | None]:
    """Each queryset's first row as a list of its selected values (None without a row)."""
    if statement is None:
        sql, params, selected = _statement(reads(), scalar=scalar)
    else:
        # Reads that never change are built and compiled once a process: that costs more
        # than running them (the progress poll: issue 19).
        key = (connection.vendor, statement)
        if key not in _statements:
            _statements[key] = _statement(reads(), scalar=scalar)
        sql, params, selected = _statements[key]
    if not selected:
        return []
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        row = list(cursor.fetchone())
    found: list[list[Any] | None] = []
    at = 1  # after the anchor
    for columns in selected:
        values, marker = row[at + 1 : at + 1 + len(columns)], row[at]
        at += 1 + len(columns)
        if marker is None:
            found.append(None)
            continue
        for i, expression in enumerate(columns):
            converters = connection.ops.get_db_converters(expression)
            for convert in converters + expression.get_db_converters(connection):
                values[i] = convert(values[i], expression, connection)
        found.append(values)
    return found


def values_at_once(
    reads: dict[str, QuerySet[Any]], *, statement: str | None = None
) -> dict[str, Any]:
    """Each one-column queryset's first value (None without a row), by name, in one query
    (count_of() makes counts). `statement` names reads whose SQL never changes: it is
    built once a process."""
    rows = _first_of_each(lambda: list(reads.values()), statement, scalar=True)
    return {name: row[0] if row else None for name, row in zip(reads, rows, strict=True)}


def first_rows(reads: dict[str, QuerySet[Any]], *, statement: str | None = None) -> dict[str, Any]:
    """Each queryset's first row (as `.first()` would order it) by name, or None, in one
    query (`statement`: as for values_at_once)."""

    def ordered() -> list[QuerySet[Any]]:
        every = []
        for qs in reads.values():
            names = [f.attname for f in qs.model._meta.concrete_fields]
            every.append((qs if qs.ordered else qs.order_by("pk")).values_list(*names))
        return every

    found: dict[str, Any] = {}
    rows = _first_of_each(ordered, statement)
    for (name, qs), values in zip(reads.items(), rows, strict=True):
        model: type[Model] = qs.model
        names = [f.attname for f in model._meta.concrete_fields]
        found[name] = None if values is None else model.from_db(connection.alias, names, values)
    return found


def _rows_statement(reads: Sequence[QuerySet[Any]]) -> Statement:
    """One scalar subquery a read, each the read's rows as a JSON array of arrays: its
    concrete fields' columns, then the row's place in the read's own order (a JSON aggregate
    keeps no order a caller may count on)."""
    postgresql = connection.vendor == "postgresql"
    parts: list[str] = []
    params: list[Any] = []
    selected = []
    for qs in reads:
        fields = list(qs.model._meta.concrete_fields)
        order = list(qs.query.order_by or qs.model._meta.ordering or ["pk"])
        at = Window(RowNumber(), order_by=[_ordered(o) for o in order])
        inner = qs.annotate(at_once_place=at).values_list(
            *[f.attname for f in fields], "at_once_place"
        )
        sql, sub_params = inner.order_by().query.get_compiler(connection=connection).as_sql()
        columns = []
        for field in fields:
            column = f'r."{field.column}"'
            # jsonb would come back as a JSON value; the field reads its stored text.
            if postgresql and field.get_internal_type() == "JSONField":
                column += "::text"
            columns.append(column)
        columns.append('r."at_once_place"')
        if postgresql:
            rows = f"COALESCE(json_agg(json_build_array({', '.join(columns)})), '[]')::text"
        else:
            rows = f"json_group_array(json_array({', '.join(columns)}))"
        parts.append(f"(SELECT {rows} FROM ({sql}) AS r)")  # noqa: S608
        params.extend(sub_params)
        selected.append([field.get_col(qs.model._meta.db_table) for field in fields])
    return "SELECT " + ", ".join(parts), params, selected  # noqa: S608


def _ordered(name: str) -> Any:
    return F(name[1:]).desc() if name.startswith("-") else F(name).asc()


def rows_at_once(reads: dict[str, QuerySet[Any]], *, statement: str) -> dict[str, list[Any]]:
    """Every row of each queryset (small tables: the mapping, custom fields), by name, in one
    query, as model instances in the queryset's order. The rows travel as JSON; each value is
    converted as the ORM would have (the backend's converters, the field's, then the field's
    to_python for what JSON carries as text: PostgreSQL's dates and times). `statement` names
    reads whose SQL never changes: it is built once a process."""
    key = (connection.vendor, statement)
    if key not in _statements:
        _statements[key] = _rows_statement(list(reads.values()))
    sql, params, selected = _statements[key]
    with connection.cursor() as cursor:
        cursor.execute(sql, params)
        texts = cursor.fetchone()
    found: dict[str, list[Any]] = {}
    for (name, qs), text, columns in zip(reads.items(), texts, selected, strict=True):
        model: type[Model] = qs.model
        fields = list(model._meta.concrete_fields)
        names = [f.attname for f in fields]
        rows = sorted(json.loads(text) if isinstance(text, str) else text, key=lambda r: r[-1])
        made = []
        for row in rows:
            values = []
            for field, column, value in zip(fields, columns, row, strict=False):
                for convert in connection.ops.get_db_converters(column) + field.get_db_converters(
                    connection
                ):
                    value = convert(value, column, connection)
                if value is not None and field.get_internal_type() != "JSONField":
                    value = field.to_python(value)
                values.append(value)
            made.append(model.from_db(connection.alias, names, values))
        found[name] = made
    return found
