"""Recursive-descent parser for the SOQL subset:

    SELECT field, Parent.field, ... | COUNT() | COUNT(field)
    FROM Object
    [WHERE condition]  -- = != < <= > >= LIKE IN NOT IN, AND OR NOT, parentheses
    [ORDER BY field [ASC|DESC] [NULLS FIRST|LAST], ...]
    [LIMIT n] [OFFSET n]

As in Salesforce, AND and OR cannot be mixed at one level without parentheses.
"""

from __future__ import annotations

from sfemulator.soql.ast import (
    And,
    Comparison,
    Condition,
    FieldRef,
    InList,
    Literal,
    Not,
    Or,
    OrderItem,
    Query,
)
from sfemulator.soql.errors import malformed, unexpected
from sfemulator.soql.lexer import PARAMETRIC_DATE_LITERALS, Token, tokenize

DATE_LITERALS = (
    frozenset(
        {
            "TODAY",
            "YESTERDAY",
            "TOMORROW",
            "THIS_WEEK",
            "LAST_WEEK",
            "NEXT_WEEK",
            "THIS_MONTH",
            "LAST_MONTH",
            "NEXT_MONTH",
            "LAST_90_DAYS",
            "NEXT_90_DAYS",
        }
    )
    | PARAMETRIC_DATE_LITERALS
)
_CLAUSE_WORDS = ("WHERE", "ORDER", "LIMIT", "OFFSET", "GROUP", "HAVING", "FOR", "WITH", "USING")


