"""Validation of a task's custom field values against the admin-defined CustomField rows."""

from typing import Any

from django.core.exceptions import NON_FIELD_ERRORS, ValidationError

from .models import CustomField


def custom_field_definitions() -> dict[str, CustomField]:
    """The active custom fields by key: load once for a batch of custom_fields_clean calls."""
    return {f.key: f for f in CustomField.objects.filter(is_active=True)}


def custom_fields_clean(
    values: Any,
    *,
    existing: dict[str, Any] | None = None,
    definitions: dict[str, CustomField] | None = None,
    required_if_given: bool = False,
) -> dict[str, Any]:
    """Validate custom field values; `existing` are the task's current values (a partial update).

    `required_if_given`: Salesforce's values. "Required" is asked of the people who type in
    Cockpit; Salesforce cannot fill a field it does not have, so a required field is refused
    empty only where the values given empty it (a mapped field cleared in Salesforce), never
    for lack of a value nobody sent (a task synced before the field was made required, or made
    in Salesforce).

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
        if not field.required or key in cleaned or key in errors:
            continue
        if not required_if_given or key in values:
            errors[key] = "This field is required."
    if errors:
        raise ValidationError(errors)
    return cleaned


def refusal_text(exc: ValidationError, definitions: dict[str, CustomField] | None = None) -> str:
    """A validation error in words that name each field (its custom field's label, or the
    task field's name): "Seats: This field is required." rather than the bare message."""
    if not hasattr(exc, "error_dict"):
        return "; ".join(exc.messages)
    if definitions is None:
        definitions = custom_field_definitions()
    parts: list[str] = []
    for key, messages in exc.message_dict.items():
        field = definitions.get(key)
        name = field.label if field is not None else key.replace("_", " ").capitalize()
        parts.extend(
            message if key == NON_FIELD_ERRORS else f"{name}: {message}" for message in messages
        )
    return "; ".join(parts)
