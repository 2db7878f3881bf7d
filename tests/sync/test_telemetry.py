"""Metrics and log lines of the sync, against the real emulator: what a scrape of /metrics shows
while tasks sync, and what LOG_FORMAT=json writes for a push."""

import datetime as dt
import io
import json
import logging
import logging.config
import os
import subprocess
import sys

import pytest
import time_machine
from django.conf import settings as django_settings
from django.utils import timezone

from adminconfig.models import ResyncRun
from sync import inbound
from sync.client_cache import client_for_connection
from sync.lease import lease_hold
from sync.push import outbox_push_all
from sync.selectors import primary_connection
from sync.stream import Listener
from tasks import services as tasks
from tasks.models import TaskSyncRecord
from tests.cockpit.test_deploy_settings import ROOT
from tests.factories import ResyncRunFactory, UserFactory
from tests.metrics import TOKEN, scrape, value

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _token(settings):
    settings.METRICS_TOKEN = TOKEN


def lag(found, direction, via):
    labels = {"direction": direction, "via": via}
    return (
        value(found, "cockpit_sync_lag_seconds_count", **labels),
        value(found, "cockpit_sync_lag_seconds_sum", **labels),
    )


def test_a_scrape_shows_the_outbox_moving_as_a_task_is_created_and_pushed(
    org, alice, committed, worker, client
):
    before = scrape(client)
    with committed(worker_runs=False):
        tasks.task_create(owner=alice, name="Kick-off call")

    queued = scrape(client)
    assert value(queued, "cockpit_outbox_entries", state="pending") == 1
    assert value(queued, "cockpit_outbox_due_entries") == 1
    assert ("cockpit_outbox_oldest_pending_age_seconds", ()) in queued

    worker.run()

    pushed = scrape(client)
    assert value(pushed, "cockpit_outbox_entries", state="pending") == 0
    assert value(pushed, "cockpit_outbox_entries", state="done") == 1
    assert value(pushed, "cockpit_outbox_oldest_pending_age_seconds") == 0
    assert (
        value(pushed, "cockpit_sync_push_records_total", outcome="pushed")
        == value(before, "cockpit_sync_push_records_total", outcome="pushed") + 1
    )
    assert lag(pushed, "to_salesforce", "push")[0] == lag(before, "to_salesforce", "push")[0] + 1
    calls = value(pushed, "cockpit_sync_salesforce_calls_total", step="push")
    assert calls > value(before, "cockpit_sync_salesforce_calls_total", step="push")
    # The org's usage against its limit and Cockpit's budget, as the push recorded them.
    assert value(pushed, "cockpit_sync_api_calls_today", connection="Emulator") >= 1
    assert value(pushed, "cockpit_sync_api_budget_calls", connection="Emulator") > 0
    used = value(pushed, "cockpit_salesforce_api_usage_calls", connection="Emulator")
    assert 0 < used < value(pushed, "cockpit_salesforce_api_limit_calls", connection="Emulator")
    assert value(pushed, "cockpit_sync_lease_held") == 0


def test_the_push_lag_runs_from_the_change_to_salesforce_s_answer(org, alice, committed, client):
    before = scrape(client)
    start = timezone.now()
    with time_machine.travel(start, tick=True), committed(worker_runs=False):
        tasks.task_create(owner=alice, name="Renewal")

    with time_machine.travel(start + dt.timedelta(seconds=42), tick=True):
        outbox_push_all()  # the worker was busy for 42 s

    after = scrape(client)
    count, total = lag(after, "to_salesforce", "push")
    assert count == lag(before, "to_salesforce", "push")[0] + 1
    assert 42 <= total - lag(before, "to_salesforce", "push")[1] < 60