class Parser:
    def __init__(self, text: str) -> None:
        self.text = text
        self.tokens = tokenize(text)
        self.index = 0

    # Token helpers ------------------------------------------------------------------------

    @property
    def current(self) -> Token:
        return self.tokens[self.index]

    def advance(self) -> Token:
        token = self.tokens[self.index]
        if token.kind != "eof":
            self.index += 1
        return token

    def fail(self, token: Token | None = None) -> Exception:
        token = token or self.current
        return unexpected(self.text, token.pos, None if token.kind == "eof" else token.text)

    def expect_keyword(self, word: str) -> Token:
        if not self.current.is_keyword(word):
            raise self.fail()
        return self.advance()

    def expect(self, kind: str) -> Token:
        if self.current.kind != kind:
            raise self.fail()
        return self.advance()

    # Grammar ---------------------------------------------------------------------------------

    def parse(self) -> Query:
        self.expect_keyword("SELECT")
        fields, count, count_field = self.select_list()
        self.expect_keyword("FROM")
        sobject = self.expect("ident")
        if "." in sobject.text:
            raise self.fail(sobject)
        query = Query(sobject.text, sobject.pos, fields, count, count_field)
        if self.current.kind == "ident" and not self.current.is_keyword(*_CLAUSE_WORDS):
            # An alias after the object name (`FROM Task t`) is legal SOQL but unsupported.
            raise malformed(self.text, self.current.pos, "object aliases are not supported")
        if self.current.is_keyword("WHERE"):
            self.advance()
            query.where = self.condition()
        if self.current.is_keyword("ORDER"):
            self.advance()
            self.expect_keyword("BY")
            query.order_by = self.order_list()
        if self.current.is_keyword("LIMIT"):
            self.advance()
            query.limit = self.integer()
        if self.current.is_keyword("OFFSET"):
            self.advance()
            query.offset = self.integer()
        if self.current.kind != "eof":
            raise self.fail()
        return query

    def select_list(self) -> tuple[list[FieldRef], bool, FieldRef | None]:
        if self.current.is_keyword("COUNT") and self.tokens[self.index + 1].kind == "lparen":
            self.advance()
            self.advance()
            if self.current.kind == "rparen":
                self.advance()
                return [], True, None
            counted = self.field_ref()
            self.expect("rparen")
            return [], True, counted
        fields = [self.select_item()]
        while self.current.kind == "comma":
            self.advance()
            fields.append(self.select_item())
        return fields, False, None

    def select_item(self) -> FieldRef:
        if self.current.kind == "lparen":
            raise malformed(
                self.text, self.current.pos, "relationship sub-queries are not supported"
            )
        if self.current.is_keyword("FROM"):
            raise self.fail()
        token = self.current
        ref = self.field_ref()
        if self.current.kind == "lparen":
            raise malformed(
                self.text, token.pos, f"function {token.text.upper()}() is not supported"
            )
        return ref

    def field_ref(self) -> FieldRef:
        token = self.expect("ident")
        return FieldRef(tuple(token.text.split(".")), token.pos)

    def integer(self) -> int:
        token = self.expect("number")
        if "." in token.text or token.text.startswith("-"):
            raise self.fail(token)
        return int(token.text)

    def condition(self) -> Condition:
        items = [self.unary()]
        joiner: str | None = None
        while self.current.is_keyword("AND", "OR"):
            word = self.current.text.upper()
            if joiner is not None and word != joiner:
                raise self.fail()
            joiner = word
            self.advance()
            items.append(self.unary())
        if joiner is None:
            return items[0]
        return And(tuple(items)) if joiner == "AND" else Or(tuple(items))

    def unary(self) -> Condition:
        if self.current.is_keyword("NOT"):
            self.advance()
            return Not(self.unary())
        if self.current.kind == "lparen":
            self.advance()
            inner = self.condition()
            self.expect("rparen")
            return inner
        return self.comparison()

    def comparison(self) -> Condition:
        ref = self.field_ref()
        if self.current.kind == "op":
            op = self.advance().text
            return Comparison(ref, op, self.literal())
        if self.current.is_keyword("LIKE"):
            self.advance()
            return Comparison(ref, "LIKE", self.literal())
        negated = False
        if self.current.is_keyword("NOT"):
            self.advance()
            negated = True
            if not self.current.is_keyword("IN"):
                raise self.fail()
        if self.current.is_keyword("IN"):
            self.advance()
            return InList(ref, self.literal_list(), negated)
        raise self.fail()

    def literal_list(self) -> tuple[Literal, ...]:
        self.expect("lparen")
        if self.current.is_keyword("SELECT"):
            raise malformed(self.text, self.current.pos, "semi-join sub-selects are not supported")
        values = [self.literal()]
        while self.current.kind == "comma":
            self.advance()
            values.append(self.literal())
        self.expect("rparen")
        return tuple(values)

    def literal(self) -> Literal:
        token = self.current
        if token.kind == "string":
            self.advance()
            return Literal("string", token.value, token.pos, token.text, token.raw)
        if token.kind in ("number", "date", "datetime"):
            self.advance()
            return Literal(token.kind, token.value, token.pos, token.text)
        if token.kind == "ident":
            word = token.text.upper()
            if word in ("TRUE", "FALSE"):
                self.advance()
                return Literal("boolean", word == "TRUE", token.pos, token.text)
            if word == "NULL":
                self.advance()
                return Literal("null", None, token.pos, token.text)
            if word in DATE_LITERALS:
                self.advance()
                days = token.value if isinstance(token.value, int) else None
                return Literal("date_literal", word, token.pos, token.text, days=days)
        raise self.fail()

    def order_list(self) -> list[OrderItem]:
        items = [self.order_item()]
        while self.current.kind == "comma":
            self.advance()
            items.append(self.order_item())
        return items

    def order_item(self) -> OrderItem:
        ref = self.field_ref()
        descending = False
        if self.current.is_keyword("ASC", "DESC"):
            descending = self.advance().text.upper() == "DESC"
        nulls_last = descending
        if self.current.is_keyword("NULLS"):
            self.advance()
            if not self.current.is_keyword("FIRST", "LAST"):
                raise self.fail()
            nulls_last = self.advance().text.upper() == "LAST"
        return OrderItem(ref, descending, nulls_last)


def parse(text: str) -> Query:
    return Parser(text).parse()
