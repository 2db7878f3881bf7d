"""The one module that talks to Salesforce: OAuth, the REST client, error classification.

simple-salesforce's login helpers hard-code https://{domain}.salesforce.com, so Cockpit fetches
the OAuth token itself from the connection's login URL and hands instance_url + session_id over.
"""

import datetime as dt
import logging
import re
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from contextvars import ContextVar
from dataclasses import dataclass, field
from email.utils import parsedate_to_datetime
from enum import StrEnum
from typing import TYPE_CHECKING, Any, NamedTuple, TypeVar, cast
from urllib.parse import quote_plus, urlencode, urlsplit

import requests
import urllib3
from django.conf import settings
from django.db import connection as db
from django.views.decorators.debug import sensitive_variables
from requests.adapters import HTTPAdapter
from simple_salesforce import exceptions as sf_exc
from simple_salesforce.api import Salesforce

from .failures import Failure, kind_of
from .sf_types import (
    TASK_SOBJECT,
    CompositeAnswer,
    CompositeSubrequest,
    DeletedAnswer,
    Limits,
    QueryPage,
    RecordAnswer,
    RecordError,
    SalesforceRecord,
    SalesforceUser,
    SObjectDescribe,
)

if TYPE_CHECKING:
    from requests._types import CertType, TimeoutType, VerifyType

log = logging.getLogger(__name__)

# The budget of one `SalesforceClient.call`, logins and the retry after an expired session
# included (SALESFORCE_TIMEOUT_SECONDS in production, through Credentials.timeout).
TIMEOUT_SECONDS = 30
USAGE_RE = re.compile(r"api-usage=(\d+)/(\d+)")
# Composite calls a push cycle keeps in flight at once (Salesforce takes concurrent requests;
# the engine lease still keeps one cycle at a time).
IN_FLIGHT = 3
T = TypeVar("T")

# Run before every Salesforce call. While a holder holds the engine lease, sync/lease.py sets
# it to renew the lease (raising when the lease was lost): a call never starts under a lease
# its holder has lost, and it starts with a whole lease period ahead of it.
call_guard: ContextVar[Callable[[], None] | None] = ContextVar(
    "salesforce_call_guard", default=None
)


class SalesforceError(Exception):
    """A Salesforce failure, classified once: transient ones are retried, permanent ones not."""

    transient = False
    uncertain = False

    def __init__(self, message: str, *, code: str = "", status: int | None = None) -> None:
        super().__init__(message)
        self.code = code
        self.status = status

    @property
    def failure(self) -> Failure:
        """What the failure means for a push that met it (stored on its entry)."""
        return Failure(str(self), kind_of(self.code), self.code)


class TransientError(SalesforceError):
    transient = True


class UncertainError(TransientError):
    """The request may have reached Salesforce and been applied: its answer never came (a
    timeout, a dropped connection, a gateway error). A retry is safe, but the write may still
    land later, after a newer one."""

    uncertain = True


class PermanentError(SalesforceError):
    pass


class AuthError(PermanentError):
    """Login refused or session invalid after a fresh login: the connection is unauthorized."""


class LoginAnswerError(AuthError):
    """The login answered 200 with something Cockpit cannot use: not a token and an
    instance_url, or an instance_url on a host Cockpit does not trust."""


class SecretUnreadableError(AuthError, ValueError):
    """The stored client secret no longer decrypts (SYNC_ENCRYPTION_KEY changed): an admin has
    to enter it again. Nothing was sent to Salesforce."""


class CalledInTransactionError(RuntimeError):
    """Salesforce was called while a database transaction was open: a bug, never retried."""


def transaction_guard() -> None:
    """Refuse to call Salesforce inside an open atomic block (STYLE: network time must not
    hold row locks, and a rollback cannot take back what Salesforce was sent).

    The blocks a test run opens around each test (pytest-django's `db`, Django's TestCase,
    marked `_from_testcase`) do not count, as for Django's `atomic(durable=True)`: the check
    sees the code under test as production runs it."""
    opened = [block for block in db.atomic_blocks if not getattr(block, "_from_testcase", False)]
    if opened:
        raise CalledInTransactionError(
            "Salesforce called inside a database transaction: call it before the atomic "
            "block or after it commits (transaction.on_commit)."
        )


