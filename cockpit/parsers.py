"""The API's JSON parser: refuses text that no database column can store."""

from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import JSONParser


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
        data = super().parse(stream, media_type, parser_context)
        problem = unstorable_text(data)
        if problem:
            raise ParseError(problem)
        return data
