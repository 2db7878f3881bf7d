"""Pytest fixtures that run the Salesforce emulator as a real HTTPS subprocess.

Use them from a conftest.py:

    from tests.sfemu import sfemu, sfemu_clean  # noqa: F401

`sfemu` (session scope) starts `python -m sfemulator serve --port 0 ...` in a temporary
directory, waits until it listens and yields a `SalesforceEmulator`; `sfemu_clean` (function
scope) resets its data, faults, request log and API usage first. Nothing is mocked: clients
talk HTTPS to the emulator and trust its CA (`ca_path`).

requests lets REQUESTS_CA_BUNDLE / CURL_CA_BUNDLE override `Session.verify`, and those are set
on many machines (this one included), so `session.verify = ca_path` alone is silently ignored.
`trusting_session()` mounts an adapter that forces `verify=ca_path` on every request instead.
"""

from __future__ import annotations

import os
import re
import secrets
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from requests.adapters import HTTPAdapter
from simple_salesforce import Salesforce

REPO_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_API_VERSION = "59.0"
SEED_PASSWORD = "sfemu-Passw0rd"  # every seeded user's password (sfemulator/seed.py)
_LISTENING = re.compile(r"sfemulator listening on (https://\S+)")


class CATrustingAdapter(HTTPAdapter):
    """Verifies TLS against one CA file, whatever the environment says."""

    def __init__(self, ca_path: str, **kwargs: Any) -> None:
        self.ca_path = ca_path
        super().__init__(**kwargs)

    def send(self, request: requests.PreparedRequest, **kwargs: Any) -> requests.Response:  # type: ignore[override]
        kwargs["verify"] = self.ca_path
        return super().send(request, **kwargs)


def trusting_session(ca_path: str | Path) -> requests.Session:
    session = requests.Session()
    session.verify = str(ca_path)
    session.mount("https://", CATrustingAdapter(str(ca_path)))
    return session