def test_a_salesforce_change_counts_as_pulled_with_its_lag_and_an_echo_does_not(
    org, alice, committed, client
):
    from adminconfig import services as config

    with committed():
        config.sync_settings_update(bidirectional_sync=True)
    sf = org.simple_salesforce()
    alice_id = sf.query("SELECT Id FROM User WHERE Email = 'alice@example.com'")["records"][0]["Id"]
    inbound.pull_run(force=True)
    before = scrape(client)

    sf_id = sf.Task.create({"Subject": "Call from Salesforce", "OwnerId": alice_id})["id"]
    with time_machine.travel(timezone.now() + dt.timedelta(seconds=30), tick=True):
        assert inbound.pull_run(force=True).created == 1
    created = scrape(client)
    with committed():
        task = TaskSyncRecord.objects.get(salesforce_id=sf_id).task
        tasks.task_update(task=task, name="Call from Cockpit")
    assert inbound.pull_run(force=True).ran  # reads the push's echo back
    echoed = scrape(client)

    count, total = lag(created, "from_salesforce", "pull")
    assert count == lag(before, "from_salesforce", "pull")[0] + 1
    assert 30 <= total - lag(before, "from_salesforce", "pull")[1] < 60
    assert (
        value(created, "cockpit_sync_pull_records_total", outcome="created")
        == value(before, "cockpit_sync_pull_records_total", outcome="created") + 1
    )
    assert (
        value(created, "cockpit_sync_pull_runs_total", outcome="ok")
        == value(before, "cockpit_sync_pull_runs_total", outcome="ok") + 1
    )
    assert lag(echoed, "from_salesforce", "pull")[0] == count
    assert value(echoed, "cockpit_sync_pull_last_run_age_seconds") < 30


def test_a_failed_push_is_counted_by_its_kind(org, committed, client):
    nobody = UserFactory(username="nobody", email="nobody@example.com")  # no Salesforce user
    before = scrape(client)

    with committed():
        tasks.task_create(owner=nobody, name="Orphan")

    after = scrape(client)
    kind = {"kind": "OWNER_NOT_MAPPED"}
    assert value(after, "cockpit_sync_push_failures_total", **kind) == (
        value(before, "cockpit_sync_push_failures_total", **kind) + 1
    )
    assert value(after, "cockpit_outbox_entries", state="failed") == 1


