"""SOQL errors located the way Salesforce reports them: the query, a caret under the
offending token, `ERROR at Row:r:Column:c`, then the message."""

from __future__ import annotations

from sfemulator.errors import SalesforceError


def located(code: str, query: str, position: int, message: str) -> SalesforceError:
    before = query[:position]
    row = before.count("\n") + 1
    line_start = before.rfind("\n") + 1
    column = position - line_start + 1
    line_end = query.find("\n", position)
    line = query[line_start : line_end if line_end != -1 else len(query)]
    caret = " " * (column - 1) + "^"
    text = f"\n{line}\n{caret}\nERROR at Row:{row}:Column:{column}\n{message}"
    return SalesforceError(400, code, text)


def malformed(query: str, position: int, message: str) -> SalesforceError:
    return located("MALFORMED_QUERY", query, position, message)


def unexpected(query: str, position: int, token_text: str | None) -> SalesforceError:
    shown = "<EOF>" if token_text is None else f"'{token_text}'"
    return malformed(query, position, f"unexpected token: {shown}")
