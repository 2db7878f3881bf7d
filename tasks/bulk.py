"""Writing many rows at once, each with its own values.

Django's bulk_update writes one UPDATE with a CASE WHEN per column over every row of the
batch: its cost grows with the square of the batch, and a pull of 2,000 changes or a push of
400 spent most of its CPU there. `rows_update` sends one parameterised UPDATE by primary key
and lets the driver run it for every row (executemany): linear, one round trip on SQLite, a
pipeline on PostgreSQL, and one query in Django's counts.
"""

from collections.abc import Sequence
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
    meta = model._meta
    connection = connections[router.db_for_write(model)]
    quote = connection.ops.quote_name
    columns = [_column(meta.get_field(name)) for name in fields]
    assert meta.pk is not None
    sql = "UPDATE {} SET {} WHERE {} = %s".format(  # noqa: S608 - names from the model's meta
        quote(meta.db_table),
        ", ".join(f"{quote(str(column.column))} = %s" for column in columns),
        quote(str(meta.pk.column)),
    )
    params = [
        [column.get_db_prep_save(getattr(obj, column.attname), connection) for column in columns]
        + [obj.pk]
        for obj in objs
    ]
    with connection.cursor() as cursor:
        cursor.executemany(sql, params)
    return len(params)
