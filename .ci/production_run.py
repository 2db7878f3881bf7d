"""The production run's driver (called by .ci/production-run, which sets the environment).

Runs the Procfile's web, worker, beat and stream lines as they are, in a throwaway directory
that links the checkout's .venv and manage.py (so `var/` there is the run's own), against the
PostgreSQL database and Redis the caller chose; the Salesforce emulator stands in for the org.
Then it checks what an operator would: the deploy check, /healthz with every part, an API
login, a task reaching Salesforce, the metrics scrape and `sync_status`. Every process it
starts is stopped when it ends, failed or not; on failure the logs' tails are printed.
"""

from __future__ import annotations

import os
import re
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402

from tests.e2e import stack as e2e  # noqa: E402
from tests.e2e.stack import ADMIN_PASSWORD, Api, Service, sync_configure, wait_for  # noqa: E402
from tests.sfemu import EmulatorProcess, SalesforceEmulator  # noqa: E402

PROCESSES = ("web", "worker", "beat", "stream")
ADMIN_USERNAME = "admin"  # with tests/e2e/stack.py's password, which sync_configure signs in with
# The proxy in front terminates TLS and says so (SECURE_PROXY_SSL_HEADER); here curl's part.
PROXY_HEADERS = {"X-Forwarded-Proto": "https"}


class ProxiedApi(Api):
    """tests/e2e/stack.py's API client, behind the proxy: every request says it came over TLS."""

    def __init__(self, base_url: str, token: str | None = None) -> None:
        super().__init__(base_url, token)
        self.session.headers.update(PROXY_HEADERS)


e2e.Api = ProxiedApi  # type: ignore[misc]  # what sync_configure signs in with


def step(text: str) -> None:
    print(f"-- {text}", flush=True)


def procfile() -> dict[str, list[str]]:
    lines = {}
    for line in (REPO / "Procfile").read_text().splitlines():
        name, _, command = line.partition(":")
        if name.strip() in PROCESSES:
            lines[name.strip()] = command.strip()
    missing = set(PROCESSES) - set(lines)
    assert not missing, f"Procfile has no {', '.join(sorted(missing))} line"
    # $PORT as honcho expands it; the rest is the Procfile's own words.
    port = os.environ["PORT"]
    return {name: shlex.split(cmd.replace("$PORT", port)) for name, cmd in lines.items()}


