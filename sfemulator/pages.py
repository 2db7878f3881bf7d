"""A read-only record page at Salesforce's Lightning path, so "Open in Salesforce" links
(`/lightning/r/Task/<Id>/view`) work against the emulator, behind a login as in Salesforce.

- `GET /lightning/r/{Type}/{Id}/view` with a valid `sid` cookie: the record's fields, by label,
  references by name; 404 page for a missing or deleted record. Without a session: 302 to
  the login page with `startURL`.
- `GET /?startURL=…`: the login form (username and password of an emulator user).
  `POST /`: on success a `sid` cookie (HttpOnly, Secure, SameSite=Lax; a token with the OAuth
  tokens' lifetime) and 302 to `startURL`, which must be a record page path; on failure the
  form again with Salesforce's message.

Any active user who logs in sees any record, as every token reads every record through the
REST API: the emulator has no sharing model. Nothing is writable here. Every value is
HTML-escaped; pages are never cached and load nothing from elsewhere (Content-Security-Policy).
Page views are not API calls: they are neither counted nor logged.
"""

from __future__ import annotations

import html
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qs, quote

from sfemulator.errors import SalesforceError
from sfemulator.protocol import Request, Response
from sfemulator.schema import SObjectType, sobject_type

if TYPE_CHECKING:
    from sfemulator.app import Emulator

PREFIX = "/lightning/r/"
LOGIN_PATH = "/"
SESSION_COOKIE = "sid"
_RECORD_PATH = re.compile(r"^/lightning/r/([A-Za-z0-9_]+)/([A-Za-z0-9]{15,18})/view/?$")
_BAD_LOGIN = (
    "Please check your username and password. If you still can't log in, contact your "
    "Salesforce administrator."
)
_HEADERS = {
    "Cache-Control": "no-store",
    "Content-Security-Policy": (
        "default-src 'none'; style-src 'unsafe-inline'; form-action 'self'; frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
}
_STYLE = (
    "body{font-family:system-ui,sans-serif;margin:2rem auto;max-width:46rem;padding:0 1rem;"
    "color:#181818}h1{font-size:1.4rem}table{border-collapse:collapse;width:100%}"
    "th,td{text-align:left;padding:.35rem .5rem;border-bottom:1px solid #ddd;"
    "vertical-align:top;overflow-wrap:anywhere}th{width:14rem;color:#555;font-weight:600}"
    "label{display:block;margin:.6rem 0 .2rem}input{font-size:1rem;padding:.3rem;width:18rem}"
    "button{margin-top:1rem;font-size:1rem;padding:.4rem 1rem}.error{color:#b00}"
    ".note{color:#555;font-size:.9rem}"
)


def handles(path: str) -> bool:
    return path == LOGIN_PATH or path.startswith(PREFIX)


def handle(emulator: Emulator, request: Request) -> Response:
    if request.path == LOGIN_PATH:
        if request.method == "POST":
            return _log_in(emulator, request)
        if request.method in ("GET", "HEAD"):
            return _login_form(_start_url(request.param("startURL")))
        return _page(405, "Method not allowed", "<p>Use GET or POST.</p>")
    if request.method not in ("GET", "HEAD"):
        return _page(405, "Method not allowed", "<p>The record page is read-only.</p>")
    match = _RECORD_PATH.match(request.path)
    sobject = sobject_type(match.group(1)) if match else None
    if match is None or sobject is None:
        return _page(404, "Page not found", "<p>There is no such page.</p>")
    try:
        user = emulator.auth.authenticate(f"Bearer {_cookie(request, SESSION_COOKIE) or ''}")
    except SalesforceError:
        location = f"{LOGIN_PATH}?startURL={quote(request.path, safe='')}"
        return Response(302, headers={**_HEADERS, "Location": location})
    try:
        record = emulator.records.live_record(sobject, match.group(2))
    except SalesforceError:
        return _page(
            404,
            "Record not found",
            "<p>The record you're looking for doesn't exist or was deleted.</p>",
        )
    return _record_page(emulator, sobject, record, user.username)


def _cookie(request: Request, name: str) -> str | None:
    for part in (request.header("Cookie") or "").split(";"):
        key, _, value = part.strip().partition("=")
        if key == name and value:
            return value
    return None


def _start_url(value: str | None) -> str:
    """Only a record page path: never an open redirect to somewhere else."""
    if value and _RECORD_PATH.match(value):
        return value
    return ""


def _log_in(emulator: Emulator, request: Request) -> Response:
    form = {k: v[0] for k, v in parse_qs(request.body.decode("utf-8", "replace")).items()}
    start_url = _start_url(form.get("startURL"))
    session = emulator.auth.login(form.get("username", ""), form.get("password", ""))
    if session is None:
        return _login_form(start_url, error=_BAD_LOGIN, status=200)
    cookie = f"{SESSION_COOKIE}={session}; Path=/; HttpOnly; Secure; SameSite=Lax"
    if not start_url:
        return _page(
            200,
            "Logged in",
            "<p>You are logged in. Open a record from Cockpit's “Open in Salesforce” link.</p>",
            headers={"Set-Cookie": cookie},
        )
    return Response(302, headers={**_HEADERS, "Location": start_url, "Set-Cookie": cookie})


def _login_form(start_url: str, error: str | None = None, status: int = 200) -> Response:
    message = f'<p class="error" role="alert">{html.escape(error)}</p>' if error else ""
    body = (
        f"{message}<form method='post' action='{LOGIN_PATH}'>"
        f"<input type='hidden' name='startURL' value='{html.escape(start_url, quote=True)}'>"
        "<label for='username'>Username</label>"
        "<input id='username' name='username' autocomplete='username' required>"
        "<label for='password'>Password</label>"
        "<input id='password' name='password' type='password' "
        "autocomplete='current-password' required>"
        "<div><button type='submit'>Log In</button></div></form>"
        "<p class='note'>Salesforce emulator: log in as one of its users "
        "(see docs/sfemulator.md).</p>"
    )
    return _page(status, "Log in to the Salesforce emulator", body)


def _record_page(emulator: Emulator, sobject: SObjectType, record: dict, username: str) -> Response:
    rows = []
    for item in sobject.fields:
        value = record.get(item.name)
        shown = "" if value is None else str(value)
        if item.reference_to and value:
            found = emulator.store.get(str(value))
            name = found[1].get("Name") if found and not found[2] else None
            shown = f"{name} ({value})" if name else str(value)
        elif isinstance(value, bool):
            shown = "Yes" if value else "No"
        rows.append(
            f"<tr><th scope='row'>{html.escape(item.label)}</th><td>{html.escape(shown)}</td></tr>"
        )
    title = record.get("Subject") or record.get("Name") or record["Id"]
    body = (
        f"<p class='note'>{html.escape(sobject.label)} · read-only · "
        f"logged in as {html.escape(username)}</p>"
        f"<table><caption class='note'>{html.escape(sobject.label)} {html.escape(record['Id'])}"
        f"</caption>{''.join(rows)}</table>"
    )
    return _page(200, str(title), body)


def _page(status: int, title: str, body: str, headers: dict[str, str] | None = None) -> Response:
    document = (
        "<!doctype html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>{html.escape(title)} | Salesforce emulator</title>"
        f"<style>{_STYLE}</style></head><body><main><h1>{html.escape(title)}</h1>"
        f"{body}</main></body></html>"
    )
    return Response(status, headers={**_HEADERS, **(headers or {})}, html=document)