# Error codes Salesforce answers with that a retry can cure.
TRANSIENT_CODES = {"UNABLE_TO_LOCK_ROW", "REQUEST_LIMIT_EXCEEDED", "SERVER_UNAVAILABLE"}


class RecordStatus(StrEnum):
    """What one record's answer in an sObject Collections call means for the sync."""

    OK = "ok"
    TRANSIENT = "transient"  # a retry can cure it (a locked row, a busy org)
    GONE = "gone"  # the record no longer exists in Salesforce
    PERMANENT = "permanent"  # Salesforce refuses the values: a person has to act


# A record that is not there (any more). INVALID_CROSS_REFERENCE_KEY means "no such Id" only
# when the Id is the record's own (a delete); on an update it names a bad lookup value.
GONE_CODES = {"ENTITY_IS_DELETED", "NOT_FOUND"}
GONE_ON_DELETE_CODES = GONE_CODES | {"INVALID_CROSS_REFERENCE_KEY"}


@dataclass(frozen=True)
class RecordResult:
    status: RecordStatus
    id: str = ""
    code: str = ""
    message: str = ""

    @property
    def failure(self) -> Failure:
        return Failure(self.message, kind_of(self.code), self.code)


def record_result(answer: RecordAnswer, *, deleting: bool = False) -> RecordResult:
    """Classify one record's answer of a collection call (create, update, upsert, delete)."""
    if answer.get("success"):
        return RecordResult(RecordStatus.OK, id=answer.get("id") or "")
    errors = answer.get("errors") or []
    first: RecordError = errors[0] if errors else {"statusCode": "", "message": ""}
    code = first.get("statusCode", "")
    fields = first.get("fields") or []
    message = f"{code}: {first.get('message', '')}" + (f" ({', '.join(fields)})" if fields else "")
    if code in (GONE_ON_DELETE_CODES if deleting else GONE_CODES):
        status = RecordStatus.GONE
    elif code in TRANSIENT_CODES:
        status = RecordStatus.TRANSIENT
    else:
        status = RecordStatus.PERMANENT
    return RecordResult(status, id=answer.get("id") or "", code=code, message=message)


@dataclass(frozen=True)
class Credentials:
    login_url: str
    client_id: str
    # Out of repr: a debug page or a log line that prints the credentials shows no secret.
    client_secret: str = field(repr=False)
    api_version: str = "59.0"
    ca_bundle: str = ""
    timeout: float = TIMEOUT_SECONDS


class _CallClock(threading.local):
    answered: tuple[dt.datetime, float] | None = None
    started_by: dt.datetime | None = None


class _Deadline(threading.local):
    """When the call under way must be over (time.monotonic()), per thread; None between calls."""

    at: float | None = None


class _VerifyAdapter(HTTPAdapter):
    """Forces certificate verification against the connection's CA bundle on every request,
    and gives each request what is left of its call's budget as its timeout.

    requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override Session.verify, so setting
    `session.verify` is silently ignored on machines that set them; the adapter always wins.
    """

    def __init__(
        self,
        verify: str | bool,
        timeout: float = TIMEOUT_SECONDS,
        deadline: _Deadline | None = None,
    ) -> None:
        super().__init__()
        self._verify = verify
        self._timeout = timeout
        self._deadline = deadline or _Deadline()

    def _default_timeout(self) -> "TimeoutType":
        if self._deadline.at is None:
            return self._timeout
        # urllib3's total: connecting and waiting for the answer share what is left, so the
        # request cannot take the whole budget twice (a float would allow connect + read).
        # (HTTPAdapter.send documents "float or tuple or urllib3 Timeout object"; the type
        # stubs list only the first two.)
        left = max(self._deadline.at - time.monotonic(), 0.001)
        return cast("TimeoutType", urllib3.Timeout(total=left))

    def send(
        self,
        request: requests.PreparedRequest,
        stream: bool = False,
        timeout: "TimeoutType" = None,
        verify: "VerifyType" = True,
        cert: "CertType" = None,
        proxies: dict[str, str] | None = None,
    ) -> requests.Response:
        return super().send(
            request,
            stream=stream,
            timeout=self._default_timeout() if timeout is None else timeout,
            verify=self._verify,
            cert=cert,
            proxies=proxies,
        )


