"""Validation of a task's custom field values against the admin-defined CustomField rows."""

import datetime as dt
from typing import Any

from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.dateparse import parse_date, parse_datetime

from .models import CustomField

Type = CustomField.FieldType
NUMBER_LIMIT = 10**18


def _clean_value(field: CustomField, value: Any) -> Any:
    """Return the JSON-storable value, or raise ValidationError with a message for the CSM."""
    if field.field_type == Type.NUMBER:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Enter a number.")
        # Salesforce's widest number field holds 18 digits; JSON's 10**400 would be stored
        # here and then fail every push of the task.
        if not -NUMBER_LIMIT < value < NUMBER_LIMIT:
            raise ValidationError("Enter a number of at most 18 digits.")
        return value
    if field.field_type == Type.BOOLEAN:
        if not isinstance(value, bool):
            raise ValidationError("Enter true or false.")
        return value
    if not isinstance(value, str):
        raise ValidationError("Enter text.")
    if "\x00" in value:
        # PostgreSQL's jsonb cannot hold it: refused here, for every interface.
        raise ValidationError("Null characters are not allowed.")
    if field.field_type == Type.DATE:
        try:
            parsed = parse_date(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError("Enter a date as YYYY-MM-DD.")
        return parsed.isoformat()
    if field.field_type == Type.DATETIME:
        try:
            parsed_dt = parse_datetime(value)
        except ValueError:
            parsed_dt = None
        if parsed_dt is None or parsed_dt.tzinfo is None:
            raise ValidationError("Enter a date and time with a UTC offset, in ISO 8601.")
        return parsed_dt.astimezone(dt.UTC).isoformat()
    if len(value) > field.max_length:
        raise ValidationError(f"Ensure this value has at most {field.max_length} characters.")
    if field.field_type == Type.EMAIL:
        EmailValidator(message="Enter a valid email address.")(value)
    elif field.field_type == Type.URL:
        URLValidator(message="Enter a valid URL.")(value)
    return value


def custom_field_definitions() -> dict[str, CustomField]:
    """The active custom fields by key: load once for a batch of custom_fields_clean calls."""
    return {f.key: f for f in CustomField.objects.filter(is_active=True)}


def custom_fields_clean(
    values: Any,
    *,
    existing: dict[str, Any] | None = None,
    definitions: dict[str, CustomField] | None = None,
) -> dict[str, Any]:
    """Validate custom field values; `existing` are the task's current values (a partial update).

    Raises ValidationError whose message dict is keyed by custom field key.
    """
    if values is None:
        values = {}
    if not isinstance(values, dict):
        raise ValidationError({"custom_fields": "Enter an object of custom field values."})
    fields = custom_field_definitions() if definitions is None else definitions
    merged = {**(existing or {}), **values}
    errors: dict[str, str] = {}
    cleaned: dict[str, Any] = {}
    for key, value in merged.items():
        field = fields.get(key)
        if field is None:
            if key in values:
                errors[key] = "Unknown custom field. Known: " + (
                    ", ".join(sorted(fields)) or "none"
                )
            elif value not in (None, ""):
                # A field an admin deactivated: its stored value is kept, not erased by an edit.
                cleaned[key] = value
            continue
        if value is None or value == "":
            continue
        try:
            cleaned[key] = _clean_value(field, value)
        except ValidationError as exc:
            errors[key] = exc.messages[0]
    for key, field in fields.items():
        if field.required and key not in cleaned and key not in errors:
            errors[key] = "This field is required."
    if errors:
        raise ValidationError(errors)
    return cleaned
