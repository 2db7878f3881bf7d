"""The whole stack as `make run` runs it, as real subprocesses, for end-to-end tests.

`Stack(workdir)` migrates a private SQLite database under `workdir/var`, creates the first
admin, and starts the Salesforce emulator, the web app under gunicorn, a Celery worker and
Celery beat, each with its own environment and log file, as the Procfile does. Nothing is
mocked and nothing is shared with the test process but the network: tests drive it over HTTP.

`Stack(workdir, database="env")` runs over a private PostgreSQL database instead when the test
process's DATABASE_URL points at a PostgreSQL server (CI's second pass): created on that server
at start, dropped at stop. The broker is CELERY_BROKER_URL's (Redis in that pass), else the
filesystem transport under `workdir/var`. The change-event listener (`manage.py sync_stream`)
starts on demand, and any process can be killed as a crash would (`Service.kill`).

Every wait is bounded, so a stack that does not come up fails the test instead of hanging CI.
"""

from __future__ import annotations

import atexit
import contextlib
import itertools
import os
import secrets
import shutil
import signal
import socket
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, TypeVar
from urllib.parse import urlsplit, urlunsplit

import requests
from simple_salesforce import Salesforce

from tests.sfemu import EmulatorProcess, SalesforceEmulator

REPO_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 60.0
STOP_TIMEOUT = 15.0
ADMIN_USERNAME = "admin"
ADMIN_PASSWORD = "e2e-Admin-passw0rd"
ALICE_PASSWORD = "alice-E2e-passw0rd"
# Variables of the test process that would change what the stack's processes do.
DROPPED_ENV = (
    "DJANGO_SETTINGS_MODULE",  # pytest-django's; cockpit/celery.py sets its own
    "DJANGO_ALLOW_ASYNC_UNSAFE",  # the browser tests' conftest sets it
    "CELERY_TASK_ALWAYS_EAGER",  # the worker must run the tasks, not the web app
    "DATABASE_URL",
    "COCKPIT_VAR_DIR",
    "PORT",
    "PROMETHEUS_MULTIPROC_DIR",  # the test run's (tests/settings.py); the stack's is its var/
)

# What production sets and `make run` does not (DEBUG off, a secret key, the metrics token,
# JSON logs), and the worker's heartbeat every 3 s instead of 30: the stack the health,
# metrics and whole-stack tests share (`start_stack(env=PRODUCTION, keep=True)`).
METRICS_TOKEN = secrets.token_urlsafe(32)
PRODUCTION = {
    "DEBUG": "false",
    "SECRET_KEY": secrets.token_urlsafe(50),
    # TLS ends in front of the app in production; here the tests talk plain http.
    "SECURE_SSL_REDIRECT": "false",
    "METRICS_TOKEN": METRICS_TOKEN,
    "LOG_FORMAT": "json",
    "WORKER_HEARTBEAT_SECONDS": "3",
}

T = TypeVar("T")
_databases = itertools.count(1)  # private PostgreSQL databases made by this test process
# The first stack a process starts runs `migrate` and `createsuperuser`; what they made is kept
# (a SQLite file, or a PostgreSQL template database, by server) and copied for every later
# stack of the process: the same schema and admin, without ~10 s of start-up each.
_migrated: dict[str, str] = {}


