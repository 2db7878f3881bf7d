"""A SOQL parser and evaluator of our own, for the subset a task sync uses (see
docs/sfemulator.md for the table). Errors carry Salesforce's codes and messages, with the
row/column caret Salesforce puts in MALFORMED_QUERY and INVALID_FIELD messages."""

from sfemulator.soql.engine import QueryEngine, QueryResult

__all__ = ["QueryEngine", "QueryResult"]
