"""Writing many rows at once, each with its own values.

Django's bulk_update writes one UPDATE with a CASE WHEN per column over every row of the
batch: its cost grows with the square of the batch, and a pull of 2,000 changes or a push of
400 spent most of its CPU there. `rows_update` sends one parameterised UPDATE by primary key
and lets the driver run it for every row (executemany): linear, one round trip on SQLite, a
pipeline on PostgreSQL, and one query in Django's counts. `rows_set` does the same by any
unique column with the values given (no model instances to build or read first), and writes
the columns every row shares once; `rows_insert` is its INSERT, for rows whose ids nobody
needs back (bulk_create prepares each value of each row through the ORM's compiler, most of
the cost of a push's sync log).
"""

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import connections, router
from django.db.models import Field, ForeignObjectRel, Model


def _column(field: "Field[Any, Any] | ForeignObjectRel") -> "Field[Any, Any]":
    """A column of the table: a reverse relation (which has none) is a caller's mistake."""
    if not isinstance(field, Field):
        raise TypeError(f"{field.name} is not a column of the table")
    return field


def rows_update(objs: Sequence[Model], fields: Sequence[str]) -> int:
    """Write these fields of these objects (as they are in memory); returns the row count."""
    if not objs or not fields:
        return 0
    model = type(objs[0])
    assert model._meta.pk is not None
    attnames = [_column(model._meta.get_field(name)).attname for name in fields]
    return rows_set(
        model,
        key=model._meta.pk.name,
        fields=fields,
        rows=[(obj.pk, *(getattr(obj, a) for a in attnames)) for obj in objs],
    )


def rows_set(
    model: type[Model],
    *,
    key: str,
    fields: Sequence[str],
    rows: Sequence[Sequence[Any]],
    same: Mapping[str, Any] | None = None,
) -> int:
    """UPDATE each row found by `key` (a unique column): `rows` are (key's value, then one
    value per field), and `same` holds the columns given one value for every row (prepared
    once). Returns how many rows were given (not how many matched)."""
    same = same or {}
    if not rows or not (fields or same):
        return 0
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [_column(meta.get_field(name)) for name in fields]
    shared = [(_column(meta.get_field(name)), value) for name, value in same.items()]
    key_column = _column(meta.get_field(key))
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608 - names from the model's meta
        quote(meta.db_table),
        ", ".join(
            f"{quote(str(column.column))} = %s"
            for column in [*columns, *(column for column, _ in shared)]
        ),
        quote(str(key_column.column)),
    )
    tail = [column.get_db_prep_save(value, connection) for column, value in shared]
    params = [
        [
            column.get_db_prep_save(value, connection)
            for column, value in zip(columns, row[1:], strict=True)
        ]
        + tail
        + [key_column.get_db_prep_save(row[0], connection)]
        for row in rows
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)


def rows_insert(
    model: type[Model],
    *,
    fields: Sequence[str],
    rows: Iterable[Sequence[Any]],
    same: Mapping[str, Any] | None = None,
) -> int:
    """INSERT one row for each of `rows` (one value per field), with `same`'s columns given
    one value for every row. No model instance is built, no default, auto_now or signal
    applied, and no id comes back: every column without a database default is named here.
    Returns how many rows were written."""
    same = same or {}
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [_column(meta.get_field(name)) for name in fields]
    shared = [(_column(meta.get_field(name)), value) for name, value in same.items()]
    names = [quote(str(column.column)) for column in [*columns, *(column for column, _ in shared)]]
    sql = "INSERT INTO {} ({}) VALUES ({})".format(  # noqa: S608 - names from the model's meta
        quote(meta.db_table), ", ".join(names), ", ".join(["%s"] * len(names))
    )
    tail = [column.get_db_prep_save(value, connection) for column, value in shared]
    params = [
        [
            column.get_db_prep_save(value, connection)
            for column, value in zip(columns, row, strict=True)
        ]
        + tail
        for row in rows
    ]
    if params:
        with connection.cursor() as cursor:
            cursor.executemany(sql, params)
    return len(params)
