"""The sync health page (issue 10, items 3 and 4): its selectors, services and views."""

import datetime as dt

import pytest
import time_machine
from django.test import Client
from django.urls import reverse
from django.utils import timezone

from adminconfig import services as config
from adminconfig.models import ResyncRun, SalesforceConnection, UserMapping
from sync import health, resolve, resyncs, usage
from sync import outbox as outbox_module
from sync.models import Conflict, OutboxEntry, PullState, ResyncWatch, SyncEvent
from tasks.models import Task, TaskSyncRecord
from tests.factories import AdminFactory, OutboxEntryFactory, TaskFactory, UserFactory, status

NOW = dt.datetime(2026, 11, 30, 10, 30, tzinfo=dt.UTC)


@pytest.fixture
def connection(db):
    return config.connection_create(
        name="Org",
        login_url="https://127.0.0.1:9",
        client_id="cid",
        client_secret="s3cret",
        is_primary=True,
    )


@pytest.fixture
def admin_client(sync_admin):
    client = Client()
    client.force_login(sync_admin)
    return client


def failed(task_id: int, error: str, **fields) -> OutboxEntry:
    return OutboxEntryFactory(task_id=task_id, last_error=error, failed=True, attempts=3, **fields)


def linked(task: Task, salesforce_id: str, **fields) -> TaskSyncRecord:
    return TaskSyncRecord.objects.update_or_create(
        task=task,
        defaults={"salesforce_id": salesforce_id, "state": TaskSyncRecord.State.SYNCED, **fields},
    )[0]


# ---- error kinds and groups ----------------------------------------------------------------


@pytest.mark.django_db
def test_failed_pushes_are_grouped_by_kind_with_their_tasks_linked(django_assert_num_queries):
    a, b, c = (TaskFactory(name=n) for n in ("Call Acme", "Send deck", "Renewal"))
    failed(a.pk, "STRING_TOO_LONG: Subject: data value too large")
    failed(b.pk, "STRING_TOO_LONG: Subject: data value too large")
    failed(c.pk, "alice has no Salesforce user: map it ...", error_kind=health.OWNER_NOT_MAPPED)
    failed(999_999, "STRING_TOO_LONG: gone")  # a deleted task
    OutboxEntry.objects.create(
        task_id=a.pk, operation="upsert", state="done", next_attempt_at=timezone.now()
    )

    with django_assert_num_queries(2):  # the entries, then every task's name at once
        groups = health.error_groups()

    assert [(g.kind, g.count) for g in groups] == [
        ("STRING_TOO_LONG", 3),
        (health.OWNER_NOT_MAPPED, 1),
    ]
    too_long = groups[0]
    assert too_long.title == "A value is too long for its Salesforce field"
    assert too_long.message == "STRING_TOO_LONG: gone"  # the newest reason
    names = {t.label: t.url for t in too_long.tasks}
    assert names["Call Acme"] == reverse(health.task_url_name(), args=[a.pk])
    assert names["Task 999999 (deleted)"] == ""
    assert too_long.up_to == OutboxEntry.objects.filter(task_id=999_999).get().pk


@pytest.mark.django_db
def test_retrying_a_group_requeues_only_that_kind_up_to_what_the_admin_saw():
    a, b, c = TaskFactory(), TaskFactory(), TaskFactory()
    first = failed(a.pk, "STRING_TOO_LONG: x")
    other = failed(b.pk, "REQUIRED_FIELD_MISSING: y")
    later = failed(c.pk, "STRING_TOO_LONG: z")

    count = resolve.error_group_retry(kind="STRING_TOO_LONG", up_to=first.pk)

    assert count == 1
    states = dict(OutboxEntry.objects.values_list("pk", "state"))
    assert states == {first.pk: "pending", other.pk: "failed", later.pk: "failed"}
    first.refresh_from_db()
    assert first.attempts == 0


@pytest.mark.django_db
def test_skipping_a_group_keeps_the_entries_as_skipped_and_logs_who_skipped(sync_admin):
    a, b = TaskFactory(name="Call Acme"), TaskFactory()
    TaskSyncRecord.objects.create(
        task=a,
        state="error",
        last_error="ENTITY_IS_DELETED: gone",
        error_kind="ENTITY_IS_DELETED",
        error_code="ENTITY_IS_DELETED",
    )
    entry = failed(a.pk, "ENTITY_IS_DELETED: entity is deleted")
    kept = failed(b.pk, "STRING_TOO_LONG: y")

    count = resolve.error_group_skip(kind="ENTITY_IS_DELETED", by=sync_admin)

    assert count == 1
    entry.refresh_from_db()
    kept.refresh_from_db()
    assert (entry.state, kept.state) == ("skipped", "failed")
    record = TaskSyncRecord.objects.get(task=a)
    assert (record.state, record.last_error, record.error_kind) == ("not_synced", "", "")
    event = SyncEvent.objects.get(kind="skipped", task_id=a.pk)
    assert "skipped by sam" in event.message
    assert "ENTITY_IS_DELETED: entity is deleted" in event.message
    assert health.error_groups()[0].kind == "STRING_TOO_LONG"