def test_counts_kept_by_another_process_add_up_in_this_one_s_scrape(client, tmp_path):
    # The worker and the listener are other processes: their counts reach the web's scrape
    # through the multiprocess folder (the whole-stack test pushes through the real worker).
    before = scrape(client)
    code = "from sync import telemetry; telemetry.PUSH_RECORDS.labels('pushed').inc(3)"
    env = {
        **{k: v for k, v in os.environ.items() if k != "DJANGO_SETTINGS_MODULE"},
        "DEBUG": "true",
        "COCKPIT_VAR_DIR": str(tmp_path),
    }
    done = subprocess.run(  # noqa: S603
        [sys.executable, "manage.py", "shell", "-c", code],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert done.returncode == 0, done.stderr

    after = scrape(client)
    pushed = {"outcome": "pushed"}
    assert value(after, "cockpit_sync_push_records_total", **pushed) == (
        value(before, "cockpit_sync_push_records_total", **pushed) + 3
    )


def test_a_change_event_arrives_with_its_lag_and_the_stream_shows_live(
    bidi, sf, alice_sf_id, client
):
    bidi.set_streaming(timeout_ms=300)
    listener = Listener()
    listener.step()  # subscribed, caught up with one pull
    before = scrape(client)

    sf.Task.create({"OwnerId": alice_sf_id, "Subject": "From the stream"})
    assert sum(listener.step() for _ in range(3)) >= 1

    live = scrape(client)
    inbound_lag = {via: lag(live, "from_salesforce", via)[0] for via in ("stream", "pull")}
    assert inbound_lag == {
        "stream": lag(before, "from_salesforce", "stream")[0] + 1,
        "pull": lag(before, "from_salesforce", "pull")[0],
    }
    assert value(live, "cockpit_sync_stream_status", status="live") == 1
    assert value(live, "cockpit_sync_stream_live") == 1
    assert value(live, "cockpit_sync_stream_last_event_age_seconds") < 30
    assert value(live, "cockpit_sync_stream_events_applied_total") >= 1

    listener.stop()
    stopped = scrape(client)
    assert value(stopped, "cockpit_sync_stream_status", status="off") == 1
    assert value(stopped, "cockpit_sync_stream_live") == 0


def test_the_engine_lease_shows_its_holder_s_age_while_a_step_holds_it(client):
    start = timezone.now()
    with time_machine.travel(start, tick=False), lease_hold() as held:
        assert held
        with time_machine.travel(start + dt.timedelta(seconds=25), tick=False):
            holding = scrape(client)
    released = scrape(client)

    ttl = django_settings.SALESFORCE_TIMEOUT_SECONDS + 10
    assert value(holding, "cockpit_sync_lease_held") == 1
    assert value(holding, "cockpit_sync_lease_holder_age_seconds") == 25
    assert value(holding, "cockpit_sync_lease_expires_in_seconds") == ttl - 25
    assert value(released, "cockpit_sync_lease_held") == 0
    assert value(released, "cockpit_sync_lease_holder_age_seconds") == 0
    assert value(released, "cockpit_sync_lease_expires_in_seconds") == 0


def test_a_mapping_resync_shows_its_progress(client):
    run = ResyncRunFactory(total=20, done=7, failed=1)

    running = scrape(client)
    ResyncRun.objects.filter(pk=run.pk).update(done=19, finished_at=timezone.now())
    finished = scrape(client)

    assert value(running, "cockpit_sync_resync_running") == 1
    assert [
        value(running, "cockpit_sync_resync_entries", state=s) for s in ("total", "done", "failed")
    ] == [20, 7, 1]
    assert value(finished, "cockpit_sync_resync_running") == 0
    assert value(finished, "cockpit_sync_resync_entries", state="done") == 19


# ---- log lines -----------------------------------------------------------------------------


@pytest.fixture
def sync_log_lines():
    """What the `sync` loggers write through the settings' console handler, as configured by
    LOG_FORMAT: `lines(fmt)` attaches it with that formatter and returns the stream."""
    configurator = logging.config.DictConfigurator(django_settings.LOGGING)
    logger = logging.getLogger("sync")
    attached = []

    def attach(fmt: str) -> io.StringIO:
        stream = io.StringIO()
        handler = logging.StreamHandler(stream)
        formatter_config = dict(django_settings.LOGGING["formatters"][fmt])
        handler.setFormatter(configurator.configure_formatter(formatter_config))
        filter_config = dict(django_settings.LOGGING["filters"]["sync_fields"])
        handler.addFilter(configurator.configure_filter(filter_config))
        handler.setLevel(logging.INFO)
        logger.addHandler(handler)
        attached.append(handler)
        return stream

    level = logger.level
    logger.setLevel(logging.INFO)
    yield attach
    logger.setLevel(level)
    for handler in attached:
        logger.removeHandler(handler)


def test_the_logs_are_readable_text_unless_json_is_asked_for():
    handler = django_settings.LOGGING["handlers"]["console"]

    assert django_settings.LOG_FORMAT == "text"
    assert handler["formatter"] == "text"


def test_with_log_format_json_a_push_logs_one_json_line_naming_the_task_and_no_secret(
    org, alice, committed, sync_log_lines
):
    stream = sync_log_lines("json")

    with committed():
        task = tasks.task_create(owner=alice, name="Quarterly review")

    lines = [json.loads(line) for line in stream.getvalue().splitlines()]
    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    pushed = [line for line in lines if line["outcome"] == "pushed"]
    assert len(pushed) == 1, lines
    assert pushed[0]["task_id"] == task.pk
    assert pushed[0]["salesforce_id"] == salesforce_id
    assert pushed[0]["connection"] == "Emulator"
    assert pushed[0]["step"] == "push"
    assert isinstance(pushed[0]["duration_ms"], int)
    assert pushed[0]["logger"] == "sync.outbound"
    assert pushed[0]["level"] == "INFO"
    # Every line of the sync carries the same keys, a cycle's summary included.
    keys = {"task_id", "salesforce_id", "connection", "outcome", "duration_ms", "time", "message"}
    assert all(keys <= set(line) for line in lines)
    cycle = [line for line in lines if line["message"].startswith("Push cycle")]
    assert cycle and cycle[0]["outcome"] == "ok" and cycle[0]["task_id"] is None
    text = stream.getvalue()
    session = client_for_connection(primary_connection()).bearer()[1]
    for secret in (org.client_secret, session):
        assert secret not in text


def test_a_push_reads_as_a_sentence_in_the_default_text_logs(org, alice, committed, sync_log_lines):
    stream = sync_log_lines("text")

    with committed():
        task = tasks.task_create(owner=alice, name="Quarterly review")

    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    assert f"INFO sync.outbound Task {task.pk} pushed to Salesforce {salesforce_id}" in (
        stream.getvalue()
    )