def http_session(
    ca_bundle: str = "", timeout: float = TIMEOUT_SECONDS, deadline: _Deadline | None = None
) -> requests.Session:
    session = requests.Session()
    adapter = _VerifyAdapter(ca_bundle or True, timeout, deadline)
    session.mount("https://", adapter)
    return session


def _first_error(body: Any) -> tuple[str, str]:
    if isinstance(body, list) and body and isinstance(body[0], dict):
        return str(body[0].get("errorCode", "")), str(body[0].get("message", ""))
    if isinstance(body, dict):
        return str(body.get("errorCode", body.get("error", ""))), str(
            body.get("message", body.get("error_description", ""))
        )
    return "", str(body)


def _never_connected(exc: Exception) -> bool:
    """A connection that was never made (refused, no route, no such host): nothing was sent."""
    reason = getattr(exc.args[0], "reason", None) if exc.args else None
    return isinstance(reason, urllib3.exceptions.NewConnectionError)


def classify(exc: Exception) -> SalesforceError:
    """Turn a simple-salesforce or requests exception into a transient or permanent error."""
    if isinstance(exc, SalesforceError):
        return exc
    if isinstance(exc, requests.exceptions.SSLError):
        return PermanentError(f"TLS verification failed: {exc}", code="SSL_ERROR")
    if isinstance(exc, requests.exceptions.ConnectTimeout) or _never_connected(exc):
        return TransientError(f"Salesforce unreachable: {exc}", code="CONNECTION_ERROR")
    if isinstance(exc, requests.exceptions.ConnectionError | requests.exceptions.Timeout):
        return UncertainError(f"Salesforce did not answer: {exc}", code="CONNECTION_ERROR")
    if isinstance(exc, sf_exc.SalesforceError):
        code, message = _first_error(exc.content)
        status = exc.status
        text = f"{code}: {message}" if code else message or str(exc)
        if isinstance(exc, sf_exc.SalesforceExpiredSession):
            return AuthError(text, code=code or "INVALID_SESSION_ID", status=status)
        return _by_status(text, code, status)
    raise exc


def _by_status(text: str, code: str, status: int) -> SalesforceError:
    """A refused call or subrequest by its HTTP status and Salesforce's error code: a server
    error may have applied the write (uncertain), an overload or a retryable code is transient,
    the rest permanent."""
    if status in (500, 502, 504) and code not in TRANSIENT_CODES:
        return UncertainError(text, code=code, status=status)
    if code in TRANSIENT_CODES or status in (500, 502, 503, 504):
        return TransientError(text, code=code, status=status)
    return PermanentError(text, code=code, status=status)


# Salesforce's own domains: an org's instance (na1.salesforce.com, acme.my.salesforce.com,
# acme.sandbox.my.salesforce.com, the government cloud's .salesforce.mil) is under one.
SALESFORCE_DOMAINS = ("salesforce.com", "force.com", "cloudforce.com", "salesforce.mil")


def _origin(url: str) -> tuple[str, str, int] | None:
    """(scheme, host, port) of a URL without credentials in it; None when there is none."""
    try:
        parts = urlsplit(url)
        port = parts.port or (443 if parts.scheme == "https" else 80)
    except ValueError:
        return None
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return None
    if parts.username or parts.password:
        return None
    return parts.scheme, parts.hostname.lower().rstrip("."), port