def venv_bin() -> Path:
    """The bin folder holding gunicorn and celery: this interpreter's venv, else the repo's."""
    here = Path(sys.executable).parent  # not resolved: .venv/bin/python is a symlink
    if (here / "gunicorn").exists() and (here / "celery").exists():
        return here
    return REPO_ROOT / ".venv" / "bin"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(check: Callable[[], T | None], *, timeout: float, what: str, every: float = 0.2) -> T:
    """Call `check` until it returns something truthy; fail naming `what` after `timeout` s."""
    deadline = time.monotonic() + timeout
    last: Any = None
    while True:
        last = check()
        if last:
            return last
        if time.monotonic() > deadline:
            raise AssertionError(f"Timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


class Service:
    """One long-running process of the stack, in its own process group, logging to a file."""

    def __init__(self, name: str, command: list[str], env: dict[str, str], workdir: Path) -> None:
        self.name = name
        self.command = command
        self.env = env
        self.workdir = workdir
        self.log_path = workdir / "logs" / f"{name}.log"
        self.log_offset = 0  # where this start's output begins (a restart appends)
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        # A file, not a pipe: a full pipe nobody reads would block the process.
        with self.log_path.open("ab") as log:
            self.log_offset = log.tell()
            self.process = subprocess.Popen(  # noqa: S603
                self.command,
                cwd=self.workdir,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,  # its own group: the pool's children stop with it
            )

    @property
    def running(self) -> bool:
        return self.process is not None and self.process.poll() is None

    def log(self) -> str:
        if not self.log_path.exists():
            return ""
        return self.log_path.read_text(errors="replace")

    def wait_for_log(self, text: str, *, timeout: float = START_TIMEOUT) -> None:
        def seen() -> bool:
            if not self.running:
                raise RuntimeError(f"{self.name} exited at start-up:\n{self.log()[-4000:]}")
            return text in self.log()[self.log_offset :]

        wait_for(seen, timeout=timeout, what=f"{self.name} to log {text!r}")

    def kill(self) -> None:
        """SIGKILL the whole process group at once: a crash, not a shutdown. Nothing gets to
        finish its call, release a lease or hand a message back to the broker."""
        process, self.process = self.process, None
        if process is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)  # its own session: group id = its pid
        process.wait(timeout=STOP_TIMEOUT)

    def stop(self) -> None:
        """SIGTERM (Celery's warm shutdown, gunicorn's graceful stop), then SIGKILL the group."""
        self.terminate()
        self.reap()

    def terminate(self) -> None:
        """Ask for a graceful stop and return at once: `reap` waits for it. Services told
        together stop together, not one after another."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()

    def reap(self) -> None:
        """Wait for a terminated process (SIGKILL after STOP_TIMEOUT), then SIGKILL its group."""
        process, self.process = self.process, None
        if process is None:
            return
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)
        # Children that outlived their parent (a prefork pool process, a gunicorn worker).
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGKILL)


class Stack:
    """Emulator, web, worker and beat (and the stream listener, on demand) over one private
    database and broker.

    The processes run in `workdir`, not in the repository as the Procfile's do: kombu's
    filesystem transport keeps its exchange table in `./control` (cockpit/settings.py sets no
    `control_folder`), which would land in the source tree and be shared with `make run`.

    `database`: "sqlite" (the default) is a private SQLite file under `workdir/var`; "env" is a
    private database on the PostgreSQL server of the test process's DATABASE_URL when it names
    one, else the SQLite file. `env` adds to (or overrides) every process's environment.
    """

    def __init__(
        self,
        workdir: Path,
        *,
        worker_args: tuple[str, ...] = (),
        database: Literal["sqlite", "env"] = "sqlite",
        env: Mapping[str, str] | None = None,
        emulator_args: tuple[str, ...] = (),
    ) -> None:
        self.workdir = workdir
        self.worker_args = worker_args  # added to the worker's command line
        self.var_dir = workdir / "var"
        self.log_dir = workdir / "logs"
        self.var_dir.mkdir(parents=True, exist_ok=True)
        self.log_dir.mkdir(parents=True, exist_ok=True)
        self.bin = venv_bin()
        self.broker_url = os.environ.get("CELERY_BROKER_URL") or "filesystem://"
        server = os.environ.get("DATABASE_URL", "")
        self.postgres_server = (
            server if database == "env" and server.startswith(("postgres:", "postgresql:")) else ""
        )
        self.postgres_database = ""  # its name once created
        self.database_url = f"sqlite:///{self.var_dir / 'cockpit.sqlite3'}"
        self.env = {k: v for k, v in os.environ.items() if k not in DROPPED_ENV}
        self.env.update(
            DEBUG="true",
            COCKPIT_VAR_DIR=str(self.var_dir),
            DATABASE_URL=self.database_url,
            CELERY_BROKER_URL=self.broker_url,
            LOG_LEVEL="INFO",
            PYTHONUNBUFFERED="1",
            # This checkout's code, whatever the venv's editable install points at; the
            # processes run in `workdir`, not in the repository (see the class docstring).
            PYTHONPATH=os.pathsep.join(
                [str(REPO_ROOT), *filter(None, [os.environ.get("PYTHONPATH")])]
            ),
        )
        self.env.update(env or {})
        self.emulator_process = EmulatorProcess(
            workdir / "sfemulator", seed="users", extra_args=emulator_args
        )
        self.emulator: SalesforceEmulator | None = None
        self.port = 0
        self.web: Service | None = None
        self.worker: Service | None = None
        self.beat: Service | None = None
        self.stream: Service | None = None
        self.extra_workers: list[Service] = []

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def description(self) -> str:
        """What the stack runs on, for the test output."""
        if self.postgres_server:
            database = f"PostgreSQL (database {self.postgres_database or '(not created yet)'})"
        else:
            database = "SQLite"
        broker = self.broker_url.split("://")[0]
        return f"{database} + {'filesystem' if broker == 'filesystem' else broker} broker"

    # ---- the private PostgreSQL database ----------------------------------------------------

    def _postgres(self, statement: str) -> None:
        import psycopg  # only where PostgreSQL is in use (psycopg is a dependency anyway)
        from psycopg.conninfo import make_conninfo

        # The server's maintenance database: the URL's own may not exist (pytest-django works
        # in test_<name>), and CREATE/DROP DATABASE cannot run inside a transaction.
        conninfo = make_conninfo(self.postgres_server, dbname="postgres")
        with psycopg.connect(conninfo, autocommit=True, connect_timeout=10) as conn:
            conn.execute(statement)  # type: ignore[arg-type]  # a name made here, not input

    def _postgres_create(self, *, template: str = "") -> None:
        name = f"cockpit_e2e_{os.getpid()}_{next(_databases)}"
        self._postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')  # a pid reused
        self._postgres(
            f'CREATE DATABASE "{name}"' + (f' TEMPLATE "{template}"' if template else "")
        )
        self.postgres_database = name
        parts = urlsplit(self.postgres_server)
        self.database_url = urlunsplit(parts._replace(path=f"/{name}"))
        self.env["DATABASE_URL"] = self.database_url

    def _postgres_drop(self) -> None:
        name, self.postgres_database = self.postgres_database, ""
        if name:
            # FORCE: a killed process's connection may linger until the server notices.
            self._postgres(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    # ---- one-off commands -------------------------------------------------------------------

    def run(
        self, *args: str, env: dict[str, str] | None = None, timeout: float = START_TIMEOUT
    ) -> str:
        """Run a command of the venv (`manage.py ...`, `celery ...`) to completion."""
        command = [str(self.bin / args[0]), *args[1:]]
        if args[0].endswith(".py"):
            command = [str(self.bin / "python"), str(REPO_ROOT / args[0]), *args[1:]]
        done = subprocess.run(  # noqa: S603
            command,
            cwd=self.workdir,
            env={**self.env, **(env or {})},
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )
        output = done.stdout + done.stderr
        with (self.log_dir / "commands.log").open("a") as log:
            log.write(f"$ {' '.join(args)}\n{output}\n")
        if done.returncode:
            raise RuntimeError(f"{' '.join(args)} failed ({done.returncode}):\n{output}")
        return output

    def sql(self, query: str) -> list[tuple[Any, ...]]:
        """Read the stack's database directly, for what no API shows (the engine lease, say).
        Tests change nothing this way: they drive the stack over HTTP."""
        if self.postgres_database:
            import psycopg

            with psycopg.connect(self.database_url, autocommit=True, connect_timeout=10) as conn:
                return list(conn.execute(query).fetchall())  # type: ignore[arg-type]
        import sqlite3

        with contextlib.closing(
            sqlite3.connect(self.var_dir / "cockpit.sqlite3", timeout=10)
        ) as db:
            return list(db.execute(query).fetchall())

    # ---- the processes ----------------------------------------------------------------------

    def start(self) -> None:
        self._database()
        # Every process at once: each spends seconds importing Django, and the machine's
        # cores start them side by side. Beat and the worker need only the database; what
        # they run before the sync is configured does nothing.
        self._spawn_web()
        self.worker = self._worker_service()
        self.worker.start()
        self.beat = Service(
            "beat",
            [str(self.bin / "celery"), "-A", "cockpit", "beat", "--loglevel", "INFO"],
            self.env,
            self.workdir,
        )
        self.beat.start()
        self.emulator_process.start(timeout=START_TIMEOUT)
        self.emulator = SalesforceEmulator(self.emulator_process)
        if wait_for(self._web_state, timeout=START_TIMEOUT, what="web's /healthz") != "up":
            self.web.stop()  # type: ignore[union-attr]  # another process took the port
            self.start_web()
        self.worker.wait_for_log(" ready.")
        self.beat.wait_for_log("beat: Starting")

    def _database(self) -> None:
        """Migrated, with the first admin: made here by the first stack of the process, copied
        from what it made for the others."""
        key = self.postgres_server or "sqlite"
        if self.postgres_server and not self.postgres_database:
            self._postgres_create(template=_migrated.get(key, ""))
        elif key in _migrated:
            with (
                contextlib.closing(sqlite3.connect(_migrated[key])) as source,
                contextlib.closing(sqlite3.connect(self.var_dir / "cockpit.sqlite3")) as copy,
            ):
                source.backup(copy)
        if key in _migrated:
            return
        self.run("manage.py", "migrate", "--noinput")
        self.run(
            "manage.py",
            "createsuperuser",
            "--noinput",
            env={
                "DJANGO_SUPERUSER_USERNAME": ADMIN_USERNAME,
                "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD,
                "DJANGO_SUPERUSER_EMAIL": "admin@example.com",
            },
        )
        if self.postgres_server:
            template = f"cockpit_e2e_{os.getpid()}_migrated"
            self._postgres(f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
            self._postgres(f'CREATE DATABASE "{template}" TEMPLATE "{self.postgres_database}"')
            atexit.register(self._postgres, f'DROP DATABASE IF EXISTS "{template}" WITH (FORCE)')
        else:
            folder = tempfile.mkdtemp(prefix="cockpit-e2e-migrated-")
            atexit.register(shutil.rmtree, folder, ignore_errors=True)
            template = str(Path(folder) / "cockpit.sqlite3")
            with (
                contextlib.closing(sqlite3.connect(self.var_dir / "cockpit.sqlite3")) as source,
                contextlib.closing(sqlite3.connect(template)) as copy,
            ):
                source.backup(copy)
        _migrated[key] = template

    def _spawn_web(self) -> None:
        self.port = free_port()
        self.web = Service(
            "web",
            [
                str(self.bin / "gunicorn"),
                "cockpit.wsgi",
                "--bind",
                f"127.0.0.1:{self.port}",
                "--workers",
                "2",
                "--access-logfile",
                "-",
                # Its own control socket: the default (~/.gunicorn/gunicorn.ctl) is shared
                # with `make run` and with other test runs on the machine.
                "--control-socket",
                str(self.workdir / "gunicorn.ctl"),
            ],
            {**self.env, "PORT": str(self.port)},
            self.workdir,
        )
        self.web.start()

    def start_web(self) -> None:
        for _attempt in range(3):  # another process may take the free port before gunicorn
            self._spawn_web()
            if wait_for(self._web_state, timeout=START_TIMEOUT, what="web's /healthz") == "up":
                return
            self.web.stop()  # type: ignore[union-attr]
        raise RuntimeError(f"gunicorn did not start:\n{self.web.log()[-4000:]}")  # type: ignore[union-attr]

    def _web_state(self) -> str | None:
        assert self.web is not None
        if not self.web.running:
            return "exited"
        try:
            answer = requests.get(f"{self.url}/healthz?check=database", timeout=2)
        except (requests.ConnectionError, requests.Timeout):
            return None  # not listening yet, or its first request is still loading Django
        return "up" if answer.status_code == 200 else None

    def start_worker(self) -> None:
        self.worker = self._worker_service()
        self.worker.start()
        self.worker.wait_for_log(" ready.")

    def _worker_service(self) -> Service:
        return Service(
            "worker",
            [
                str(self.bin / "celery"),
                "-A",
                "cockpit",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                "1",
                "--without-gossip",
                "--without-mingle",
                *self.worker_args,
            ],
            self.env,
            self.workdir,
        )

    def add_worker(self, name: str, *, concurrency: int = 1) -> Service:
        """Another Celery worker beside the first, under its own node name (`bench race` runs
        three); stopped with the stack."""
        worker = Service(
            name,
            [
                str(self.bin / "celery"),
                "-A",
                "cockpit",
                "worker",
                "--loglevel",
                "INFO",
                "--concurrency",
                str(concurrency),
                "--hostname",
                f"{name}@%h",
                "--without-gossip",
                "--without-mingle",
            ],
            self.env,
            self.workdir,
        )
        worker.start()
        worker.wait_for_log(" ready.")
        self.extra_workers.append(worker)
        return worker

    def stop_worker(self) -> None:
        if self.worker is not None:
            self.worker.stop()

    def start_stream(self) -> None:
        """The change-event listener, as the Procfile's `stream` process runs it (a restart
        appends to the same log)."""
        if self.stream is None:
            self.stream = Service(
                "stream",
                [str(self.bin / "python"), str(REPO_ROOT / "manage.py"), "sync_stream"],
                self.env,
                self.workdir,
            )
        self.stream.start()
        self.stream.wait_for_log("Listening to Salesforce change events")

    def restart_emulator(self) -> str:
        """Stop the emulator and start it again: same state file, CA and credentials, but a
        new port (the OS picks it). Returns the new login URL; Cockpit's connection still
        points at the old one until an admin changes it."""
        self.emulator_process.stop()
        self.emulator_process.start(timeout=START_TIMEOUT)
        self.emulator = SalesforceEmulator(self.emulator_process)
        return self.emulator.login_url

    def stop(self) -> None:
        # Beat first, so it queues nothing more for a worker that is going away; then the
        # others together: their graceful stops overlap instead of adding up.
        try:
            if self.beat is not None:
                self.beat.stop()
            others = [self.stream, self.worker, *self.extra_workers, self.web]
            services = [service for service in others if service is not None]
            for service in services:
                service.terminate()
            self.emulator_process.stop()
            for service in services:
                service.reap()
        finally:
            self._postgres_drop()

    def logs(self) -> str:
        parts = [f"===== the stack: {self.description}, in {self.workdir} ====="]
        for path in sorted(self.log_dir.glob("*.log")) + [self.emulator_process.log_path]:
            if path.exists():
                text = path.read_text(errors="replace")
                parts.append(f"===== {path.name} ({len(text)} chars, last 20000) =====")
                parts.append(text[-20000:])
        return "\n".join(parts)


class Api:
    """A REST client of Cockpit's /api/v1/, as an integrator uses it: token auth over HTTP."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        self.base_url = base_url.rstrip("/") + "/api/v1/"
        self.session = requests.Session()
        self.session.trust_env = False  # plain HTTP to 127.0.0.1: no proxy, no CA variables
        if token:
            self.session.headers["Authorization"] = f"Token {token}"

    @classmethod
    def login(cls, base_url: str, username: str, password: str) -> Api:
        answer = cls(base_url).call(
            "POST", "auth/token/", {"username": username, "password": password}
        )
        return cls(base_url, answer["token"])

    def request(self, method: str, path: str, json: Any = None) -> requests.Response:
        return self.session.request(method, self.base_url + path, json=json, timeout=30)

    def call(self, method: str, path: str, json: Any = None, *, expect: int = 0) -> Any:
        """The JSON answer; fails with the body unless the status is `expect` (or any 2xx)."""
        response = self.request(method, path, json)
        ok = response.status_code == expect if expect else response.ok
        assert ok, f"{method} {path} answered {response.status_code}: {response.text[:2000]}"
        return response.json() if response.content else None


