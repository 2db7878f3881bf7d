"""The REST resource table: path patterns under /services/data/vXX.X/ and their handlers.

Patterns are tried in order, so literal segments (`describe`, `updated`) come before the
placeholders they would otherwise match. A placeholder `{name=a|b}` only matches those words.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import unquote, unquote_plus

from sfemulator.api import composite, composite_resource, meta, query, replication, sobjects
from sfemulator.api.call import Call
from sfemulator.errors import SalesforceError, method_not_allowed, not_found
from sfemulator.protocol import Response
from sfemulator.schema import sobject_type

Handler = Callable[[Call], Response]


@dataclass(frozen=True)
class Route:
    pattern: tuple[str, ...]
    handlers: dict[str, Handler]

    def match(self, segments: list[str]) -> dict[str, str] | None:
        if len(segments) != len(self.pattern):
            return None
        args: dict[str, str] = {}
        for part, segment in zip(self.pattern, segments, strict=True):
            if part.startswith("{"):
                name, _, choices = part[1:-1].partition("=")
                # simple-salesforce quotes external id values with quote_plus, so a `+` in
                # that segment is a space; elsewhere paths use plain percent-encoding.
                value = unquote_plus(segment) if name == "value" else unquote(segment)
                if choices and value not in choices.split("|"):
                    return None
                args[name] = value
            elif unquote(segment) != part:
                return None
        return args

    def endpoint(self, method: str, args: dict[str, str]) -> str:
        """The request log's name for a call: concrete types and fields, placeholder ids."""
        parts = []
        for part in self.pattern:
            if not part.startswith("{"):
                parts.append(part)
                continue
            name = part[1:-1].partition("=")[0]
            if name == "type":
                found = sobject_type(args[name])
                parts.append(found.name if found else args[name])
            elif name in ("field", "endpoint"):
                parts.append(args[name])
            else:
                parts.append("{" + name + "}")
        return f"{method} " + ("/".join(parts) or "/")


ROUTES = (
    Route((), {"GET": meta.resources}),
    Route(("sobjects",), {"GET": meta.sobjects}),
    Route(("sobjects", "{type}"), {"GET": meta.sobject_info, "POST": sobjects.create}),
    Route(("sobjects", "{type}", "describe"), {"GET": meta.describe}),
    Route(("sobjects", "{type}", "updated"), {"GET": replication.updated}),
    Route(("sobjects", "{type}", "deleted"), {"GET": replication.deleted}),
    Route(
        ("sobjects", "{type}", "{id}"),
        {"GET": sobjects.get, "PATCH": sobjects.update, "DELETE": sobjects.delete},
    ),
    Route(
        ("sobjects", "{type=User}", "{id}", "password"),
        {"GET": sobjects.password_status, "POST": sobjects.set_password},
    ),
    Route(
        ("sobjects", "{type}", "{field}", "{value}"),
        {
            "GET": sobjects.get_by_external_id,
            "PATCH": sobjects.upsert,
            "DELETE": sobjects.delete_by_external_id,
        },
    ),
    Route(("{endpoint=query|queryAll}",), {"GET": query.run}),
    Route(("{endpoint=query|queryAll}", "{locator}"), {"GET": query.more}),
    Route(("composite",), {"POST": composite_resource.composite}),
    Route(
        ("composite", "sobjects"),
        {"POST": composite.create, "PATCH": composite.update, "DELETE": composite.delete},
    ),
    Route(
        ("composite", "sobjects", "{type}"), {"GET": composite.retrieve, "POST": composite.retrieve}
    ),
    Route(("composite", "sobjects", "{type}", "{field}"), {"PATCH": composite.upsert}),
    Route(("limits",), {"GET": meta.limits}),
)


# Calls that write records: the write-call faults (late_commit, apply_late, lose_answer) and
# nothing else count them. Retrieving records by POST and setting passwords are not among them.
WRITE_HANDLERS: frozenset[Handler] = frozenset(
    {
        sobjects.create,
        sobjects.update,
        sobjects.delete,
        sobjects.upsert,
        sobjects.delete_by_external_id,
        composite.create,
        composite.update,
        composite.delete,
        composite.upsert,
        composite_resource.composite,
    }
)


def resolve(method: str, segments: list[str]) -> tuple[Route, dict[str, str], Handler]:
    for route in ROUTES:
        args = route.match(segments)
        if args is None:
            continue
        handler = route.handlers.get(method)
        if handler is None and method == "HEAD":
            handler = route.handlers.get("GET")
        if handler is None:
            raise method_not_allowed(method, sorted({"HEAD", *route.handlers}))
        return route, args, handler
    raise not_found()


def unknown_endpoint(method: str, error: SalesforceError) -> str:
    return f"{method} (unknown: {error.error_code})"