def manage(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    done = subprocess.run(  # noqa: S603
        [".venv/bin/python", "manage.py", *args],
        cwd=workdir,
        env={**os.environ, "DJANGO_SUPERUSER_PASSWORD": ADMIN_PASSWORD},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    if check and done.returncode:
        raise RuntimeError(f"manage.py {' '.join(args)} failed:\n{done.stdout}{done.stderr}")
    return done


def deploy_check(workdir: Path) -> None:
    done = manage(workdir, "check", "--deploy", check=False)
    found = set(re.findall(r"\((security\.[WE]\d+)\)", done.stdout + done.stderr))
    assert done.returncode == 0 and found <= {"security.W004"}, done.stdout + done.stderr
    step(f"manage.py check --deploy: clean but HSTS ({', '.join(sorted(found)) or 'none'})")


def get(url: str, **kwargs: Any) -> requests.Response:
    headers = {**PROXY_HEADERS, **kwargs.pop("headers", {})}
    return requests.get(url, headers=headers, timeout=15, **kwargs)


def status_of(url: str) -> int | None:
    """The answer's status, or None while gunicorn starts."""
    try:
        return get(url).status_code
    except (requests.ConnectionError, requests.Timeout):
        return None  # a loaded machine: the first request loads Django in each worker


def run(workdir: Path) -> None:
    base = f"http://127.0.0.1:{os.environ['PORT']}"
    deploy_check(workdir)
    manage(workdir, "migrate", "--noinput", "-v", "0")
    manage(workdir, "collectstatic", "--noinput", "-v", "0")
    manage(
        workdir,
        "createsuperuser",
        "--noinput",
        "--username",
        ADMIN_USERNAME,
        "--email",
        "admin@example.com",
    )  # fmt: skip  (password: DJANGO_SUPERUSER_PASSWORD)
    step("migrated, static files collected, first admin created")

    emulator_process = EmulatorProcess(workdir / "sfemulator", seed="users")
    services = [Service(name, command, dict(os.environ), workdir)
                for name, command in procfile().items()]  # fmt: skip
    try:
        emulator_process.start(timeout=60)
        emulator = SalesforceEmulator(emulator_process)
        started = time.monotonic()
        for service in services:
            service.start()
            assert service.process is not None
            # For .ci/production-run's trap, should this driver be killed outright.
            (workdir / "var" / f"{service.name}.pid").write_text(str(service.process.pid))
        wait_for(lambda: status_of(f"{base}/healthz?check=database") == 200, timeout=90,
                 what="gunicorn to answer /healthz?check=database")  # fmt: skip
        step(f"web, worker, beat and stream started from the Procfile (web up in "
             f"{time.monotonic() - started:.1f} s)")  # fmt: skip
        assert get(f"{base}/accounts/login/").status_code == 200  # static + templates, DEBUG off
        plain = requests.get(f"{base}/accounts/login/", timeout=15, allow_redirects=False)
        assert plain.status_code == 301 and plain.headers["Location"].startswith("https://")

        stack = SimpleNamespace(url=base, emulator=emulator)
        synced = sync_configure(stack, pull_interval_seconds=10)  # type: ignore[arg-type]
        step("admin logged in through the API: connection tested, users matched, sync on")

        name = f"Production run {os.getpid()}"
        made_at = time.monotonic()
        task = synced.alice.call("POST", "tasks/", {"name": name}, expect=201)
        soql = f"SELECT Id FROM Task WHERE Subject = '{name}'"  # noqa: S608

        def arrived() -> bool:
            if not synced.sf.query_all(soql)["records"]:
                return False
            return synced.alice.call("GET", f"tasks/{task['id']}/")["sync"]["state"] == "synced"

        wait_for(arrived, timeout=60, what="alice's task in the emulator, synced", every=0.25)
        step(f"alice logged in, created a task: in Salesforce and synced "
             f"{time.monotonic() - made_at:.1f} s later")  # fmt: skip

        health = wait_for(
            lambda: (lambda r: r.json() if r.status_code == 200 else None)(get(f"{base}/healthz")),
            timeout=60,
            what="/healthz to answer 200 with every part",
        )
        step(f"/healthz 200: {health}")
        status = manage(workdir, "sync_status")
        step("manage.py sync_status exits 0:\n" + status.stdout.rstrip())

        token = os.environ["METRICS_TOKEN"]
        assert get(f"{base}/metrics").status_code == 401  # no token, no scrape
        scrape = get(f"{base}/metrics", headers={"Authorization": f"Bearer {token}"})
        assert scrape.status_code == 200, scrape.status_code
        pushed = re.search(
            r'^cockpit_sync_push_records_total\{outcome="pushed"\} (\S+)$', scrape.text, re.M
        )
        assert pushed and float(pushed.group(1)) >= 1, "the push is not in the scrape"
        step(f"/metrics scraped with METRICS_TOKEN: {len(scrape.text.splitlines())} lines, "
             f"pushed records {float(pushed.group(1)):.0f}")  # fmt: skip
    except BaseException:
        for service in services:
            print(f"===== {service.name} (last 3000 chars) =====\n{service.log()[-3000:]}")
        raise
    finally:
        for service in reversed(services):  # beat and the listener first, the web app last
            service.stop()
        emulator_process.stop()
        step("every process stopped")


def _interrupted(signum: int, frame: Any) -> None:
    raise KeyboardInterrupt(f"signal {signum}")


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, _interrupted)
    run(Path(sys.argv[1]))
