"""The Composite resource: `POST composite`, a series of up to 25 REST subrequests in one API
call, later ones using earlier answers through references (`@{refAccount.id}`,
`@{refQuery.records[0].Id}`).

As in Salesforce:
- the whole body is checked before anything runs (referenceIds, methods, urls, forbidden
  headers, the 25-subrequest limit and the limit of 5 sObject Collections or queries): a bad
  body is one 400 for the request and nothing runs;
- the series counts as one API call (the pipeline counts the top-level call; subrequests are
  not counted) and shares one transaction: one SystemModstamp, one change-event transaction;
- `allOrNone: true`: the first failing subrequest rolls everything back; it keeps its error,
  every other subrequest (before and after it) answers 400 PROCESSING_HALTED; it also makes
  the sObject Collections subrequests all-or-none, whatever their own flag says;
- `allOrNone: false`: a failing subrequest writes nothing, the others go on; one that refers
  to a failed subrequest (or to a value its answer lacks) is not run and answers 400
  PROCESSING_HALTED;
- subrequests carry their own `httpHeaders` (the conditional headers, Sforce-Query-Options);
  Authorization, Accept and Content-Type come from the top-level request only.

`collateSubrequests` is accepted (a boolean); the emulator always runs subrequests in request
order, one of the orders Salesforce may choose, and the only one without collation.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any
from urllib.parse import unquote

from sfemulator.api.call import Call
from sfemulator.config import MAX_VERSION, MIN_VERSION
from sfemulator.errors import SalesforceError, json_parser_error, not_found
from sfemulator.protocol import Request, Response

MAX_SUBREQUESTS = 25
MAX_COLLECTIONS_AND_QUERIES = 5
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")
INHERITED_HEADERS = ("accept", "authorization", "content-type")

_REFERENCE_ID = re.compile(r"^[A-Za-z0-9_]+$")
_REFERENCE = re.compile(r"@\{([A-Za-z0-9_]+)((?:\.[A-Za-z0-9_]+|\[\d+\])*)\}")
_PATH_STEP = re.compile(r"\.([A-Za-z0-9_]+)|\[(\d+)\]")
_DATA_URL = re.compile(r"^/services/data/v(\d+)\.0(/[^?]*)?(?:\?(.*))?$")

_HALTED = "The transaction was rolled back since another operation in the same transaction failed."


class _RollBack(Exception):
    """Undoes an allOrNone series after its first failure."""


@dataclass
class _Subrequest:
    method: str
    url: str
    reference_id: str
    body: Any
    headers: dict[str, str]


@dataclass
class _Result:
    status: int
    body: Any
    headers: dict[str, str]

    @property
    def failed(self) -> bool:
        return self.status >= 400


class _Headers(Mapping[str, str]):
    """Case-insensitive request headers, as http.server hands them to a top-level call."""

    def __init__(self, items: dict[str, str]) -> None:
        self._items = {name.lower(): (name, value) for name, value in items.items()}

    def __getitem__(self, name: str) -> str:
        return self._items[name.lower()][1]

    def __iter__(self) -> Iterator[str]:
        return (name for name, _ in self._items.values())

    def __len__(self) -> int:
        return len(self._items)


def _bad_request(message: str, code: str = "INVALID_INPUT") -> SalesforceError:
    return SalesforceError(400, code, message)


def _truthy(value: Any, name: str) -> bool:
    if isinstance(value, bool):
        return value
    if isinstance(value, str) and value.lower() in ("true", "false"):
        return value.lower() == "true"
    raise json_parser_error(f"Cannot deserialize value of type boolean for '{name}': {value!r}")


def _is_collection_or_query(url: str) -> bool:
    match = _DATA_URL.match(url)
    segments = [s for s in (match.group(2) or "").split("/") if s] if match else []
    if not segments:
        return False
    return segments[0] in ("query", "queryAll") or segments[:2] == ["composite", "sobjects"]


def _parse(call: Call) -> tuple[list[_Subrequest], bool]:
    body = call.request.json()
    if not isinstance(body, dict):
        raise json_parser_error("Cannot deserialize the composite request: expected a JSON object")
    series = body.get("compositeRequest")
    if not isinstance(series, list) or not series:
        raise json_parser_error("'compositeRequest' is a required field.")
    all_or_none = _truthy(body.get("allOrNone", False), "allOrNone")
    _truthy(body.get("collateSubrequests", True), "collateSubrequests")
    if len(series) > MAX_SUBREQUESTS:
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"Limit Exceeded: a composite request may have at most {MAX_SUBREQUESTS} "
            f"subrequests; this one has {len(series)}.",
        )
    subrequests: list[_Subrequest] = []
    seen: set[str] = set()
    for item in series:
        if not isinstance(item, dict):
            raise json_parser_error("Each subrequest must be a JSON object")
        for field in ("method", "url", "referenceId"):
            if not isinstance(item.get(field), str) or not item[field]:
                raise json_parser_error(f"'{field}' is a required field.")
        method, url, reference_id = item["method"], item["url"], item["referenceId"]
        if method not in METHODS:
            raise _bad_request(
                f"Invalid method '{method}' for subrequest '{reference_id}'. "
                f"Use one of {', '.join(METHODS)}."
            )
        if not _REFERENCE_ID.match(reference_id):
            raise _bad_request(
                f"Provided referenceId ('{reference_id}') must start with a letter or a number, "
                "and it can contain only letters, numbers and underscores ('_')."
            )
        if reference_id in seen:
            raise _bad_request(f"Duplicate referenceId '{reference_id}'.")
        seen.add(reference_id)
        if not url.startswith("/services/data/v"):
            raise _bad_request(
                f"The url of subrequest '{reference_id}' must start with /services/data/vXX.X/"
            )
        headers = item.get("httpHeaders") or {}
        if not isinstance(headers, dict) or not all(
            isinstance(k, str) and isinstance(v, str) for k, v in headers.items()
        ):
            raise json_parser_error("'httpHeaders' must map header names to strings")
        forbidden = [name for name in headers if name.lower() in INHERITED_HEADERS]
        if forbidden:
            raise _bad_request(
                f"Subrequest '{reference_id}' may not set the header {forbidden[0]}: "
                "subrequests inherit Accept, Authorization and Content-Type from the "
                "composite request."
            )
        subrequests.append(_Subrequest(method, url, reference_id, item.get("body"), headers))
    heavy = sum(1 for sub in subrequests if _is_collection_or_query(sub.url))
    if heavy > MAX_COLLECTIONS_AND_QUERIES:
        raise SalesforceError(
            400,
            "LIMIT_EXCEEDED",
            f"Limit Exceeded: a composite request may have at most "
            f"{MAX_COLLECTIONS_AND_QUERIES} sObject Collections or query subrequests; this one "
            f"has {heavy}.",
        )
    return subrequests, all_or_none


# References ---------------------------------------------------------------------------------


class _Unresolved(Exception):
    def __init__(self, expression: str, reference_id: str, failed: bool) -> None:
        message = f"Invalid reference specified. No value for {expression} found in {reference_id}."
        if failed:
            message += f" Provided referenceId ('{reference_id}') refers to a failed subrequest."
        super().__init__(message)


def _lookup(answers: dict[str, _Result], reference_id: str, path: str) -> Any:
    expression = reference_id + path
    answer = answers.get(reference_id)
    if answer is None or answer.failed:
        raise _Unresolved(expression, reference_id, answer is not None)
    value = answer.body
    for name, index in _PATH_STEP.findall(path):
        if name and isinstance(value, dict) and name in value:
            value = value[name]
        elif index and isinstance(value, list) and int(index) < len(value):
            value = value[int(index)]
        else:
            raise _Unresolved(expression, reference_id, False)
    if value is None or isinstance(value, dict | list):
        raise _Unresolved(expression, reference_id, False)
    return value


def _as_text(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def _substitute_text(text: str, answers: dict[str, _Result]) -> Any:
    whole = _REFERENCE.fullmatch(text)
    if whole:  # the value itself, keeping its JSON type
        return _lookup(answers, whole.group(1), whole.group(2))
    return _REFERENCE.sub(lambda m: _as_text(_lookup(answers, m.group(1), m.group(2))), text)


def _substitute(value: Any, answers: dict[str, _Result]) -> Any:
    if isinstance(value, str):
        return _substitute_text(value, answers)
    if isinstance(value, list):
        return [_substitute(item, answers) for item in value]
    if isinstance(value, dict):
        return {key: _substitute(item, answers) for key, item in value.items()}
    return value


# Running ------------------------------------------------------------------------------------


def _halted(message: str = _HALTED) -> _Result:
    return _Result(400, [{"errorCode": "PROCESSING_HALTED", "message": message}], {})


def _collection_failed(result: _Result) -> bool:
    """A collection answers 200 with per-record failures; under the series' allOrNone they
    fail the series (Salesforce rolls the whole composite request back)."""
    return isinstance(result.body, list) and any(
        isinstance(item, dict) and item.get("success") is False for item in result.body
    )


def composite(call: Call) -> Response:
    subrequests, all_or_none = _parse(call)
    store = call.emulator.store
    answers: dict[str, _Result] = {}
    results: list[_Result] = []
    try:
        with store.transaction():
            for sub in subrequests:
                try:
                    url = _substitute_text(sub.url, answers)
                    body = _substitute(sub.body, answers)
                except _Unresolved as unresolved:
                    result = _halted(str(unresolved))
                else:
                    result = _run_one(call, sub, str(url), body, all_or_none)
                answers[sub.reference_id] = result
                results.append(result)
                if all_or_none and (result.failed or _collection_failed(result)):
                    raise _RollBack
    except _RollBack:
        failed_at = len(results) - 1
        results = [
            results[index] if index == failed_at else _halted() for index in range(len(subrequests))
        ]
    return Response(
        200,
        {
            "compositeResponse": [
                {
                    "body": result.body,
                    "httpHeaders": result.headers,
                    "httpStatusCode": result.status,
                    "referenceId": sub.reference_id,
                }
                for sub, result in zip(subrequests, results, strict=True)
            ]
        },
    )


def _run_one(call: Call, sub: _Subrequest, url: str, body: Any, all_or_none: bool) -> _Result:
    """One subrequest in a savepoint: a failure writes nothing of its own."""
    # Imported here: the route table imports this module.
    from sfemulator.api.routes import resolve

    match = _DATA_URL.match(url)
    if match is None or not MIN_VERSION <= int(match.group(1)) <= MAX_VERSION:
        return _error(not_found())
    version = f"{match.group(1)}.0"
    segments = [s for s in (match.group(2) or "").split("/") if s]
    query_string = match.group(3) or ""
    collection = segments[:2] == ["composite", "sobjects"]
    supported = segments[:1] in (["sobjects"], ["query"], ["queryAll"]) or collection
    if not supported:
        return _error(
            _bad_request(f"The composite resource does not support {unquote(url.split('?')[0])}")
        )
    if all_or_none and collection:
        # The series' allOrNone overrides the collection's own.
        if isinstance(body, dict):
            body = {**body, "allOrNone": True}
        query_string = re.sub(r"(^|&)allOrNone=[^&]*", "", query_string).lstrip("&")
        query_string = "&".join(part for part in (query_string, "allOrNone=true") if part)
    headers = {
        name: value
        for name, value in call.request.headers.items()
        if name.lower() in INHERITED_HEADERS or name.lower() == "sforce-call-options"
    }
    headers.update(sub.headers)
    request = Request(
        method=sub.method,
        path=url.split("?", 1)[0],
        query_string=query_string,
        headers=_Headers(headers),
        body=b"" if body is None else json.dumps(body).encode(),
        host=call.request.host,
    )
    try:
        route, args, handler = resolve(sub.method, segments)
        call.emulator.log.record_subrequest(route.endpoint(sub.method, args))
        sub_call = Call(
            request,
            version,
            call.principal,
            call.emulator,
            args,
            call.stamp,
            transaction_key=call.transaction_key,
        )
        with call.emulator.store.savepoint():
            response = handler(sub_call)
    except SalesforceError as error:
        return _error(error)
    result_headers = {k: v for k, v in response.headers.items() if k.lower() != "sforce-limit-info"}
    if response.status == 201 and isinstance(response.body, dict) and response.body.get("id"):
        sobject = segments[1] if len(segments) > 1 else ""
        result_headers["Location"] = f"/services/data/v{version}/sobjects/{sobject}/" + str(
            response.body["id"]
        )
    return _Result(response.status, response.body, result_headers)


def _error(error: SalesforceError) -> _Result:
    return _Result(error.status, error.body(), {})
