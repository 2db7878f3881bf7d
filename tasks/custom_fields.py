"""Validation of a task's custom field values against the admin-defined CustomField rows."""

from typing import Any

from django.core.exceptions import ValidationError

from .models import CustomField


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
            cleaned[key] = field.kind.clean(value, max_length=field.max_length)
        except ValidationError as exc:
            errors[key] = exc.messages[0]
    for key, field in fields.items():
        if field.required and key not in cleaned and key not in errors:
            errors[key] = "This field is required."
    if errors:
        raise ValidationError(errors)
    return cleaned
