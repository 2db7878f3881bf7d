"""Several small reads in one round trip to the database (issue 19).

A page asks for the sync switches, the primary connection, the pull's and the listener's state
and the newest re-sync (tables of one row each), and sync health adds a dozen counts and dates.
Each was a query of its own. Here they are one `SELECT (…), (…), …` of scalar subqueries, each
the ORM's own query for one value, and every value comes back as the ORM would have given it
(the backend's and the field's converters run on it). The subqueries run in one statement, so
they see one snapshot of the database.
"""

from typing import Any

from django.db import connection
from django.db.models import F, Func, IntegerField, Model, QuerySet


def count_of(qs: QuerySet[Any]) -> QuerySet[Any]:
    """The queryset's COUNT(*), as a one-value read for values_at_once()."""
    count = Func(F("pk"), function="COUNT", output_field=IntegerField())
    return qs.order_by().annotate(n=count).values("n")


def values_at_once(**reads: QuerySet[Any]) -> dict[str, Any]:
    """Each one-column queryset's first value (None without a row), by name, in one query
    (count_of() makes counts)."""
    parts: list[str] = []
    params: list[Any] = []
    columns = []
    for qs in reads.values():
        compiler = qs[:1].query.get_compiler(connection=connection)
        sql, sub_params = compiler.as_sql()
        parts.append(f"({sql})")
        params.extend(sub_params)
        columns.append(compiler.select[0][0])
    if not parts:
        return {}
    with connection.cursor() as cursor:
        cursor.execute("SELECT " + ", ".join(parts), params)
        row = cursor.fetchone()
    found = {}
    for name, expression, value in zip(reads, columns, row, strict=True):
        converters = connection.ops.get_db_converters(expression)
        for convert in converters + expression.get_db_converters(connection):
            value = convert(value, expression, connection)
        found[name] = value
    return found


def first_rows(**reads: QuerySet[Any]) -> dict[str, Any]:
    """Each queryset's first row (as `.first()` would order it) by name, or None, in one query:
    a subquery per column."""
    columns: dict[str, QuerySet[Any]] = {}
    for name, qs in reads.items():
        if not qs.ordered:
            qs = qs.order_by("pk")
        for field in qs.model._meta.concrete_fields:
            columns[f"{name}\0{field.attname}"] = qs.values(field.attname)
    values = values_at_once(**columns)
    rows: dict[str, Any] = {}
    for name, qs in reads.items():
        model: type[Model] = qs.model
        names = [f.attname for f in model._meta.concrete_fields]
        row = [values[f"{name}\0{attname}"] for attname in names]
        pk = values[f"{name}\0{model._meta.pk.attname}"]
        rows[name] = None if pk is None else model.from_db(connection.alias, names, row)
    return rows
