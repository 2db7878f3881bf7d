"""The emulator's view of an HTTP exchange, independent of the server that carries it."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import parse_qs

from sfemulator.errors import json_parser_error


@dataclass
class Request:
    method: str
    path: str
    query_string: str
    headers: Mapping[str, str]  # case-insensitive (email.message.Message from http.server)
    body: bytes
    host: str
    # Whether the client has closed the connection while its request waits for an answer
    # (a held Streaming API connect); the server that carries the request knows.
    connection_lost: Callable[[], bool] = field(default=lambda: False)

    @property
    def query(self) -> dict[str, list[str]]:
        # parse_qs decodes both `+` and `%20` as a space, as Salesforce does.
        return parse_qs(self.query_string, keep_blank_values=True)

    def param(self, name: str) -> str | None:
        values = self.query.get(name)
        return values[0] if values else None

    def header(self, name: str) -> str | None:
        return self.headers.get(name)

    def json(self) -> Any:
        if not self.body:
            raise json_parser_error(
                "The HTTP entity body is required, but this request has no entity body."
            )
        try:
            return json.loads(self.body)
        except (ValueError, UnicodeDecodeError) as error:
            raise json_parser_error(f"Unexpected character: was expecting JSON ({error})") from None


JSON_TYPE = "application/json;charset=UTF-8"


@dataclass
class Response:
    status: int
    body: Any = None  # JSON-serialisable, or None for an empty body
    headers: dict[str, str] = field(default_factory=dict)
    # The server closes the connection instead of answering (the lose_answer fault).
    drop_connection: bool = False
    # A page instead of JSON (the record page): sent as is, with its own content type.
    html: str | None = None

    @property
    def content_type(self) -> str | None:
        if self.html is not None:
            return "text/html;charset=UTF-8"
        return JSON_TYPE if self.body is not None else None

    def encoded(self) -> bytes:
        if self.html is not None:
            return self.html.encode()
        if self.body is None:
            return b""
        return json.dumps(self.body, separators=(",", ":")).encode()