@pytest.mark.django_db
def test_the_cards_the_queue_and_the_group_actions_follow_the_stored_kind_not_the_text(
    sync_admin,
):
    # A crash whose text talks of a connection is no outage (the old reading of the text
    # put it under "Salesforce could not be reached"), and a reason that starts like a
    # Salesforce code is Cockpit's own when the push said so.
    crash = failed(
        TaskFactory(name="Crashed").pk,
        "Unexpected error while pushing (KeyError: 'connection timed out')",
        error_kind=health.OTHER,
    )
    outage = failed(
        TaskFactory(name="Unreachable").pk,
        "TLS verification failed: certificate verify failed",
        error_kind=health.CONNECTION,
        error_code="SSL_ERROR",
    )
    owner = failed(
        TaskFactory(name="Unmatched").pk,
        "STRING_TOO_LONG: the owner named like a code has no Salesforce user",
        error_kind=health.OWNER_NOT_MAPPED,
    )

    assert sorted((g.kind, g.count) for g in health.error_groups()) == [
        (health.CONNECTION, 1),
        (health.OTHER, 1),
        (health.OWNER_NOT_MAPPED, 1),
    ]
    assert [r.entry for r in health.failed_records(kind=health.CONNECTION)] == [outage]
    assert [r.entry for r in health.failed_records(kind="STRING_TOO_LONG")] == []
    assert sorted(k for k, _ in health.failed_kinds()) == [
        health.CONNECTION,
        health.OTHER,
        health.OWNER_NOT_MAPPED,
    ]
    assert resolve.error_group_retry(kind=health.OTHER) == 1
    assert resolve.error_group_skip(kind=health.OWNER_NOT_MAPPED, by=sync_admin) == 1
    states = dict(OutboxEntry.objects.values_list("pk", "state"))
    assert states == {crash.pk: "pending", outage.pk: "failed", owner.pk: "skipped"}


@pytest.mark.django_db
def test_a_group_action_refuses_a_made_up_kind(sync_admin):
    from django.core.exceptions import ValidationError

    with pytest.raises(ValidationError):
        resolve.error_group_skip(kind="x'; drop", by=sync_admin)


# ---- conflicts -------------------------------------------------------------------------------


@pytest.mark.django_db
def test_taking_salesforces_value_changes_the_task_like_a_cockpit_edit(
    connection, sync_admin, django_capture_on_commit_callbacks
):
    task = TaskFactory(name="Renewal", status=status("In Progress"))
    linked(task, "00T000000000001AAA")
    conflict = Conflict.objects.create(
        task_id=task.pk,
        salesforce_id="00T000000000001AAA",
        salesforce_field="Status",
        cockpit_value="In Progress",
        salesforce_value="Completed",
        winner="cockpit",
        policy="latest",
    )

    with django_capture_on_commit_callbacks():
        resolve.conflict_resolve(conflict=conflict, keep="salesforce", by=sync_admin)

    task.refresh_from_db()
    assert task.status.value == "Complete"
    assert task.completed_at is not None
    conflict.refresh_from_db()
    assert (conflict.resolution, conflict.resolved_by) == ("salesforce", sync_admin)
    assert health.conflicts_open() == []
    # A normal edit: the push merges, and sends nothing Salesforce does not hold already.
    assert OutboxEntry.objects.filter(task_id=task.pk, state="pending").exists()
    assert "settled the Status conflict" in SyncEvent.objects.get(kind="conflict").message


@pytest.mark.django_db
def test_keeping_cockpits_value_writes_it_back_so_the_push_sends_it(
    connection, sync_admin, django_capture_on_commit_callbacks
):
    task = TaskFactory(name="Call Globex (Salesforce)")
    linked(task, "00T000000000002AAA")
    conflict = Conflict.objects.create(
        task_id=task.pk,
        salesforce_id="00T000000000002AAA",
        salesforce_field="Subject",
        cockpit_value="Call Acme",
        salesforce_value="Call Globex (Salesforce)",
        winner="salesforce",
        policy="latest",
    )

    with django_capture_on_commit_callbacks():
        resolve.conflict_resolve(conflict=conflict, keep="cockpit", by=sync_admin)

    task.refresh_from_db()
    assert task.name == "Call Acme"
    assert OutboxEntry.objects.filter(task_id=task.pk, state="pending").exists()
    with pytest.raises(Exception, match="settled already"):
        resolve.conflict_resolve(conflict=conflict, keep="salesforce", by=sync_admin)


@pytest.mark.django_db
def test_a_salesforce_value_with_no_cockpit_value_cannot_be_taken(connection, sync_admin):
    from django.core.exceptions import ValidationError

    task = TaskFactory()
    conflict = Conflict.objects.create(
        task_id=task.pk,
        salesforce_id="00T000000000003AAA",
        salesforce_field="Status",
        cockpit_value="Open",
        salesforce_value="Deferred",
        winner="cockpit",
        policy="latest",
    )

    with pytest.raises(ValidationError, match="no Cockpit value mapped"):
        resolve.conflict_resolve(conflict=conflict, keep="salesforce", by=sync_admin)
    assert Conflict.objects.get().resolved_at is None