# ---- sync configured through the API ---------------------------------------------------------


@dataclass
class Synced:
    """A started stack with sync configured, and the clients a test needs."""

    stack: Stack
    admin: Api
    alice: Api
    alice_id: int
    alice_salesforce_id: str
    connection_id: int
    sf: Salesforce
    latencies: dict[str, float]

    def measure(self, what: str, since: float, check: Callable[[], Any], *, bound: float) -> Any:
        """Poll `check` until it holds; record and print the seconds since the change."""
        result = wait_for(check, timeout=bound, what=what, every=0.1)
        self.latencies[what] = time.monotonic() - since
        print(f"  {what}: {self.latencies[what]:.1f} s")
        return result

    def sf_tasks(self, where: str, *, include_deleted: bool = False) -> list[dict[str, Any]]:
        soql = (
            f"SELECT Id, Subject, Status, OwnerId, ActivityDate, IsDeleted FROM Task WHERE {where}"
        )
        return self.sf.query_all(soql, include_deleted=include_deleted)["records"]


def sync_configure(stack: Stack, *, pull_interval_seconds: int = 10) -> Synced:
    """Configure the sync through the REST API, as an admin does: alice (a CSM) matched to the
    Salesforce user with her email, the emulator as the primary connection, sync on both ways."""
    emulator = stack.emulator
    assert emulator is not None
    emulator.reset(seed="users")  # the sales users, alice@example.com among them

    admin = Api.login(stack.url, ADMIN_USERNAME, ADMIN_PASSWORD)
    alice_user = admin.call(
        "POST",
        "users/",
        {"username": "alice", "email": "alice@example.com", "password": ALICE_PASSWORD},
        expect=201,
    )
    connection = admin.call(
        "POST",
        "sync/connections/",
        {
            "name": "Emulator",
            "login_url": emulator.login_url,
            "client_id": emulator.client_id,
            "client_secret": emulator.client_secret,
            "ca_bundle": emulator.ca_path,
            "is_primary": True,
        },
        expect=201,
    )
    report = admin.call("POST", f"sync/connections/{connection['id']}/test/")
    assert report["ok"], report
    matched = admin.call("POST", f"sync/connections/{connection['id']}/match-users/")
    assert "alice" in matched["matched"], matched
    alice_user = admin.call("GET", f"users/{alice_user['id']}/")
    assert alice_user["salesforce_user_id"], alice_user
    switches = admin.call(
        "PATCH",
        "sync/settings/",
        {
            "auto_sync": True,
            "bidirectional_sync": True,
            "pull_interval_seconds": pull_interval_seconds,
        },
    )
    assert switches["first_enabled_at"], switches
    return Synced(
        stack=stack,
        admin=admin,
        alice=Api.login(stack.url, "alice", ALICE_PASSWORD),
        alice_id=alice_user["id"],
        alice_salesforce_id=alice_user["salesforce_user_id"],
        connection_id=connection["id"],
        sf=emulator.simple_salesforce(),
        latencies={},
    )