def instance_url_trusted(instance_url: str, login_url: str) -> bool:
    """Whether the instance_url a login answered with may become the client's base and the
    'Open in Salesforce' link: the login URL's own origin (its scheme was checked when the
    connection was saved), or an https host under Salesforce's domains or named in
    SYNC_TRUSTED_INSTANCE_HOSTS ('host', 'host:port', or '.example.com' for its subdomains)."""
    origin = _origin(instance_url)
    if origin is None or urlsplit(instance_url).path not in ("", "/"):
        return False
    if origin == _origin(login_url):
        return True
    scheme, host, port = origin
    if scheme != "https":
        return False
    if port == 443 and any(host == d or host.endswith("." + d) for d in SALESFORCE_DOMAINS):
        return True
    for entry in settings.SYNC_TRUSTED_INSTANCE_HOSTS:
        entry = entry.strip().lower()
        if entry.startswith(".") and port == 443 and host.endswith(entry):
            return True
        if entry == f"{host}:{port}" or (entry == host and port == 443):
            return True
    return False


class LoginAnswer(NamedTuple):
    access_token: str
    instance_url: str
    # The user Cockpit acts as (the identity URL's last part; "" when the answer names none):
    # change events it committed are the echoes of its own writes.
    user_id: str = ""


def _login_answer(body: Any, login_url: str) -> LoginAnswer:
    """What a 200 answer says, or LoginAnswerError saying what was wrong with it."""
    if not isinstance(body, dict):
        raise LoginAnswerError("Login answer malformed: not a JSON object.", code="MALFORMED")
    token, instance_url = body.get("access_token"), body.get("instance_url")
    if not isinstance(token, str) or not token:
        raise LoginAnswerError("Login answer malformed: no access_token.", code="MALFORMED")
    if not isinstance(instance_url, str) or not instance_url:
        raise LoginAnswerError("Login answer malformed: no instance_url.", code="MALFORMED")
    instance_url = instance_url.rstrip("/")
    if not instance_url_trusted(instance_url, login_url):
        raise LoginAnswerError(
            f"Login answered with an untrusted instance_url {instance_url[:200]!r}: Cockpit "
            "accepts https hosts under Salesforce's domains, the login URL's own host, or "
            "those in SYNC_TRUSTED_INSTANCE_HOSTS.",
            code="UNTRUSTED_INSTANCE_URL",
        )
    identity = body.get("id")
    user_id = identity.rstrip("/").rsplit("/", 1)[-1] if isinstance(identity, str) else ""
    return LoginAnswer(token, instance_url, user_id if SALESFORCE_ID.match(user_id) else "")


SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}(?:[a-zA-Z0-9]{3})?$")


@sensitive_variables("creds")
def token_fetch(creds: Credentials, session: requests.Session) -> LoginAnswer:
    """OAuth 2.0 client credentials flow against the connection's login URL."""
    transaction_guard()
    url = creds.login_url.rstrip("/") + "/services/oauth2/token"
    try:
        response = session.post(
            url,
            data={
                "grant_type": "client_credentials",
                "client_id": creds.client_id,
                "client_secret": creds.client_secret,
            },
        )
    except requests.exceptions.RequestException as exc:
        # Not chained: requests' frames hold the encoded body, client_secret included, and a
        # debug page prints a cause's frames (classify keeps the reason in the message).
        raise classify(exc) from None
    if response.status_code >= 500:
        raise TransientError(
            f"Login failed with HTTP {response.status_code}", status=response.status_code
        )
    try:
        body = response.json()
    except ValueError:
        body = {}
    if response.status_code != 200:
        error = body.get("error", "") if isinstance(body, dict) else ""
        description = body.get("error_description", "") if isinstance(body, dict) else ""
        raise AuthError(
            f"Login refused: {error or response.status_code} {description}".strip(),
            code=str(error)[:100],
            status=response.status_code,
        )
    return _login_answer(body, creds.login_url)


