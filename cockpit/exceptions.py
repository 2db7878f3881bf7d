"""One place where the API turns errors into answers: nothing a client sends is a 500.

Services raise Django's ValidationError (the admin and the pages show it on the form); the API
answers it as a 400 with a message per field, like a serializer error. A unique field that a
concurrent request took between validation and INSERT surfaces as an IntegrityError: it is
the client's 400 too, naming the field. A body over DATA_UPLOAD_MAX_MEMORY_SIZE (or with
too many fields) is the client's 400 in JSON, not Django's HTML page. An action the sync cannot
do now (sync.exceptions.SyncOffError: a switch is off, the task is desynced, a pull is running)
is a 409 Conflict with the reason as its detail; views write no 409 of their own. Every other
error stays a 500: it is a bug.

Errors raised outside a DRF view (an unknown path, a middleware's refusal) go through
Django's handlers; under /api/ those answer JSON too (`api_error_handler`, cockpit/urls.py).
"""

import re
from typing import Any

from django.apps import apps
from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import IntegrityError
from django.db.models import Field
from rest_framework import status
from rest_framework.exceptions import APIException, ParseError, ValidationError
from rest_framework.response import Response
from rest_framework.serializers import as_serializer_error
from rest_framework.views import exception_handler as drf_exception_handler

from sync.exceptions import SyncOffError

# SQLite: "UNIQUE constraint failed: tasks_company.salesforce_account_id[, table.column]".
_SQLITE_UNIQUE = re.compile(r"UNIQUE constraint failed: (?P<columns>[\w.]+(?:, [\w.]+)*)")
# PostgreSQL's detail: "Key (salesforce_account_id)=(001...) already exists."
_POSTGRES_KEY = re.compile(r"Key \((?P<columns>[^)]*)\)=")


class Conflict(APIException):
    status_code = status.HTTP_409_CONFLICT
    default_detail = "The request conflicts with the current state."
    default_code = "conflict"


def _unique_violation(exc: IntegrityError) -> tuple[str, list[str]] | None:
    """(table, columns) of a unique violation, or None for any other integrity error."""
    cause = exc.__cause__
    diag = getattr(cause, "diag", None)
    if diag is not None:  # psycopg
        if getattr(cause, "sqlstate", None) != "23505":  # unique_violation
            return None
        match = _POSTGRES_KEY.search(diag.message_detail or "")
        columns = [c.strip() for c in match["columns"].split(",")] if match else []
        return diag.table_name or "", columns
    match = _SQLITE_UNIQUE.search(str(exc))
    if match is None:
        return None
    qualified = [c.strip() for c in match["columns"].split(",")]
    table = qualified[0].rpartition(".")[0]
    return table, [c.rpartition(".")[2] for c in qualified]


def _field(table: str, column: str) -> tuple[Any, Field] | None:
    for model in apps.get_models():
        if model._meta.db_table == table:
            for field in model._meta.concrete_fields:
                if field.column == column:
                    return model, field
    return None


def _unique_error(exc: IntegrityError) -> ValidationError | None:
    violation = _unique_violation(exc)
    if violation is None:
        return None
    table, columns = violation
    found = _field(table, columns[0]) if len(columns) == 1 else None
    if found is None:
        return ValidationError({"non_field_errors": ["Such a record already exists."]})
    model, field = found
    message = (
        f"{str(model._meta.verbose_name).capitalize()} with this "
        f"{field.verbose_name} already exists."
    )
    return ValidationError({field.name: [message]})


def exception_handler(exc: Exception, context: dict[str, Any]) -> Response | None:
    if isinstance(exc, DjangoValidationError):
        exc = ValidationError(detail=as_serializer_error(exc))
    elif isinstance(exc, IntegrityError):
        exc = _unique_error(exc) or exc
    elif isinstance(exc, RequestDataTooBig | TooManyFieldsSent):
        exc = ParseError("Request body too large.")
    elif isinstance(exc, SyncOffError):
        exc = Conflict(str(exc))
    return drf_exception_handler(exc, context)