@pytest.mark.django_db
def test_open_conflicts_name_their_task_and_field(connection, django_assert_num_queries):
    task = TaskFactory(name="Renewal")
    Conflict.objects.create(
        task_id=task.pk,
        salesforce_id="00T000000000001AAA",
        salesforce_field="ActivityDate",
        cockpit_value="2026-12-01",
        salesforce_value="2026-12-02",
        winner="salesforce",
        policy="latest",
    )

    (row,) = health.conflicts_open()

    assert (row.task.label, row.label) == ("Renewal", "due date")


# ---- the log and the chart ----------------------------------------------------------------


@pytest.mark.django_db
def test_the_log_names_each_task_in_the_query_that_reads_it(django_assert_num_queries):
    tasks = [TaskFactory(name=f"Task {i}") for i in range(5)]
    for task in tasks:
        SyncEvent.objects.create(kind="pushed", task_id=task.pk, message="pushed")
    SyncEvent.objects.create(kind="retry", message="Salesforce API usage high")

    with django_assert_num_queries(1):
        rows = health.log_events()

    assert rows[0].task is None
    assert {r.task.label for r in rows[1:]} == {f"Task {i}" for i in range(5)}


@pytest.mark.django_db
def test_activity_is_counted_per_hour_over_the_last_day():
    with time_machine.travel(NOW - dt.timedelta(hours=30), tick=False):
        SyncEvent.objects.create(kind="pushed", message="too old")
    with time_machine.travel(NOW - dt.timedelta(hours=2, minutes=10), tick=False):
        SyncEvent.objects.create(kind="pushed", message="a")
        SyncEvent.objects.create(kind="pushed", message="b")
        SyncEvent.objects.create(kind="error", message="c")
    with time_machine.travel(NOW, tick=False):
        SyncEvent.objects.create(kind="pulled", message="d")
        SyncEvent.objects.create(kind="skipped", message="e")
        SyncEvent.objects.create(kind="conflict", message="not charted")

        buckets = health.activity_by_hour()

    assert len(buckets) == 24
    assert buckets[-1].start == dt.datetime(2026, 11, 30, 10, tzinfo=dt.UTC)
    assert buckets[-1].counts == {"pushed": 0, "pulled": 1, "skipped": 1, "failed": 0}
    assert buckets[-3].counts == {"pushed": 2, "pulled": 0, "skipped": 0, "failed": 1}
    assert sum(b.total for b in buckets) == 5


@pytest.mark.django_db
def test_activity_is_counted_per_day_over_30_days_in_one_query(settings, django_assert_num_queries):
    settings.TIME_ZONE = "America/New_York"  # days as the admin counts them, not UTC's
    timezone.activate("America/New_York")
    try:
        # 10:00 UTC on 30 Nov is 05:00 in New York: the day is 30 Nov there.
        with time_machine.travel(NOW - dt.timedelta(days=31), tick=False):
            SyncEvent.objects.create(kind="pushed", message="older than 30 days")
        with time_machine.travel(NOW - dt.timedelta(days=29), tick=False):
            SyncEvent.objects.create(kind="pulled", message="the first of the 30 days")
        # 03:00 UTC on 30 Nov is still 29 Nov in New York.
        with time_machine.travel(NOW - dt.timedelta(hours=7), tick=False):
            SyncEvent.objects.create(kind="error", message="yesterday there")
        with time_machine.travel(NOW, tick=False):
            SyncEvent.objects.create(kind="pushed", message="today")
            SyncEvent.objects.create(kind="conflict", message="not charted")
            with django_assert_num_queries(1):
                days = health.activity_by_day()
    finally:
        timezone.deactivate()

    assert len(days) == 30
    assert (days[0].day, days[-1].day) == (dt.date(2026, 11, 1), dt.date(2026, 11, 30))
    assert days[0].counts == {"pushed": 0, "pulled": 1, "skipped": 0, "failed": 0}
    assert days[-2].counts == {"pushed": 0, "pulled": 0, "skipped": 0, "failed": 1}
    assert days[-1].counts == {"pushed": 1, "pulled": 0, "skipped": 0, "failed": 0}
    assert sum(d.total for d in days) == 3


def test_the_day_chart_names_today_and_every_fifth_day_before_it():
    from cockpit.health_chart import day_chart_build

    first = dt.date(2026, 11, 1)
    days = [
        health.DayCounts(
            first + dt.timedelta(days=i), {"pushed": i, "pulled": 0, "skipped": 0, "failed": 0}
        )
        for i in range(30)
    ]
    chart = day_chart_build(days)

    labels = [label for _, label in chart.marks]
    assert labels == ["5 Nov", "10 Nov", "15 Nov", "20 Nov", "25 Nov", "30 Nov"]
    assert chart.description.startswith(
        "Stacked bars, one per day from Sun 1 Nov to today: 435 pushes"
    )
    assert [row[0] for row in chart.rows][:2] == ["1 Nov", "2 Nov"]


def test_the_chart_scales_its_bars_to_a_round_top():
    from cockpit.health_chart import _nice_max, chart_build

    assert [_nice_max(n) for n in (0, 1, 3, 10, 13, 48, 120)] == [1, 1, 5, 10, 20, 50, 200]
    buckets = [
        health.HourCounts(
            NOW + dt.timedelta(hours=i), {"pushed": i, "pulled": 1, "skipped": 0, "failed": 0}
        )
        for i in range(24)
    ]
    chart = chart_build(buckets)
    assert chart.ticks[-1][1] == "50"
    assert len(chart.segments) == 23 + 24  # no zero-height segments
    assert "276 pushes, 24 pulls, 0 skips, 0 failures" in chart.description