class SalesforceClient:
    """A logged-in REST client for one connection; logs in again once when the session expires."""

    def __init__(self, creds: Credentials) -> None:
        self.creds = creds
        self._deadline = _Deadline()
        self.session = http_session(creds.ca_bundle, creds.timeout, self._deadline)
        self.session.hooks["response"].append(self._track_usage)
        self._sf: Salesforce | None = None
        self.api_usage: tuple[int, int] | None = None
        self.calls = 0
        self._calls_lock = threading.Lock()
        # Per thread (calls may be in flight together, `in_flight`): Salesforce's clock from
        # the Date header of the last answer and when it came, and a moment no later than the
        # start of the last call on Salesforce's clock.
        self._clock = _CallClock()
        self.user_id = ""  # the user Cockpit acts as, once logged in (LoginAnswer)

    def _track_usage(self, response: requests.Response, *args: Any, **kwargs: Any) -> None:
        # Every REST answer carries Sforce-Limit-Info: api-usage=N/MAX. simple-salesforce only
        # parses it on some calls, so the session hook reads it on all of them.
        if "/services/data/" in response.url:  # OAuth token calls do not count
            with self._calls_lock:
                self.calls += 1
        match = USAGE_RE.search(response.headers.get("Sforce-Limit-Info", ""))
        if match:
            self.api_usage = (int(match.group(1)), int(match.group(2)))
        try:
            date = parsedate_to_datetime(response.headers.get("Date", ""))
        except (TypeError, ValueError, IndexError):
            return
        if date.tzinfo is not None:
            self._clock.answered = (date, time.monotonic())

    @property
    def call_started_by(self) -> dt.datetime | None:
        """A moment no later than the start of this thread's last call, on Salesforce's clock
        (None when its answer carried no Date): what a read made by that call saw was there
        by then."""
        return self._clock.started_by

    def _login(self) -> Salesforce:
        answer = token_fetch(self.creds, self.session)
        self.user_id = answer.user_id
        self._sf = Salesforce(
            instance_url=answer.instance_url,
            session_id=answer.access_token,
            session=self.session,
            version=self.creds.api_version,
        )
        return self._sf

    @property
    def sf(self) -> Salesforce:
        return self._sf or self._login()

    def bearer(self, *, fresh: bool = False) -> tuple[str, str]:
        """The instance URL and session token, for the Streaming API (which is not REST);
        `fresh` logs in again first (the token was refused)."""
        try:
            sf = self._login() if fresh or self._sf is None else self._sf
        except SalesforceError:
            raise
        except Exception as exc:  # noqa: BLE001 - classified right here, never swallowed
            raise classify(exc) from exc
        return f"https://{sf.sf_instance}", sf.session_id

    def call(self, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        """Call a simple-salesforce method by path ('Task.describe', 'query_all', ...).

        One budget (creds.timeout) covers the whole call: a login if needed, the request, and
        after an expired session one more login and the request again. Each HTTP request
        waits at most what is left of it, so the engine lease, renewed just before the call
        with the budget and a margin ahead (sync/lease.py), covers the whole call."""
        transaction_guard()
        guard = call_guard.get()
        if guard is not None:
            guard()
        started = time.monotonic()
        deadline = self._deadline.at = started + self.creds.timeout
        self._clock.answered = None
        try:
            answer = self._call(deadline, fn_name, *args, **kwargs)
        finally:
            self._deadline.at = None
        # The Date header is Salesforce's clock to the second, taken no earlier than the call
        # began: less the time the call took, a moment no later than its start.
        self._clock.started_by = None
        if self._clock.answered is not None:
            date, came = self._clock.answered
            self._clock.started_by = date - dt.timedelta(seconds=came - started)
        return answer

    def in_flight(
        self,
        calls: Sequence[Callable[[], T]],
        *,
        at_once: int = IN_FLIGHT,
        go_on: Callable[[], bool] = lambda: True,
    ) -> Iterator[tuple[int, T | Exception, dt.datetime | None]]:
        """Run `calls` (each one Salesforce call through this client), up to `at_once` at a
        time, each in a thread of its own; yields (its index, its answer or the exception it
        raised, call_started_by) in the caller's thread as each one ends. Salesforce takes
        concurrent requests of one session.

        The call guard (the lease renewal) runs in the caller's thread just before each call
        starts, so a call never starts under a lost lease and each starts with a whole lease
        period ahead; the threads touch no database. What the answers mean is recorded by the
        caller, between two answers, under its own fence. A caller that stops early (an
        exception) leaves the calls in flight to end unheard, and starts no more; once
        `go_on()` is false (asked before each start) no more start either, and those never
        started are not yielded."""
        guard = call_guard.get()
        transaction_guard()
        if len(calls) <= 1 or at_once <= 1:
            # Nothing to overlap: in the caller's thread.
            yield from self._in_turn(calls, guard, go_on)
            return
        try:
            self.bearer()  # logged in once here, not once in each thread
        except SalesforceError as exc:
            # What each call would have met: answered for each, as a failed call would be.
            for number in range(len(calls)):
                if not go_on():
                    return
                yield number, exc, None
            return
        yield from self._in_threads(calls, guard, at_once, go_on)

    def _in_turn(
        self,
        calls: Sequence[Callable[[], T]],
        guard: Callable[[], None] | None,
        go_on: Callable[[], bool],
    ) -> Iterator[tuple[int, T | Exception, dt.datetime | None]]:
        """`in_flight`'s calls one after another, in the caller's thread."""
        for number, call in enumerate(calls):
            if not go_on():
                return
            if guard is not None:
                guard()  # outside the try: a lost lease stops the caller
            unguarded = call_guard.set(None)
            try:
                answer: T | Exception = call()
            except Exception as exc:  # noqa: BLE001 - handed to the caller
                answer = exc
            finally:
                call_guard.reset(unguarded)
            yield number, answer, self.call_started_by

    def _in_threads(
        self,
        calls: Sequence[Callable[[], T]],
        guard: Callable[[], None] | None,
        at_once: int,
        go_on: Callable[[], bool],
    ) -> Iterator[tuple[int, T | Exception, dt.datetime | None]]:
        """`in_flight`'s calls in threads, up to `at_once` at a time, each started in the
        caller's thread after the guard; a caller that stops early leaves the rest unstarted."""
        pool = ThreadPoolExecutor(max_workers=min(at_once, len(calls)))
        pending: dict[Future[tuple[T | Exception, dt.datetime | None]], int] = {}
        waiting = iter(enumerate(calls))
        try:
            while True:
                while len(pending) < at_once and go_on():
                    item = next(waiting, None)
                    if item is None:
                        break
                    if guard is not None:
                        guard()
                    pending[pool.submit(self._thread_answer, item[1])] = item[0]
                if not pending:
                    return
                done, _ = wait(pending, return_when=FIRST_COMPLETED)
                for future in done:
                    answer, started_by = future.result()
                    yield pending.pop(future), answer, started_by
        finally:
            pool.shutdown(wait=False, cancel_futures=True)

    def _thread_answer(self, call: Callable[[], T]) -> tuple[T | Exception, dt.datetime | None]:
        """One call in a thread of `_in_threads`: its answer or the exception it raised, and
        when Salesforce saw it start (read in the same thread)."""
        try:
            answer: T | Exception = call()
        except Exception as exc:  # noqa: BLE001 - handed to the caller, never swallowed
            answer = exc
        return answer, self.call_started_by

    def _call(self, deadline: float, fn_name: str, *args: Any, **kwargs: Any) -> Any:
        for attempt in (1, 2):
            if attempt == 2 and time.monotonic() >= deadline:
                # The refused request changed nothing, and nothing else has been sent.
                raise TransientError(
                    f"Salesforce took longer than {self.creds.timeout:g} s to log in again",
                    code="CONNECTION_ERROR",
                )
            target: Any = self.sf
            for part in fn_name.split("."):
                target = getattr(target, part)
            try:
                return target(*args, **kwargs)
            except Exception as exc:  # noqa: BLE001 - classified right here, never swallowed
                error = classify(exc)
                if isinstance(error, AuthError) and attempt == 1 and self._sf is not None:
                    log.info("Salesforce session expired; logging in again")
                    self._sf = None
                    continue
                raise error from exc
        raise AssertionError("unreachable")

    # simple-salesforce answers with untyped JSON: each method below says what Salesforce's
    # REST API documents for its call (sync/sf_types.py).

    def limits(self) -> Limits:
        return cast(Limits, self.call("limits"))

    def task_describe(self) -> SObjectDescribe:
        return cast(SObjectDescribe, self.call(f"{TASK_SOBJECT}.describe"))

    def users(self) -> list[SalesforceUser]:
        result = cast(
            QueryPage,
            self.call(
                "query_all", "SELECT Id, Email, Name, IsActive FROM User WHERE IsActive = true"
            ),
        )
        return cast(list[SalesforceUser], result["records"])

    # sObject Collections: up to 200 records a call (DESIGN rule 10). simple-salesforce has no
    # helper for them, so they go through restful().

    def collection(
        self,
        method: str,
        path: str,
        records: list[SalesforceRecord],
        *,
        sobject: str = TASK_SOBJECT,
    ) -> list[RecordAnswer]:
        """One sObject Collections write: `path` is composite/sobjects (POST creates, PATCH
        updates) or composite/sobjects/{sobject}/{external id field} (PATCH upserts)."""
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        return cast(list[RecordAnswer], self.call("restful", path, method=method, json=body))

    def collection_upsert(
        self, sobject: str, external_id_field: str, records: list[SalesforceRecord]
    ) -> list[RecordAnswer]:
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        return cast(
            list[RecordAnswer],
            self.call(
                "restful",
                f"composite/sobjects/{sobject}/{external_id_field}",
                method="PATCH",
                json=body,
            ),
        )

    def collection_create(
        self, sobject: str, records: list[SalesforceRecord]
    ) -> list[RecordAnswer]:
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        return cast(
            list[RecordAnswer],
            self.call("restful", "composite/sobjects", method="POST", json=body),
        )

    def collection_update(
        self, sobject: str, records: list[SalesforceRecord]
    ) -> list[RecordAnswer]:
        body = {
            "allOrNone": False,
            "records": [{"attributes": {"type": sobject}, **r} for r in records],
        }
        return cast(
            list[RecordAnswer],
            self.call("restful", "composite/sobjects", method="PATCH", json=body),
        )

    def collection_delete(self, ids: list[str]) -> list[RecordAnswer]:
        return cast(
            list[RecordAnswer],
            self.call(
                "restful",
                "composite/sobjects",
                method="DELETE",
                params={"ids": ",".join(ids), "allOrNone": "false"},
            ),
        )

    def composite(
        self, subrequests: list[CompositeSubrequest], *, all_or_none: bool = False
    ) -> list[CompositeAnswer]:
        """A Composite call: up to 25 subrequests (5 of them collections or queries) that
        Salesforce counts as one API call; each answer in the order sent. Subrequest URLs
        start with `data_path()`."""
        answer = self.call(
            "restful",
            "composite",
            method="POST",
            json={"allOrNone": all_or_none, "compositeRequest": subrequests},
        )
        return cast(list[CompositeAnswer], answer["compositeResponse"])

    def collections(
        self, writes: list[tuple[str, str, list[SalesforceRecord]]], *, sobject: str = TASK_SOBJECT
    ) -> list[list[RecordAnswer] | SalesforceError]:
        """Up to 5 sObject Collections writes in one Composite call (one API call), in order:
        (method, path under the data path, records) each; a DELETE's records are {"id": ...}
        (they go as its `ids`). Each answers its records' answers, or the error the whole
        collection met (`subrequest_error`)."""
        prefix = self.data_path()
        subrequests: list[CompositeSubrequest] = []
        for number, (method, path, records) in enumerate(writes):
            if method == "DELETE":
                ids = ",".join(str(r["id"]) for r in records)
                query = urlencode({"ids": ids, "allOrNone": "false"}, safe=",")
                subrequests.append(
                    {
                        "method": method,
                        "url": f"{prefix}{path}?{query}",
                        "referenceId": f"write{number}",
                    }
                )
                continue
            subrequests.append(
                {
                    "method": method,
                    "url": prefix + path,
                    "referenceId": f"write{number}",
                    "body": {
                        "allOrNone": False,
                        "records": [{"attributes": {"type": sobject}, **r} for r in records],
                    },
                }
            )
        answers = self.composite(subrequests)
        return [
            cast(list[RecordAnswer], answer["body"])
            if answer["httpStatusCode"] == 200
            else subrequest_error(answer)
            for answer in answers
        ]

    def queries(self, soqls: list[str]) -> list[QueryPage]:
        """Up to 5 SOQL queries in one Composite call (one API call): each one's first page
        (`pages_after` reads the rest). A query Salesforce refuses fails the whole read."""
        prefix = self.data_path()
        answers = self.composite(
            [
                {
                    "method": "GET",
                    "url": f"{prefix}query?q={quote_plus(soql)}",
                    "referenceId": f"query{number}",
                }
                for number, soql in enumerate(soqls)
            ]
        )
        pages = []
        for answer in answers:
            if answer["httpStatusCode"] != 200:
                raise subrequest_error(answer)
            pages.append(cast(QueryPage, answer["body"]))
        return pages

    def query_first(self, soql: str) -> QueryPage:
        """A query's first page (up to 2,000 records; `pages_after` reads the rest)."""
        return cast(QueryPage, self.call("query", soql))

    def pages_after(self, page: QueryPage) -> Iterator[list[SalesforceRecord]]:
        """The pages after a query's first page, one call each."""
        while not page.get("done", True) and page.get("nextRecordsUrl"):
            page = cast(
                QueryPage, self.call("query_more", page["nextRecordsUrl"], identifier_is_url=True)
            )
            yield [dict(r) for r in page["records"]]

    def data_path(self) -> str:
        """The REST API's path prefix, for a Composite subrequest's url."""
        return f"/services/data/v{self.creds.api_version}/"

    def query_pages(
        self, soql: str, *, include_deleted: bool = False
    ) -> Iterator[list[SalesforceRecord]]:
        """SOQL results page by page (up to 2,000 records a call), never all in memory."""
        page = cast(QueryPage, self.call("query", soql, include_deleted=include_deleted))
        while True:
            yield [dict(r) for r in page["records"]]
            if page.get("done", True) or not page.get("nextRecordsUrl"):
                return
            page = cast(
                QueryPage,
                self.call(
                    "query_more",
                    page["nextRecordsUrl"],
                    identifier_is_url=True,
                    include_deleted=include_deleted,
                ),
            )

    def deleted(self, sobject: str, start: dt.datetime, end: dt.datetime) -> DeletedAnswer:
        """getDeleted. simple-salesforce builds a broken URL from naive datetimes: UTC only."""
        if start.tzinfo is None or end.tzinfo is None:
            raise ValueError("getDeleted needs aware datetimes")
        return cast(
            DeletedAnswer,
            self.call(f"{sobject}.deleted", start.astimezone(dt.UTC), end.astimezone(dt.UTC)),
        )


COLLECTION_LIMIT = 200
COMPOSITE_LIMIT = 25  # subrequests in one Composite call
COMPOSITE_COLLECTIONS = 5  # of which sObject Collections or queries


def subrequest_error(answer: CompositeAnswer) -> SalesforceError:
    """A failed Composite subrequest, classified as `classify` does a failed call."""
    status = answer["httpStatusCode"]
    code, message = _first_error(answer.get("body"))
    text = f"{code}: {message}" if code else message or f"HTTP {status}"
    if status == 401:
        return AuthError(text, code=code or "INVALID_SESSION_ID", status=status)
    return _by_status(text, code, status)


SALESFORCE_ID = re.compile(r"^[a-zA-Z0-9]{15}([a-zA-Z0-9]{3})?$")


def soql_ids(ids: list[str]) -> str:
    """A quoted SOQL list of Salesforce Ids; anything that is not an Id is refused, so no
    value from outside can change the query."""
    bad = [i for i in ids if not SALESFORCE_ID.match(i)]
    if bad:
        raise ValueError(f"Not Salesforce Ids: {bad[:3]}")
    return ", ".join(f"'{i}'" for i in ids)