# ---- the one stack tests keep between them (tests/conftest.py's `_kept`) ----------------

StackKey = tuple[tuple[tuple[str, str], ...], int, tuple[str, ...]]


@dataclass
class Kept:
    """The one stack a test asked to keep (`start_stack(keep=True)`), by the arguments it was
    started with. At most one: a stack started with other arguments stops it first, so no
    idle stack takes CPU from the tests that follow."""

    key: StackKey | None = None
    synced: Synced | None = None

    def take(self, key: StackKey) -> Synced | None:
        """The kept stack if it was started with `key` and is as a passing test leaves it;
        else stops whatever is kept."""
        synced, self.synced = self.synced, None
        if synced is None:
            return None
        if self.key == key and _reusable(synced):
            self.synced = synced
            return synced
        synced.stack.stop()
        return None

    def stop(self) -> None:
        synced, self.synced = self.synced, None
        if synced is not None:
            synced.stack.stop()


def _reusable(synced: Synced) -> bool:
    """Every process the stack started still running (a test that killed the worker started a
    new one); then back to no listener and no fault planned."""
    stack = synced.stack
    services = (stack.web, stack.worker, stack.beat)
    if not all(s is not None and s.running for s in services) or not stack.emulator_process.running:
        return False
    if stack.stream is not None:
        stack.stream.stop()
    assert stack.emulator is not None
    stack.emulator.clear_faults()
    return True