@pytest.mark.parametrize(
    ("tallest", "scale"),
    [(0, ["0"]), (1, ["0", "1"]), (2, ["0", "1", "2"]), (5, ["0", "5"]), (7, ["0", "5", "10"])],
    ids=["empty", "one", "two", "five", "seven"],
)
def test_the_charts_scale_shows_whole_numbers_only(tallest, scale):
    from cockpit.health_chart import chart_build

    buckets = [health.HourCounts(NOW, {"pushed": tallest, "pulled": 0, "skipped": 0, "failed": 0})]
    chart = chart_build(buckets)

    assert [label for _, label in chart.ticks] == scale
    assert chart.empty is (tallest == 0)


# ---- the API budget ------------------------------------------------------------------------


def paused_connection(connection: SalesforceConnection, **fields) -> SalesforceConnection:
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        api_usage=91_001,
        api_limit=100_000,
        push_paused_until=timezone.now() + dt.timedelta(minutes=15),
        **fields,
    )
    connection.refresh_from_db()
    return connection


@pytest.mark.django_db
def test_the_budget_shows_the_usage_and_the_reason_of_a_pause(connection):
    paused_connection(connection)
    usage.api_usage_record(connection, (91_001, 100_000))  # logs the reason once

    budget = health.api_budget()

    assert budget.paused
    assert round(budget.org_percent) == 91
    assert "91,001 of 100,000" in budget.pause_reason


@pytest.mark.django_db
def test_resume_now_lifts_the_pause_and_rings_the_push(
    connection, sync_admin, django_capture_on_commit_callbacks
):
    paused_connection(connection)

    with django_capture_on_commit_callbacks() as callbacks:
        assert resolve.push_pause_lift(connection=connection, by=sync_admin)

    assert len(callbacks) == 1  # the doorbell
    connection.refresh_from_db()
    assert connection.push_paused_until is None
    assert "Pushing resumed by sam" in SyncEvent.objects.get().message
    assert not resolve.push_pause_lift(connection=connection, by=sync_admin)


@pytest.mark.django_db
def test_a_pause_whose_cause_is_gone_is_lifted_by_the_sweep(connection):
    # Cockpit's own budget was spent (paused until midnight); the admin raised it.
    today = timezone.now().astimezone(dt.UTC).date()
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        api_usage=1_000,
        api_limit=100_000,
        cockpit_calls=150,
        cockpit_calls_date=today,
        daily_api_budget=5_000,
        push_paused_until=timezone.now() + dt.timedelta(hours=5),
    )

    assert usage.push_pause_recheck() == 1
    connection.refresh_from_db()
    assert connection.push_paused_until is None

    # Still past the org's ceiling: the pause holds (the next pull reads the usage again).
    paused_connection(connection)
    assert usage.push_pause_recheck() == 0


@pytest.mark.django_db
def test_pulls_go_back_to_their_interval_once_a_stale_pause_is_lifted(connection):
    """Issue 10: a budget pause kept pulls at one every 15 minutes after the usage had fallen
    (pull_due slows pulls while a pause lasts, and nothing looked at the pause again)."""
    from sync import inbound
    from sync.tasks import sweep

    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    PullState.objects.create(pk=1, last_pull_at=timezone.now() - dt.timedelta(minutes=2))
    SalesforceConnection.objects.filter(pk=connection.pk).update(
        api_usage=50_000,  # Test connection read the fallen usage
        api_limit=100_000,
        push_paused_until=timezone.now() + dt.timedelta(minutes=10),
    )
    assert inbound.pull_due()  # a pause the figures no longer call for slows no pull

    sweep()

    assert SalesforceConnection.objects.get(pk=connection.pk).push_paused_until is None
    assert inbound.pull_due()


# ---- re-sync progress ---------------------------------------------------------------------


def linked_tasks(count: int) -> None:
    for i in range(count):
        linked(TaskFactory(), f"00T{i:015d}")


@pytest.mark.django_db
def test_two_saves_in_a_row_left_the_first_resync_at_0_of_22_for_good(connection):
    """What the issue saw: the second run takes over the first one's pending entries (one
    pending entry per task), so the first counts nothing. The stuck check ends it."""
    linked_tasks(22)
    first = ResyncRun.objects.create(connection=connection, reason="first save", total=22)
    outbox_module.resync_run_start(run_id=first.pk)
    second = ResyncRun.objects.create(connection=connection, reason="second save", total=22)
    outbox_module.resync_run_start(run_id=second.pk)
    assert not OutboxEntry.objects.filter(resync_run_id=first.pk).exists()

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        assert resyncs.resync_runs_check() == 0
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=6)):
        assert resyncs.resync_runs_check() == 1

    first.refresh_from_db()
    assert first.finished_at is not None
    reason = ResyncWatch.objects.get(run_id=first.pk).stopped_reason
    assert "nothing queued" in reason and "0 of 22" in reason
    second.refresh_from_db()
    assert second.finished_at is None  # its 22 entries are queued: waiting, not stuck


