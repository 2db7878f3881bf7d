"""The API's JSON parser: refuses text that no database column can store, and nesting deeper
than any Cockpit body needs (5,000 `[` made Python's decoder raise RecursionError: a 500)."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser

# A task's custom fields are the deepest thing Cockpit reads: an object of scalars.
MAX_DEPTH = 32


def too_deep(value: Any, limit: int = MAX_DEPTH) -> bool:
    """Whether arrays and objects nest deeper than `limit` (counted without recursion)."""
    stack = [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            if depth > limit:
                return True
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return False


def unstorable_text(value: Any) -> str | None:
    """Why a string somewhere in this JSON value cannot be stored, or None when all can.

    PostgreSQL refuses NUL in text and jsonb (a DataError, so a 500 if it got that far) and
    no UTF-8 column holds a lone surrogate, which JSON's \\ud800 escapes can produce.
    """
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if "\x00" in item:
                return "Null characters are not allowed."
            try:
                item.encode("utf-8")
            except UnicodeEncodeError:
                return "Surrogate characters are not allowed."
        elif isinstance(item, dict):
            stack.extend(item.keys())
            stack.extend(item.values())
        elif isinstance(item, list):
            stack.extend(item)
    return None


class StorableJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: Any = None, parser_context: Any = None) -> Any:
        try:
            data = super().parse(stream, media_type, parser_context)
        except RecursionError:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from None
        if too_deep(data):
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        problem = unstorable_text(data)
        if problem:
            raise ParseError(problem)
        return data
