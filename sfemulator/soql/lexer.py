"""Tokens of SOQL: identifiers (dotted paths included), quoted strings with Salesforce's
escapes, numbers, date and datetime literals, date functions such as LAST_N_DAYS:7,
operators and punctuation. Keywords stay identifiers; the parser reads them in context."""

from __future__ import annotations

import re
from dataclasses import dataclass

from sfemulator.soql.errors import malformed

_DATETIME = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(?:\.\d{1,3})?(?:Z|[+-]\d{2}:\d{2})")
_DATE = re.compile(r"\d{4}-\d{2}-\d{2}(?![\dT])")
_NUMBER = re.compile(r"\d+(?:\.\d+)?|\.\d+")
_IDENT = re.compile(r"[A-Za-z_][A-Za-z0-9_]*(?:\.[A-Za-z_][A-Za-z0-9_]*)*")
_N_DAYS = re.compile(r":(\d+)")
_OPERATORS = ("!=", "<>", "<=", ">=", "=", "<", ">")
# The escapes Salesforce accepts inside quoted strings. \_ and \% only mean something in LIKE,
# so they are kept escaped here and read by the LIKE matcher.
_ESCAPES = {"n": "\n", "r": "\r", "t": "\t", "b": "\b", "f": "\f", '"': '"', "'": "'", "\\": "\\"}
PARAMETRIC_DATE_LITERALS = frozenset({"LAST_N_DAYS", "NEXT_N_DAYS"})


@dataclass(frozen=True)
class Token:
    kind: str  # ident, string, number, date, datetime, op, lparen, rparen, comma, eof
    text: str
    pos: int
    value: object = None
    # For strings: the text with \_ and \% still escaped, for LIKE patterns.
    raw: str = ""

    def is_keyword(self, *words: str) -> bool:
        return self.kind == "ident" and self.text.upper() in words


def tokenize(query: str) -> list[Token]:
    tokens: list[Token] = []
    pos = 0
    length = len(query)
    while pos < length:
        char = query[pos]
        if char.isspace():
            pos += 1
            continue
        if char == "'":
            token, pos = _string(query, pos)
            tokens.append(token)
            continue
        if char == "(":
            tokens.append(Token("lparen", char, pos))
            pos += 1
            continue
        if char == ")":
            tokens.append(Token("rparen", char, pos))
            pos += 1
            continue
        if char == ",":
            tokens.append(Token("comma", char, pos))
            pos += 1
            continue
        operator = next((op for op in _OPERATORS if query.startswith(op, pos)), None)
        if operator:
            tokens.append(Token("op", "!=" if operator == "<>" else operator, pos))
            pos += len(operator)
            continue
        if char.isdigit() or char == "-" or char == "+" or char == ".":
            token, pos = _number_or_date(query, pos)
            tokens.append(token)
            continue
        match = _IDENT.match(query, pos)
        if match:
            text = match.group()
            end = match.end()
            if text.upper() in PARAMETRIC_DATE_LITERALS:
                days = _N_DAYS.match(query, end)
                if not days:
                    raise malformed(query, end, f"unexpected token: '{text}'")
                tokens.append(Token("ident", text, pos, int(days.group(1))))
                pos = days.end()
                continue
            tokens.append(Token("ident", text, pos))
            pos = end
            continue
        raise malformed(query, pos, f"unexpected token: '{char}'")
    tokens.append(Token("eof", "", length))
    return tokens


def _string(query: str, start: int) -> tuple[Token, int]:
    pos = start + 1
    value: list[str] = []
    raw: list[str] = []
    while pos < len(query):
        char = query[pos]
        if char == "\\":
            if pos + 1 >= len(query):
                break
            escaped = query[pos + 1]
            if escaped in _ESCAPES:
                value.append(_ESCAPES[escaped])
                raw.append("\\" + escaped)
            elif escaped in "_%":
                value.append("\\" + escaped)
                raw.append("\\" + escaped)
            else:
                raise malformed(
                    query,
                    pos,
                    "Invalid string literal '" + query[start + 1 : pos + 2] + "'. Illegal "
                    "character sequence '\\" + escaped + "' in string literal.",
                )
            pos += 2
            continue
        if char == "'":
            text = query[start : pos + 1]
            return Token("string", text, start, "".join(value), "".join(raw)), pos + 1
        value.append(char)
        raw.append(char)
        pos += 1
    raise malformed(query, start, "unexpected token: <EOF>")


def _number_or_date(query: str, start: int) -> tuple[Token, int]:
    for pattern, kind in ((_DATETIME, "datetime"), (_DATE, "date")):
        match = pattern.match(query, start)
        if match:
            return Token(kind, match.group(), start, match.group()), match.end()
    sign = ""
    pos = start
    if query[pos] in "+-":
        sign = query[pos]
        pos += 1
    match = _NUMBER.match(query, pos)
    if not match:
        raise malformed(query, start, f"unexpected token: '{query[start]}'")
    text = sign + match.group()
    return Token("number", text, start, float(text)), match.end()