@pytest.mark.django_db
def test_a_newer_resync_finishes_the_older_one_as_superseded(connection, committed):
    linked_tasks(22)
    with committed():
        config.resync_start(connection=connection, reason="Mappings saved")
    with committed():
        config.resync_start(connection=connection, reason="Mappings saved")

    older, newer = ResyncRun.objects.order_by("pk")
    assert older.finished_at is not None
    assert (
        "superseded by a newer re-sync" in ResyncWatch.objects.get(run_id=older.pk).stopped_reason
    )
    assert newer.finished_at is None
    assert OutboxEntry.objects.filter(resync_run_id=newer.pk, state="pending").count() == 22
    progress = health.resync_progress()
    assert (progress.done, progress.total, progress.percent) == (0, 22, 0)


@pytest.mark.django_db
def test_a_run_that_moves_is_not_stuck(connection):
    run = ResyncRun.objects.create(connection=connection, reason="x", total=3)
    start = timezone.now()
    with time_machine.travel(start + dt.timedelta(minutes=1)):
        resyncs.resync_runs_check()
    ResyncRun.objects.filter(pk=run.pk).update(done=2)
    with time_machine.travel(start + dt.timedelta(minutes=6)):
        assert resyncs.resync_runs_check() == 0  # it moved since the last look
    with time_machine.travel(start + dt.timedelta(minutes=10)):
        assert resyncs.resync_runs_check() == 0  # 4 minutes since it last moved
    with time_machine.travel(start + dt.timedelta(minutes=12)):
        assert resyncs.resync_runs_check() == 1
    assert "2 of 3" in ResyncWatch.objects.get(run_id=run.pk).stopped_reason


# ---- getting started ----------------------------------------------------------------------


@pytest.mark.django_db
def test_getting_started_follows_the_four_steps(connection):
    alice = UserFactory(username="alice")
    TaskFactory(owner=alice)

    states = [s.state for s in health.getting_started()]
    assert states == ["todo", "todo", "todo", "todo"]

    SalesforceConnection.objects.filter(pk=connection.pk).update(state="connected")
    UserMapping.objects.create(user=alice, salesforce_user_id="005000000000001AAA")
    config.sync_settings_update(auto_sync=True)
    steps = health.getting_started()
    assert [s.state for s in steps] == ["done", "done", "todo", "todo"]
    assert "only once Bi-directional Sync is on" in steps[2].detail

    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    assert health.getting_started()[3].state == "running"

    PullState.objects.create(pk=1, last_pull_at=timezone.now(), imported=1)
    steps = health.getting_started()
    assert steps[3].state == "done"
    assert steps[3].detail == "1 Salesforce task imported since sync was switched on."
    assert health.getting_started_done(steps)


@pytest.mark.django_db
def test_a_csm_without_a_salesforce_user_blocks_the_second_step(connection):
    UserMapping.objects.create(
        user=UserFactory(username="alice"), salesforce_user_id="005000000000001AAA"
    )
    TaskFactory(owner=UserFactory(username="bob"))

    step = health.getting_started()[1]

    assert step.state == "problem"
    assert "bob" in step.detail


@pytest.mark.django_db
def test_make_runs_hint_lists_the_same_steps(monkeypatch, tmp_path, settings, capsys):
    from django.core.management import call_command

    settings.VAR_DIR = tmp_path
    monkeypatch.setenv("SFEMU_URL", "https://127.0.0.1:8443")
    monkeypatch.setenv("SFEMU_CLIENT_ID", "cockpit-demo")
    monkeypatch.setenv("SFEMU_CLIENT_SECRET", "demo-secret")

    call_command("bootstrap", "--demo")

    hint = capsys.readouterr().out
    for number, title in enumerate(health.STEP_TITLES, 1):
        assert f"{number}. {title}" in hint
    assert "/sync/" in hint


# ---- the pages ------------------------------------------------------------------------------


@pytest.mark.django_db
def test_the_page_shows_the_budget_with_formatted_numbers_and_a_resume_button(
    connection, admin_client
):
    paused_connection(connection)
    usage.api_usage_record(connection, (91_001, 100_000))

    page = admin_client.get("/sync/").content.decode()

    assert "91,001 of 100,000" in page
    assert "Pushing is paused until" in page
    assert reverse("sync-resume") in page
    assert '<title id="chart-hours-title">' in page and "<desc" in page
    assert '<title id="chart-days-title">' in page
    assert "The same figures as a table" in page


@pytest.mark.django_db
def test_the_page_shows_error_cards_conflicts_and_the_named_log(connection, admin_client):
    task = TaskFactory(name="Call <Acme>")
    failed(task.pk, "STRING_TOO_LONG: Subject too long")
    Conflict.objects.create(
        task_id=task.pk,
        salesforce_id="00T000000000001AAA",
        salesforce_field="Subject",
        cockpit_value="Call <Acme>",
        salesforce_value="Call Globex",
        winner="salesforce",
        policy="latest",
    )
    SyncEvent.objects.create(kind="error", task_id=task.pk, message="STRING_TOO_LONG")

    page = admin_client.get("/sync/").content.decode()

    assert "A value is too long for its Salesforce field" in page
    assert "Retry all 1" in page
    assert "Call &lt;Acme&gt;" in page and "Call <Acme>" not in page
    assert reverse(health.task_url_name(), args=[task.pk]) in page
    assert "Keep Cockpit's" in page


