"""The fuzzing budget's edges (issue 17): what schemathesis does not make from the schema.

For every write operation of the schema (POST, PUT, PATCH; the ones fuzz-api excludes stay
out) it sends JSON nested 33, 5,000 and 100,000 deep, and every integer property of the
request body and every integer query parameter at its boundaries and past them (0, -1,
2**31 - 1, 2**31, 2**63, 10**100, and the Unicode digits '²' and '١٢'). Every answer must be
under 500 and JSON. Prints one line per failure and a summary; exits 1 on any failure.

Usage: python .ci/fuzz_edges.py SCHEMA_JSON BASE_URL TOKEN [EXCLUDED_OPERATION_ID ...]
"""

import json
import sys
import urllib.error
import urllib.parse
import urllib.request
from typing import Any

DEPTHS = (33, 5_000, 100_000)
INTEGERS: tuple[Any, ...] = (0, -1, 2**31 - 1, 2**31, 2**63, 10**100, "²", "١٢")


def send(base: str, token: str, method: str, path: str, body: bytes | None) -> tuple[int, str]:
    request = urllib.request.Request(  # noqa: S310 - the app on loopback, http only
        base + path,
        data=body,
        method=method,
        headers={"Authorization": f"Token {token}", "Content-Type": "application/json"},
    )
    try:
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310 - loopback
            return response.status, response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Content-Type", "")


def resolve(schema: dict[str, Any], node: dict[str, Any]) -> dict[str, Any]:
    while "$ref" in node:
        name = node["$ref"].rsplit("/", 1)[-1]
        node = schema["components"]["schemas"][name]
    return node


def integer_properties(schema: dict[str, Any], operation: dict[str, Any]) -> list[str]:
    content = operation.get("requestBody", {}).get("content", {})
    body = content.get("application/json", {}).get("schema")
    if body is None:
        return []
    properties = resolve(schema, body).get("properties", {})
    return [
        name
        for name, spec in properties.items()
        if resolve(schema, spec).get("type") == "integer" and not spec.get("readOnly")
    ]


def main() -> int:
    schema_path, base, token, *excluded = sys.argv[1:]
    schema = json.load(open(schema_path))  # noqa: SIM115 - read once
    failures: list[str] = []
    sent = 0
    for path, item in schema["paths"].items():
        for method, operation in item.items():
            if method not in ("get", "post", "put", "patch"):
                continue
            if operation.get("operationId") in excluded:
                continue
            concrete = path.replace("{id}", "1")
            cases: list[tuple[str, bytes | None]] = []
            if method != "get":
                cases += [(concrete, ("[" * d + "]" * d).encode()) for d in DEPTHS]
                for name in integer_properties(schema, operation):
                    cases += [(concrete, json.dumps({name: v}).encode()) for v in INTEGERS]
            for parameter in operation.get("parameters", []):
                if parameter.get("in") == "query" and (
                    resolve(schema, parameter.get("schema", {})).get("type") == "integer"
                ):
                    for value in INTEGERS:
                        query = urllib.parse.urlencode({parameter["name"]: value})
                        cases.append((f"{concrete}?{query}", None))
            for target, body in cases:
                status, content_type = send(base, token, method.upper(), target, body)
                sent += 1
                what = (body or b"")[:60].decode("utf-8", "replace")
                if status >= 500:
                    failures.append(f"{method.upper()} {target} {what!r}: {status}")
                elif not content_type.startswith("application/json") and status != 204:
                    failures.append(f"{method.upper()} {target} {what!r}: {content_type}")
    for failure in failures:
        print("!!", failure)
    print(f"edges: {sent - len(failures)} passed, {len(failures)} failed")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
