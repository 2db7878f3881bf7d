"""Turning JSON values from request bodies into stored field values, with Salesforce's
errors (STRING_TOO_LONG, INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST, JSON_PARSER_ERROR, ...)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from sfemulator.errors import SalesforceError, json_parser_error
from sfemulator.ids import normalize_id, prefix_type
from sfemulator.schema import ID_TYPES, NUMBER_TYPES, TEXT_TYPES, Field
from sfemulator.sftime import format_date, format_datetime, parse_date, parse_datetime

_EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")


def field_error(code: str, message: str, item: Field) -> SalesforceError:
    return SalesforceError(400, code, message, [item.name])


def coerce(item: Field, value: Any) -> Any:
    """The stored form of `value` for `item`, or a SalesforceError. None clears a field."""
    if value is None:
        return None
    if item.type in TEXT_TYPES:
        return _text(item, value)
    if item.type in ID_TYPES:
        return _reference(item, value)
    if item.type == "boolean":
        if not isinstance(value, bool):
            raise json_parser_error(
                f"Cannot deserialize instance of boolean from {_json_kind(value)} value "
                f"{value} or request may be missing a required field"
            )
        return value
    if item.type in NUMBER_TYPES:
        return _number(item, value)
    if item.type == "date":
        parsed_date = parse_date(value) if isinstance(value, str) else None
        if parsed_date is None:
            raise json_parser_error(
                f"Cannot deserialize instance of date from {_json_kind(value)} value {value} "
                "or request may be missing a required field"
            )
        _date_in_range(item, parsed_date, value)
        return format_date(parsed_date)
    if item.type == "datetime":
        parsed = parse_datetime(value) if isinstance(value, str) else None
        if parsed is None:
            raise json_parser_error(
                f"Cannot deserialize instance of datetime from {_json_kind(value)} value "
                f"{value} or request may be missing a required field"
            )
        _date_in_range(item, parsed.date(), value)
        return format_datetime(parsed)
    raise AssertionError(f"unhandled field type {item.type}")


# Salesforce's date and datetime fields hold 1700-01-01 to 4000-12-31 (UTC); it parses a date
# outside them and refuses the record: FIELD_INTEGRITY_EXCEPTION naming the field.
EARLIEST_DATE = date(1700, 1, 1)
LATEST_DATE = date(4000, 12, 31)


def _date_in_range(item: Field, day: date, value: str) -> None:
    if not EARLIEST_DATE <= day <= LATEST_DATE:
        raise field_error(
            "FIELD_INTEGRITY_EXCEPTION",
            f"{item.name}: invalid date, outside {EARLIEST_DATE} to {LATEST_DATE}: {value}",
            item,
        )


def _json_kind(value: Any) -> str:
    if isinstance(value, str):
        return "VALUE_STRING"
    if isinstance(value, bool):
        return "VALUE_TRUE" if value else "VALUE_FALSE"
    if isinstance(value, int | float):
        return "VALUE_NUMBER_INT" if isinstance(value, int) else "VALUE_NUMBER_FLOAT"
    if isinstance(value, list):
        return "START_ARRAY"
    return "START_OBJECT"


def _text(item: Field, value: Any) -> str | None:
    if isinstance(value, bool) or not isinstance(value, str | int | float):
        raise json_parser_error(
            f"Cannot deserialize instance of string from {_json_kind(value)} value {value} "
            "or request may be missing a required field"
        )
    text = value if isinstance(value, str) else str(value)
    if text == "":
        # Salesforce stores an empty string as null.
        return None
    if item.type == "picklist" and item.restricted and item.picklist_value(text) is None:
        raise field_error(
            "INVALID_OR_NULL_FOR_RESTRICTED_PICKLIST",
            f"{item.label}: bad value for restricted picklist field: {text}",
            item,
        )
    if item.length and len(text) > item.length:
        raise field_error(
            "STRING_TOO_LONG",
            f"{item.label}: data value too large: {text[:100]} (max length={item.length})",
            item,
        )
    if item.type == "email" and not _EMAIL_RE.match(text):
        raise field_error(
            "INVALID_EMAIL_ADDRESS", f"{item.label}: invalid email address: {text}", item
        )
    return text


def _reference(item: Field, value: Any) -> str:
    if not isinstance(value, str):
        raise json_parser_error(
            f"Cannot deserialize instance of reference from {_json_kind(value)} value {value} "
            "or request may be missing a required field"
        )
    normalized = normalize_id(value)
    if normalized is None:
        raise field_error(
            "MALFORMED_ID", f"{item.label}: id value of incorrect type: {value}", item
        )
    if item.reference_to and prefix_type(normalized) not in item.reference_to:
        raise field_error(
            "FIELD_INTEGRITY_EXCEPTION",
            f"{item.label}: id value of incorrect type: {value}",
            item,
        )
    return normalized


def _number(item: Field, value: Any) -> float | int:
    number: float
    if isinstance(value, bool):
        raise json_parser_error(
            f"Cannot deserialize instance of double from {_json_kind(value)} value {value} "
            "or request may be missing a required field"
        )
    if isinstance(value, int | float):
        number = float(value)
    elif isinstance(value, str):
        try:
            number = float(value)
        except ValueError:
            raise json_parser_error(
                f"Cannot deserialize instance of double from VALUE_STRING value {value} "
                "or request may be missing a required field"
            ) from None
    else:
        raise json_parser_error(
            f"Cannot deserialize instance of double from {_json_kind(value)} value "
            "or request may be missing a required field"
        )
    if item.precision:
        integer_digits = len(str(int(abs(number))))
        if integer_digits > item.precision - item.scale:
            raise field_error(
                "NUMBER_OUTSIDE_VALID_RANGE",
                f"{item.label}: value outside of valid range on numeric field: {value}",
                item,
            )
        number = round(number, item.scale)
    return int(number) if item.type == "int" else number