@pytest.mark.django_db
def test_group_retry_from_the_page(admin_client):
    task = TaskFactory()
    entry = failed(task.pk, "STRING_TOO_LONG: x")

    response = admin_client.post(
        reverse("sync-errors-retry"), {"kind": "STRING_TOO_LONG", "up_to": entry.pk}
    )

    assert response.status_code == 302
    assert response["Location"].endswith("/sync/#errors")
    entry.refresh_from_db()
    assert entry.state == "pending"


@pytest.mark.django_db
def test_the_progress_fragment_shows_the_running_resync(connection, admin_client):
    ResyncRun.objects.create(connection=connection, reason="Mappings saved", total=22, done=11)

    fragment = admin_client.get(reverse("sync-progress")).content.decode()

    assert 'data-running="true"' in fragment
    assert "11 of 22" in fragment
    assert 'value="50"' in fragment


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("name", "method", "kwargs"),
    [
        ("sync-health", "get", {}),
        ("sync-progress", "get", {}),
        ("sync-errors-retry", "post", {}),
        ("sync-errors-skip", "post", {}),
        ("sync-resume", "post", {}),
        ("sync-conflict-resolve", "post", {"pk": 1}),
    ],
)
def test_csms_and_plain_staff_get_403(name, method, kwargs):
    path = reverse(name, kwargs=kwargs)
    for user in (UserFactory(username="alice"), UserFactory(username="stella", is_staff=True)):
        client = Client()
        client.force_login(user)
        assert getattr(client, method)(path).status_code == 403
    assert "/accounts/login/" in getattr(Client(), method)(path)["Location"]


@pytest.mark.django_db
def test_actions_are_post_only_and_need_the_csrf_token(sync_admin):
    client = Client(enforce_csrf_checks=True)
    client.force_login(sync_admin)

    assert client.get(reverse("sync-resume")).status_code == 405
    assert client.post(reverse("sync-resume")).status_code == 403  # no CSRF token


@pytest.mark.django_db
def test_a_superuser_sees_the_page(client):
    client.force_login(AdminFactory(username="root"))
    assert client.get("/sync/").status_code == 200


# ---- the admin -----------------------------------------------------------------------------


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("before", "after", "expected"),
    [
        ((False, False, False), (True, True), "Salesforce tasks of the last 24 hours are being"),
        ((False, False, False), (True, False), "Nothing is imported from Salesforce yet"),
        ((True, False, True), (True, True), "the first pull imports the Salesforce tasks"),
        ((True, True, True), (True, True), ""),
        ((True, True, True), (False, False), ""),
    ],
    ids=["both_at_once", "auto_sync_alone", "bidirectional_later", "no_change", "off"],
)
def test_switching_sync_on_says_what_it_does(before, after, expected):
    """Issue 10: Auto Sync alone announced an import that happens only with Bi-directional
    Sync on."""
    from adminconfig.admin import switches_message
    from adminconfig.models import SyncSettings

    auto, bidirectional, enabled = before
    old = SyncSettings(
        auto_sync=auto,
        bidirectional_sync=bidirectional,
        first_enabled_at=timezone.now() if enabled else None,
    )
    new = SyncSettings(
        auto_sync=after[0], bidirectional_sync=after[1], first_enabled_at=timezone.now()
    )

    message = switches_message(before=old, after=new)

    assert (expected in message) if expected else message == ""
    if after == (True, False):
        assert "being imported" not in message


@pytest.mark.django_db
def test_the_admin_index_and_the_connection_page_show_the_checklist(connection, admin_client):
    index = admin_client.get("/admin/").content.decode()
    page = admin_client.get(
        reverse("admin:adminconfig_salesforceconnection_change", args=[connection.pk])
    ).content.decode()

    for html in (index, page):
        assert "Getting started with the Salesforce sync" in html
        assert "Switch on Auto Sync and Bi-directional Sync" in html


@pytest.mark.django_db
def test_staff_who_are_not_sync_admins_see_no_checklist(connection):
    client = Client()
    client.force_login(UserFactory(username="stella", is_staff=True))

    assert "Getting started" not in client.get("/admin/").content.decode()


@pytest.mark.django_db
def test_skipped_entries_are_pruned_like_finished_ones():
    from sync.housekeeping import sync_log_prune

    with time_machine.travel(timezone.now() - dt.timedelta(days=40)):
        old = failed(1, "STRING_TOO_LONG: x")
        OutboxEntry.objects.filter(pk=old.pk).update(state="skipped", updated_at=timezone.now())
    kept = failed(2, "STRING_TOO_LONG: y")

    assert sync_log_prune(days=30).outbox_entries == 1
    assert list(OutboxEntry.objects.values_list("pk", flat=True)) == [kept.pk]


