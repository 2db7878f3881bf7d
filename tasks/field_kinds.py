"""The kinds of value a task field holds (text, number, date, ...): each one defined once.

A kind is what an admin picks for a custom field (`CustomField.field_type` stores its name) and
what a mapping rule knows of a standard field (adminconfig/fields.py). Everything that depends
on the kind asks its object here instead of switching on the name: the label the admin sees, the
check of a value a task stores (`clean`), the field a page shows (`form_field`, `form_initial`,
`from_form`) and the value the task page shows (`page_html`), the Salesforce field types it may
map to and its value on the wire there (`to_salesforce`, `from_salesforce`). Adding a kind is one
class and one line in `FIELD_KINDS`.

Values a task stores are JSON: dates and datetimes as ISO text. A standard field's value is the
model's own (a `date` for `due_date`, "" for empty text), hence the `custom` flag inbound.
"""

import datetime as dt
from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.core.validators import EmailValidator, URLValidator
from django.utils.dateparse import parse_date, parse_datetime
from django.utils.formats import date_format, localize
from django.utils.html import conditional_escape, format_html
from django.utils.safestring import SafeString

# Salesforce's widest number field holds 18 digits; JSON's 10**400 would be stored and then
# fail every push of the task.
NUMBER_LIMIT = 10**18
SF_DATETIME_FORMAT = "%Y-%m-%dT%H:%M:%S.000+0000"


def sf_datetime_format(value: dt.datetime) -> str:
    if value.tzinfo is None:
        raise ValueError("Salesforce datetimes must be aware (UTC)")
    return value.astimezone(dt.UTC).strftime(SF_DATETIME_FORMAT)


def sf_datetime_parse(value: str) -> dt.datetime:
    """'2026-11-29T08:49:32.000+0000' (or with 'Z' / '+00:00') → aware datetime. Python 3.11's
    fromisoformat reads all three; a value without an offset is taken as UTC."""
    parsed = dt.datetime.fromisoformat(value)
    return parsed if parsed.tzinfo is not None else parsed.replace(tzinfo=dt.UTC)


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        # The browser's date input speaks ISO dates, whatever the locale.
        super().__init__(attrs, format="%Y-%m-%d")


class DateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, attrs: dict[str, Any] | None = None) -> None:
        super().__init__(attrs, format="%Y-%m-%dT%H:%M")


def _text(value: Any) -> str:
    if not isinstance(value, str):
        raise ValidationError("Enter text.")
    if "\x00" in value:
        # PostgreSQL's jsonb cannot hold it: refused here, for every interface.
        raise ValidationError("Null characters are not allowed.")
    return value


class FieldKind:
    """One kind of value; each kind overrides what differs from these defaults."""

    name: str
    label: str
    # Salesforce field types a field of this kind may map to.
    salesforce_types: frozenset[str]
    # The field's max_length applies, and an empty standard field is "" rather than None.
    is_text = False

    def clean(self, value: Any, *, max_length: int) -> Any:
        """The JSON value to store, or ValidationError with a message for the CSM."""
        raise NotImplementedError

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        raise NotImplementedError

    def form_initial(self, value: Any) -> Any:
        """A stored JSON value (not None) as the form field wants it."""
        return value

    def from_form(self, value: Any) -> Any:
        """A cleaned form value (not empty) as the JSON the task services validate."""
        return value

    def page_html(self, value: Any) -> SafeString:
        """A stored value (not empty) as the task page shows it: HTML, the value escaped.
        By default as a template prints it (`{{ value }}`)."""
        return conditional_escape(localize(value))

    def to_salesforce(self, value: Any) -> Any:
        """A Cockpit value (not empty) as Salesforce JSON."""
        return value

    def from_salesforce(self, value: Any, *, custom: bool) -> Any:
        """A Salesforce value (not None): JSON for a custom field, the model's value else."""
        return value


class TextKind(FieldKind):
    name = "text"
    label = "Text"
    salesforce_types = frozenset({"string", "textarea", "combobox", "phone", "email", "url"})
    is_text = True

    def clean(self, value: Any, *, max_length: int) -> Any:
        value = _text(value)
        if len(value) > max_length:
            raise ValidationError(f"Ensure this value has at most {max_length} characters.")
        return value

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        return forms.CharField(max_length=max_length, label=label, required=required)


class EmailKind(TextKind):
    name = "email"
    label = "Email"
    salesforce_types = frozenset({"email", "string"})

    def clean(self, value: Any, *, max_length: int) -> Any:
        value = super().clean(value, max_length=max_length)
        EmailValidator(message="Enter a valid email address.")(value)
        return value

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        return forms.EmailField(max_length=max_length, label=label, required=required)


class UrlKind(TextKind):
    name = "url"
    label = "URL"
    salesforce_types = frozenset({"url", "string"})

    def clean(self, value: Any, *, max_length: int) -> Any:
        value = super().clean(value, max_length=max_length)
        URLValidator(message="Enter a valid URL.")(value)
        return value

    def page_html(self, value: Any) -> SafeString:
        return format_html('<a href="{}" rel="noopener noreferrer">{}</a>', value, value)

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        return forms.URLField(
            max_length=max_length, assume_scheme="https", label=label, required=required
        )


class NumberKind(FieldKind):
    name = "number"
    label = "Number"
    salesforce_types = frozenset({"int", "double", "currency", "percent", "long"})

    def clean(self, value: Any, *, max_length: int) -> Any:
        if isinstance(value, bool) or not isinstance(value, int | float):
            raise ValidationError("Enter a number.")
        if not -NUMBER_LIMIT < value < NUMBER_LIMIT:
            raise ValidationError("Enter a number of at most 18 digits.")
        return value

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        return forms.DecimalField(label=label, required=required)

    def from_form(self, value: Any) -> Any:
        if isinstance(value, Decimal):
            return int(value) if value == value.to_integral_value() else float(value)
        return value

    def from_salesforce(self, value: Any, *, custom: bool) -> Any:
        # Salesforce answers 40.0 for a number field's 40: the custom field stored 40.
        if custom and isinstance(value, float) and value.is_integer():
            return int(value)
        return value


