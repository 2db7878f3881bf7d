"""/metrics and LOG_FORMAT=json on the whole stack as production runs it: DEBUG off, gunicorn
with two workers, a Celery worker and beat, each a real process (tests/e2e/stack.py).

The push happens in the Celery worker's pool process; the scrape is answered by whichever
gunicorn worker takes it. Seeing the push counted there proves the counts add up across
processes (prometheus-client's multiprocess mode), which no one-process test can.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import Callable

import pytest
import requests

from tests.e2e.stack import (
    ADMIN_PASSWORD,
    ALICE_PASSWORD,
    METRICS_TOKEN,
    PRODUCTION,
    Synced,
    wait_for,
)
from tests.metrics import Samples, samples, value

TOKEN = METRICS_TOKEN
BOUND = 30.0  # a task reaches Salesforce within seconds; generous on a loaded machine


@pytest.fixture
def production(start_stack: Callable[..., Synced]) -> Synced:
    """The stack as production runs it, shared with the health and whole-stack tests: each
    counts and reads only what its own task did."""
    return start_stack(env=PRODUCTION, keep=True)


def scrape(synced: Synced, token: str | None = TOKEN) -> requests.Response:
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    session = requests.Session()
    session.trust_env = False  # plain http to 127.0.0.1: no proxy
    return session.get(f"{synced.stack.url}/metrics", headers=headers, timeout=10)


def figures(synced: Synced) -> Samples:
    response = scrape(synced)
    assert response.status_code == 200, response.text[:2000]
    return samples(response.text)


def test_a_push_by_the_worker_shows_in_the_web_s_scrape_and_in_its_json_log(
    production: Synced,
) -> None:
    synced = production
    assert scrape(synced, token=None).status_code == 401
    assert scrape(synced, token="not-the-token-but-long-enough").status_code == 401
    before = figures(synced)
    pushed_before = value(before, "cockpit_sync_push_records_total", outcome="pushed")

    name = f"Metrics check {secrets.token_hex(4)}"
    task = synced.alice.call("POST", "tasks/", {"name": name}, expect=201)
    [twin] = wait_for(
        lambda: synced.sf_tasks(f"Subject = '{name}'"), timeout=BOUND, what="the task in Salesforce"
    )

    def counted() -> Samples | None:
        found = figures(synced)
        pushed = value(found, "cockpit_sync_push_records_total", outcome="pushed")
        return found if pushed >= pushed_before + 1 else None

    after = wait_for(counted, timeout=BOUND, what="the push counted in /metrics")
    lag = {"direction": "to_salesforce", "via": "push"}
    assert value(after, "cockpit_sync_lag_seconds_count", **lag) >= 1
    assert value(after, "cockpit_outbox_entries", state="done") >= 1
    assert value(after, "cockpit_sync_api_calls_today", connection="Emulator") >= 1
    assert value(after, "cockpit_metrics_database_up") == 1
    # Two gunicorn workers: each adds up the same files and reads the same database.
    for _ in range(4):
        again = figures(synced)
        assert value(again, "cockpit_sync_push_records_total", outcome="pushed") >= (
            pushed_before + 1
        )

    worker_log = synced.stack.worker.log() if synced.stack.worker else ""
    lines = [json.loads(line) for line in worker_log.splitlines() if line.startswith("{")]
    mine = [line for line in lines if line.get("task_id") == task["id"]]
    assert [line["outcome"] for line in mine] == ["pushed"], mine
    assert mine[0]["salesforce_id"] == twin["Id"]
    assert mine[0]["connection"] == "Emulator"
    assert isinstance(mine[0]["duration_ms"], int)
    assert mine[0]["logger"] == "sync.outbound"
    # Celery's own lines are JSON too: the worker keeps Django's logging.
    assert any(line["logger"].startswith("celery") for line in lines)

    logs = synced.stack.logs()
    emulator = synced.stack.emulator
    assert emulator is not None
    alice_token = synced.alice.session.headers["Authorization"].split()[-1]
    for secret in (emulator.client_secret, ADMIN_PASSWORD, ALICE_PASSWORD, alice_token, TOKEN):
        assert secret not in logs