@pytest.mark.django_db
def test_owner_and_company_conflicts_show_names_not_ids(connection):
    from tests.factories import CompanyFactory

    alice = UserFactory(username="alice")
    bob = UserFactory(username="bob")
    UserMapping.objects.create(user=bob, salesforce_user_id="005000000000002AAA")
    acme = CompanyFactory(name="Acme Corp", salesforce_account_id="001000000000001AAA")
    task = TaskFactory(owner=alice)
    for field, ours, theirs in (
        ("OwnerId", alice.pk, "005000000000002AAA"),
        ("WhatId", acme.pk, "001000000000009AAA"),
    ):
        Conflict.objects.create(
            task_id=task.pk,
            salesforce_id="00T000000000001AAA",
            salesforce_field=field,
            cockpit_value=ours,
            salesforce_value=theirs,
            winner="salesforce",
            policy="latest",
        )

    company, owner = health.conflicts_open()

    assert (owner.label, owner.cockpit_text) == ("owner", "alice")
    assert owner.salesforce_text == "bob (005000000000002AAA)"
    assert (company.cockpit_text, company.salesforce_text) == ("Acme Corp", "001000000000009AAA")


@pytest.mark.django_db
def test_the_page_costs_the_same_queries_for_few_or_many_rows(connection, admin_client):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    def world(n: int) -> None:
        for i in range(n):
            task = TaskFactory(name=f"Task {n}-{i}")
            failed(task.pk, ["STRING_TOO_LONG: x", "REQUIRED_FIELD_MISSING: y"][i % 2])
            SyncEvent.objects.create(kind="pushed", task_id=task.pk, message="pushed")
            Conflict.objects.create(
                task_id=task.pk,
                salesforce_id="00T000000000001AAA",
                salesforce_field="Subject",
                cockpit_value="a",
                salesforce_value="b",
                winner="salesforce",
                policy="latest",
            )

    def queries() -> int:
        with CaptureQueriesContext(db) as captured:
            assert admin_client.get("/sync/").status_code == 200
        return len(captured)

    world(2)
    few = queries()
    world(12)
    assert queries() == few
    assert few <= 28, few


@pytest.mark.django_db
def test_the_polled_progress_panel_reads_the_import_count_without_scanning_the_log(
    connection, admin_client, django_assert_max_num_queries
):
    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    PullState.objects.create(pk=1, imported=3)
    admin_client.get(reverse("sync-progress"))  # the session and user, read once

    with django_assert_max_num_queries(7) as captured:
        assert admin_client.get(reverse("sync-progress")).status_code == 200

    assert not [q for q in captured.captured_queries if "sync_syncevent" in q["sql"]]


@pytest.mark.django_db
def test_a_page_reads_the_switches_and_the_primary_connection_once(connection, admin_client):
    from django.db import connection as db
    from django.test.utils import CaptureQueriesContext

    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    with CaptureQueriesContext(db) as captured:
        assert admin_client.get("/sync/").status_code == 200

    reads = [q["sql"] for q in captured.captured_queries]
    assert len([q for q in reads if 'FROM "adminconfig_syncsettings"' in q]) == 1
    assert len([q for q in reads if 'FROM "adminconfig_salesforceconnection"' in q]) == 1


@pytest.mark.django_db
def test_the_connection_page_does_not_call_a_stopped_resync_done(connection, admin_client):
    ResyncRun.objects.create(
        connection=connection, reason="x", total=22, finished_at=timezone.now()
    )
    url = reverse("admin:adminconfig_salesforceconnection_change", args=[connection.pk])

    page = admin_client.get(url).content.decode()

    assert "The last re-sync stopped after 0 of 22 tasks" in page
    assert "Tasks are now synced with the new mapping" not in page


@pytest.mark.django_db
def test_resync_messages_arriving_out_of_order_leave_the_newer_run_in_charge(connection):
    linked_tasks(3)
    older = ResyncRun.objects.create(connection=connection, reason="first", total=3)
    newer = ResyncRun.objects.create(connection=connection, reason="second", total=3)

    assert resyncs.resync_run_begin(run_id=newer.pk) == 3
    assert resyncs.resync_run_begin(run_id=older.pk) == 0

    assert OutboxEntry.objects.filter(resync_run_id=newer.pk).count() == 3
    older.refresh_from_db()
    newer.refresh_from_db()
    assert older.finished_at is not None and newer.finished_at is None

    # The newer one's message lost, the older one's arrives: the older stands down all the same.
    third = ResyncRun.objects.create(connection=connection, reason="third", total=3)
    fourth = ResyncRun.objects.create(connection=connection, reason="fourth", total=3)
    assert resyncs.resync_run_begin(run_id=third.pk) == 0
    assert "before it started" in ResyncWatch.objects.get(run_id=third.pk).stopped_reason
    fourth.refresh_from_db()
    assert fourth.finished_at is None  # the stuck check ends it if its message never comes


@pytest.mark.django_db
def test_the_progress_panel_shows_a_stopped_run_with_its_reason(connection, admin_client):
    linked_tasks(2)
    run = ResyncRun.objects.create(connection=connection, reason="Mappings saved", total=2)
    with time_machine.travel(timezone.now() + dt.timedelta(minutes=10)):
        assert resyncs.resync_runs_check() == 1

    fragment = admin_client.get(reverse("sync-progress")).content.decode()

    assert 'data-running="false"' in fragment
    assert "Stopped" in fragment and "nothing queued for it" in fragment
    assert "Tasks are now synced" not in fragment
    assert SyncEvent.objects.filter(kind="error", message__startswith="Re-sync stopped").exists()
    assert ResyncRun.objects.get(pk=run.pk).finished_at is not None


