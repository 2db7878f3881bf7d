"""The fields the engine reads of a Salesforce Task: the mapped ones, the stamps that order
one version after another, and the external id. The pull and reconcile read the same list, so
a record either brings in comes out of the merge the same way."""

from .engine_config import Engine

STAMP_FIELDS = ("SystemModstamp", "LastModifiedDate", "LastModifiedById")
BASE_FIELDS = ("Id", "IsDeleted", "OwnerId", "WhatId", "Status", "Priority", *STAMP_FIELDS)


def select_fields(engine: Engine) -> list[str]:
    names = list(BASE_FIELDS)
    for name in engine.field_names:
        if name not in names:
            names.append(name)
    described = {f["name"] for f in (engine.connection.task_describe or {}).get("fields", [])}
    if engine.connection.external_id_field in described:
        names.append(engine.connection.external_id_field)
    return names