class EmulatorProcess:
    """One `python -m sfemulator serve` subprocess with its state and certificates."""

    def __init__(
        self,
        workdir: Path,
        *,
        client_id: str = "sfemu-test-client",
        client_secret: str | None = None,
        fault_secret: str | None = None,
        seed: str = "users",
        extra_args: tuple[str, ...] = (),
        state_path: Path | None = None,
        cert_dir: Path | None = None,
    ) -> None:
        self.workdir = workdir
        self.state_path = state_path or workdir / "state.sqlite3"
        self.cert_dir = cert_dir or workdir / "certs"
        self.ca_path = self.cert_dir / "ca.pem"
        self.log_path = workdir / "sfemulator.log"
        self.client_id = client_id
        self.client_secret = client_secret or secrets.token_urlsafe(16)
        self.fault_secret = fault_secret or secrets.token_urlsafe(16)
        self.seed = seed
        self.extra_args = extra_args
        self.base_url = ""
        self._process: subprocess.Popen[bytes] | None = None

    def start(self, timeout: float = 30.0) -> str:
        command = [
            sys.executable, "-m", "sfemulator", "serve",
            "--host", "127.0.0.1", "--port", "0",
            "--state", str(self.state_path), "--cert-dir", str(self.cert_dir),
            "--seed", self.seed, *self.extra_args,
        ]  # fmt: skip
        env = {
            **os.environ,
            "SFEMU_CLIENT_ID": self.client_id,
            "SFEMU_CLIENT_SECRET": self.client_secret,
            "SFEMU_FAULT_SECRET": self.fault_secret,
            "PYTHONPATH": os.pathsep.join(
                [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        }
        self.workdir.mkdir(parents=True, exist_ok=True)
        # A file, not a pipe: nobody reads the emulator's output after start-up, and a full
        # pipe would block it.
        with self.log_path.open("ab") as log:
            offset = log.tell()
            self._process = subprocess.Popen(  # noqa: S603
                command, cwd=REPO_ROOT, env=env, stdout=log, stderr=subprocess.STDOUT
            )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            output = self.log_path.read_bytes()[offset:].decode(errors="replace")
            found = _LISTENING.search(output)
            if found:
                self.base_url = found.group(1)
                return self.base_url
            if self._process.poll() is not None:
                raise RuntimeError(f"sfemulator exited at start-up:\n{output}")
            time.sleep(0.05)
        self.stop()
        raise RuntimeError(f"sfemulator did not start within {timeout} s")

    def stop(self) -> None:
        process, self._process = self._process, None
        if process is None or process.poll() is not None:
            return
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()

    @property
    def running(self) -> bool:
        return self._process is not None and self._process.poll() is None


class SalesforceEmulator:
    """What the `sfemu` fixture yields: addresses, credentials and admin helpers."""

    def __init__(self, process: EmulatorProcess) -> None:
        self.process = process
        self.session = trusting_session(process.ca_path)

    # Addresses and credentials ------------------------------------------------------------------

    @property
    def base_url(self) -> str:
        return self.process.base_url

    @property
    def login_url(self) -> str:
        return self.process.base_url

    @property
    def token_url(self) -> str:
        return f"{self.base_url}/services/oauth2/token"

    @property
    def ca_path(self) -> str:
        return str(self.process.ca_path)

    @property
    def client_id(self) -> str:
        return self.process.client_id

    @property
    def client_secret(self) -> str:
        return self.process.client_secret

    @property
    def fault_secret(self) -> str:
        return self.process.fault_secret

    def data_url(self, path: str = "", version: str = DEFAULT_API_VERSION) -> str:
        return f"{self.base_url}/services/data/v{version}/{path}"

    # Admin endpoint ----------------------------------------------------------------------

    def admin(self, method: str, name: str, json: Any = None) -> Any:
        response = self.session.request(
            method,
            f"{self.base_url}/__emulator/{name}",
            json=json,
            headers={"X-Emulator-Secret": self.fault_secret},
            timeout=30,
        )
        response.raise_for_status()
        return response.json()

    def reset(self, seed: str = "users") -> None:
        """Wipe data, faults, request log, API usage and clock offset; reseed (`users`: the
        integration user and the sales users; `demo` adds accounts and tasks; `none`)."""
        self.admin("POST", "reset", {"seed": seed})

    def set_faults(self, **plan: Any) -> dict[str, Any]:
        """Replace the fault plan (settings left out go back to their defaults):

        - latency_ms: added to every REST call;
        - error_rate, error_status (503/500), fail_next: calls answered with a server error;
        - lock_rate, lock_next: record writes failing with UNABLE_TO_LOCK_ROW;
        - api_limit_reached; include_oauth (latency and errors also on the token endpoint);
          seed (of the random generator); expire_tokens (one-shot);
        - late_commit_next, late_commit_ms (default 3000): the next N write calls take their
          SystemModstamp on arrival, wait late_commit_ms, then commit with that older stamp,
          so writes made meanwhile become visible first with later stamps;
        - apply_late_next, apply_late_ms (default 3000): the next N write calls wait
          apply_late_ms before they are applied (and stamped); a client that times out and
          retries sees its retry applied first and the original afterwards;
        - lose_answer_next: the next N write calls are applied and committed, then the
          connection is closed without an answer (requests raises ConnectionError).

        Write calls are record writes: POST/PATCH/DELETE on sobjects/ rows, upserts and the
        composite/sobjects collections; not queries, password calls or OAuth. A call refused
        before it runs (401, 403, an injected 503/500) does not count. The counters are
        exact and independent: each hits the next N write calls, and two of them at 1 hit
        the same call."""
        return self.admin("PUT", "faults", plan)

    def waiting_writes(self) -> int:
        """Write calls the emulator holds back right now (late_commit / apply_late)."""
        return int(self.admin("GET", "info")["waiting_writes"])

    def wait_for_waiting_writes(self, count: int, timeout: float = 10.0) -> None:
        """Return once `count` write calls are held back: the held call has arrived and, for
        a late commit, taken its stamp."""
        deadline = time.monotonic() + timeout
        while self.waiting_writes() != count:
            if time.monotonic() > deadline:
                raise TimeoutError(f"the emulator did not hold {count} write call(s) back")
            time.sleep(0.02)

    def clear_faults(self) -> None:
        self.admin("DELETE", "faults")

    def expire_tokens(self) -> None:
        self.admin("POST", "expire-tokens")

    def request_log(self) -> dict[str, Any]:
        """{total, logins, by_endpoint, by_user, by_status, api_usage, api_limit}."""
        return self.admin("GET", "requests")

    def reset_request_log(self) -> None:
        self.admin("DELETE", "requests")

    def api_calls(self) -> int:
        """REST calls received since the last reset (admin and token calls excluded)."""
        return int(self.request_log()["total"])

    def set_api_usage(self, used: int, maximum: int | None = None) -> None:
        self.admin("PUT", "api-usage", {"used": used, "max": maximum})

    def set_clock_offset(self, seconds: float) -> None:
        """Move the emulator's clock (not the test's) by `seconds` from real time."""
        self.admin("PUT", "clock", {"offset_seconds": seconds})

    @property
    def integration_user_id(self) -> str:
        return str(self.admin("GET", "info")["integration_user_id"])

    def profile_id(self, name: str = "Standard User") -> str:
        """A seeded profile's Id: "Standard User" or "System Administrator"."""
        return str(self.admin("GET", "info")["profile_ids"][name])

    def user_body(
        self,
        username: str,
        *,
        last_name: str = "User",
        email: str | None = None,
        profile: str = "Standard User",
        **fields: Any,
    ) -> dict[str, Any]:
        """A User to create, with every field Salesforce requires (Username, LastName, Email,
        Alias, TimeZoneSidKey, LocaleSidKey, EmailEncodingKey, ProfileId, LanguageLocaleKey);
        `fields` adds to or overrides them."""
        return {
            "Username": username,
            "LastName": last_name,
            "Email": email or username,
            "Alias": last_name[:8].lower() or "user",
            "TimeZoneSidKey": "America/Los_Angeles",
            "LocaleSidKey": "en_US",
            "EmailEncodingKey": "UTF-8",
            "LanguageLocaleKey": "en_US",
            "ProfileId": self.profile_id(profile),
            **fields,
        }

    # Streaming API (change events over CometD) ---------------------------------------------

    def cometd_url(self, version: str = DEFAULT_API_VERSION) -> str:
        """The Bayeux endpoint: `<instance URL>/cometd/<version>`."""
        return f"{self.base_url}/cometd/{version}"

    def streaming(self) -> dict[str, Any]:
        """{latest_replay_id, earliest_replay_id, retained_events, sessions, held_connects,
        handshakes, delivered_events, hung_up_connects, subscriptions, settings}."""
        return self.admin("GET", "streaming")

    def set_streaming(self, **settings: Any) -> dict[str, Any]:
        """Change streaming settings, the others keep their values (a reset restores them):
        timeout_ms (connect hold, 110000), max_interval_ms (40000), max_events (100000),
        overflow_threshold (100000), retention_hours (72)."""
        return self.admin("PUT", "streaming", settings)

    def latest_replay_id(self) -> int:
        """The replay id of the newest change event published (0 before any)."""
        return int(self.streaming()["latest_replay_id"])

    def force_stream_gap(
        self, ids: list[str], change_type: str = "UPDATE", entity: str = "Task"
    ) -> None:
        """Publish a header-only GAP_<change_type> event for these records, as Salesforce
        does for changes it cannot make change events of. For the next N writes' events to
        become gap events instead, use `set_faults(stream_gap_next=N)`; for GAP_OVERFLOW,
        `set_streaming(overflow_threshold=N)` and write more than N changes in one call."""
        self.admin("POST", "stream-gap", {"ids": ids, "change_type": change_type, "entity": entity})

    def undelete(self, ids: list[str], user_id: str | None = None) -> list[str]:
        """Restore records from the recycle bin (Salesforce's UI undelete; REST has none)."""
        return self.admin("POST", "undelete", {"ids": ids, "user_id": user_id})["undeleted"]

    # Clients ------------------------------------------------------------------------------------

    def requests_session(self) -> requests.Session:
        return trusting_session(self.ca_path)

    def token(self, username: str | None = None, password: str | None = None) -> dict[str, Any]:
        """An OAuth token: client_credentials (integration user) or, given a username and
        password, the password grant."""
        form = {"client_id": self.client_id, "client_secret": self.client_secret}
        if username is None:
            form["grant_type"] = "client_credentials"
        else:
            form.update(grant_type="password", username=username, password=password or "")
        response = self.session.post(self.token_url, data=form, timeout=30)
        response.raise_for_status()
        return response.json()

    def simple_salesforce(
        self,
        version: str = DEFAULT_API_VERSION,
        username: str | None = None,
        password: str | None = None,
    ) -> Salesforce:
        """A logged-in, unmodified simple_salesforce client (integration user by default)."""
        token = self.token(username, password)
        return Salesforce(
            instance_url=token["instance_url"],
            session_id=token["access_token"],
            session=self.requests_session(),
            version=version,
        )

    # Process ------------------------------------------------------------------------------------

    def restart(self) -> None:
        """Stop and start the same process (same state file, same CA); the port changes."""
        self.process.stop()
        self.process.start()


_SHARED: SalesforceEmulator | None = None


@pytest.fixture(scope="session")
def sfemu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SalesforceEmulator]:
    """One emulator for the whole session (shared even if several conftests import this)."""
    global _SHARED
    if _SHARED is None or not _SHARED.process.running:
        process = EmulatorProcess(tmp_path_factory.mktemp("sfemu"))
        process.start()
        _SHARED = SalesforceEmulator(process)
    emulator = _SHARED
    yield emulator
    emulator.process.stop()
    _SHARED = None


@pytest.fixture
def sfemu_clean(sfemu: SalesforceEmulator) -> SalesforceEmulator:
    """The session's emulator, reset to the `users` seed before the test."""
    sfemu.reset()
    return sfemu