@pytest.mark.django_db
def test_the_progress_panel_shows_the_first_import_until_it_is_done(connection, admin_client):
    config.sync_settings_update(auto_sync=True)
    fragment = admin_client.get(reverse("sync-progress")).content.decode()
    assert "It starts when Bi-directional Sync is switched on." in fragment

    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    fragment = admin_client.get(reverse("sync-progress")).content.decode()
    assert 'data-running="true"' in fragment
    assert "<progress aria-label" in fragment  # no value: it counts as it goes

    PullState.objects.create(pk=1, last_pull_at=timezone.now())
    fragment = admin_client.get(reverse("sync-progress")).content.decode()
    assert "First import" in fragment and "Imported 0 Salesforce tasks" in fragment
    assert "now synced with the new mapping" not in fragment


@pytest.mark.django_db
def test_the_first_imports_result_replaces_an_older_resync_of_nothing(connection, admin_client):
    ResyncRun.objects.create(
        connection=connection, reason="saved while off", total=0, finished_at=timezone.now()
    )
    fragment = admin_client.get(reverse("sync-progress")).content.decode()
    # Sync is off: the run re-synced nothing, and the panel does not claim otherwise.
    assert "Sync is off, so no task was re-synced" in fragment
    assert "Tasks are now synced with the new mapping" not in fragment

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=1)):
        config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
        PullState.objects.create(pk=1, last_pull_at=timezone.now(), imported=1)
        fragment = admin_client.get(reverse("sync-progress")).content.decode()

    assert "Imported 1 Salesforce task" in fragment
    assert "saved while off" not in fragment


# ---- against the emulator -----------------------------------------------------------------


@pytest.mark.django_db
def test_a_retried_group_reaches_salesforce_once_its_cause_is_fixed(sfemu_clean, committed):
    from sync.client_cache import clients_reset
    from tasks import services as task_services
    from tests.orgs import emulator_connect

    clients_reset()
    bob = UserFactory(username="bob", email="bob@elsewhere.example")  # no Salesforce user yet
    connection = emulator_connect(sfemu_clean)
    with committed():
        config.sync_settings_update(auto_sync=True)
    with committed():
        task = task_services.task_create(owner=bob, name="Call Acme about renewal")
    (group,) = health.error_groups()
    assert (group.kind, group.count) == (health.OWNER_NOT_MAPPED, 1)

    bob.email = "bob@example.com"
    bob.save()
    config.users_match_by_email(connection=connection)
    with committed():
        assert resolve.error_group_retry(kind=group.kind, up_to=group.up_to) == 1

    record = TaskSyncRecord.objects.get(task=task)
    assert record.state == "synced" and record.salesforce_id
    subject = sfemu_clean.simple_salesforce().Task.get(record.salesforce_id)["Subject"]
    assert subject == "Call Acme about renewal"
    assert health.error_groups() == []


@pytest.mark.django_db
@pytest.mark.parametrize("keep", ["cockpit", "salesforce"])
def test_settling_a_real_conflict_leaves_both_sides_with_the_chosen_value(
    sfemu_clean, committed, sync_admin, keep
):
    from sync.client_cache import clients_reset
    from tasks import services as task_services
    from tests.orgs import emulator_connect

    clients_reset()
    alice = UserFactory(username="alice", email="alice@example.com")
    emulator_connect(sfemu_clean)
    with committed():
        config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    with committed():
        task = task_services.task_create(owner=alice, name="Renewal call")
    salesforce_id = TaskSyncRecord.objects.get(task=task).salesforce_id
    sf = sfemu_clean.simple_salesforce()
    sf.Task.update(salesforce_id, {"Subject": "Renewal call (Salesforce)"})
    with committed():
        task_services.task_update(task=task, name="Renewal call (Cockpit)")
    (row,) = health.conflicts_open()
    assert row.label == "name"
    chosen = row.conflict.cockpit_value if keep == "cockpit" else row.conflict.salesforce_value

    with committed():
        resolve.conflict_resolve(conflict=row.conflict, keep=keep, by=sync_admin)

    task.refresh_from_db()
    assert task.name == chosen
    assert sf.Task.get(salesforce_id)["Subject"] == chosen
    assert health.conflicts_open() == []


@pytest.mark.django_db
def test_the_menu_offers_sync_health_to_sync_admins_only(sync_admin):
    link = f'href="{reverse("sync-health")}"'
    for user, shown in (
        (UserFactory(username="alice"), False),
        (UserFactory(username="stella", is_staff=True), False),
        (sync_admin, True),
    ):
        client = Client()
        client.force_login(user)
        assert (link in client.get("/").content.decode()) is shown, user


@pytest.mark.django_db
def test_a_first_import_that_never_starts_says_why(connection):
    config.sync_settings_update(auto_sync=True, bidirectional_sync=True)
    assert health.getting_started()[3].state == "running"

    with time_machine.travel(timezone.now() + dt.timedelta(minutes=6)):
        step = health.getting_started()[3]
        (run,) = health.runs_in_progress()

    assert step.state == "problem"
    assert "Celery worker and beat" in step.detail
    assert run.stalled_reason == step.detail