# Salesforce's date and datetime fields hold 1700-01-01 to 4000-12-31: a value outside them
# (the due date, or a custom date or date-time) could never reach the task's twin (its push
# would fail for good).
SALESFORCE_EARLIEST_DATE = dt.date(1700, 1, 1)
SALESFORCE_LATEST_DATE = dt.date(4000, 12, 31)
DATE_RANGE_MESSAGE = "Enter a date from 1700-01-01 to 4000-12-31: Salesforce holds no other dates."


def salesforce_date_validator(value: dt.date) -> None:
    if not SALESFORCE_EARLIEST_DATE <= value <= SALESFORCE_LATEST_DATE:
        raise ValidationError(DATE_RANGE_MESSAGE, code="date_out_of_range")


class DateKind(FieldKind):
    name = "date"
    label = "Date"
    salesforce_types = frozenset({"date"})

    def clean(self, value: Any, *, max_length: int) -> Any:
        value = _text(value)
        try:
            parsed = parse_date(value)
        except ValueError:
            parsed = None
        if parsed is None:
            raise ValidationError("Enter a date as YYYY-MM-DD.")
        salesforce_date_validator(parsed)
        return parsed.isoformat()

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        return forms.DateField(widget=DateInput, label=label, required=required)

    def form_initial(self, value: Any) -> Any:
        return parse_date(value) if isinstance(value, str) else value

    def page_html(self, value: Any) -> SafeString:
        # Written as the due date is; a value stored before dates were checked, as it is.
        try:
            day = dt.date.fromisoformat(str(value)[:10])
        except ValueError:
            return super().page_html(value)
        return conditional_escape(date_format(day, "l, j F Y"))

    def from_form(self, value: Any) -> Any:
        return value.isoformat() if isinstance(value, dt.date) else value

    def to_salesforce(self, value: Any) -> Any:
        # A due date is a date: never shifted by a time zone.
        return value.isoformat() if isinstance(value, dt.date) else str(value)[:10]

    def from_salesforce(self, value: Any, *, custom: bool) -> Any:
        parsed = dt.date.fromisoformat(str(value)[:10])
        return parsed.isoformat() if custom else parsed


class DateTimeKind(FieldKind):
    name = "datetime"
    label = "Date and time"
    salesforce_types = frozenset({"datetime"})

    def clean(self, value: Any, *, max_length: int) -> Any:
        value = _text(value)
        try:
            parsed = parse_datetime(value)
        except ValueError:
            parsed = None
        if parsed is None or parsed.tzinfo is None:
            raise ValidationError("Enter a date and time with a UTC offset, in ISO 8601.")
        try:
            utc = parsed.astimezone(dt.UTC)
        except OverflowError:  # 0001-01-01T00:00+01:00 has no UTC time
            raise ValidationError(DATE_RANGE_MESSAGE, code="date_out_of_range") from None
        salesforce_date_validator(utc.date())
        return utc.isoformat()

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        return forms.DateTimeField(
            widget=DateTimeInput, help_text="In your time zone.", label=label, required=required
        )

    def form_initial(self, value: Any) -> Any:
        # Shown in the user's time zone: DateTimeField.prepare_value converts an aware value.
        return parse_datetime(value) if isinstance(value, str) else value

    def from_form(self, value: Any) -> Any:
        # Aware in the user's time zone; the service stores it in UTC.
        return value.isoformat() if isinstance(value, dt.datetime) else value

    def to_salesforce(self, value: Any) -> Any:
        if isinstance(value, str):
            value = dt.datetime.fromisoformat(value)
        return sf_datetime_format(value)

    def from_salesforce(self, value: Any, *, custom: bool) -> Any:
        parsed = sf_datetime_parse(str(value))
        return parsed.isoformat() if custom else parsed


def _yes_no(value: str) -> bool:
    return value == "true"


class BooleanKind(FieldKind):
    name = "boolean"
    label = "Yes/No"
    salesforce_types = frozenset({"boolean"})

    def clean(self, value: Any, *, max_length: int) -> Any:
        if not isinstance(value, bool):
            raise ValidationError("Enter true or false.")
        return value

    def form_field(self, *, label: str, required: bool, max_length: int) -> forms.Field:
        # A select, not a checkbox: "not answered" differs from "no", and a required yes/no
        # field must be answerable with "no".
        return forms.TypedChoiceField(
            choices=[("", "—"), ("true", "Yes"), ("false", "No")],
            coerce=_yes_no,
            empty_value=None,
            label=label,
            required=required,
        )

    def form_initial(self, value: Any) -> Any:
        if isinstance(value, bool):
            return "true" if value else "false"
        return value

    def page_html(self, value: Any) -> SafeString:
        return conditional_escape("Yes" if value else "No")


# In the order an admin is offered them.
FIELD_KINDS: dict[str, FieldKind] = {
    kind.name: kind
    for kind in (
        TextKind(),
        NumberKind(),
        DateKind(),
        DateTimeKind(),
        BooleanKind(),
        EmailKind(),
        UrlKind(),
    )
}


def field_kind(name: str) -> FieldKind:
    """The kind named `name`; KeyError for a name no kind has."""
    return FIELD_KINDS[name]


def field_kind_choices() -> list[tuple[str, str]]:
    return [(kind.name, kind.label) for kind in FIELD_KINDS.values()]
