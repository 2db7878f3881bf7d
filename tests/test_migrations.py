import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_the_models_and_migrations_agree():
    # Fails when a model change has no migration.
    call_command("makemigrations", "--check", "--dry-run", verbosity=0)


BEFORE = [("sync", "0013_alert_mail"), ("tasks", "0007_salesforce_modified_at")]
AFTER = [("sync", "0014_error_kind")]


@pytest.mark.django_db(transaction=True)
def test_stored_failures_are_classified_once_from_their_text_by_the_migration():
    from django.db import connection
    from django.db.migrations.executor import MigrationExecutor
    from django.utils import timezone

    executor = MigrationExecutor(connection)
    executor.migrate(BEFORE)
    apps = executor.loader.project_state(BEFORE).apps
    Entry = apps.get_model("sync", "OutboxEntry")
    Task = apps.get_model("tasks", "Task")
    Record = apps.get_model("tasks", "TaskSyncRecord")
    now = timezone.now()
    reasons = {
        "STRING_TOO_LONG: Subject: data value too large": ("STRING_TOO_LONG", None),
        "UNABLE_TO_LOCK_ROW: busy (gave up after 10 attempts)": ("UNABLE_TO_LOCK_ROW", 10),
        "zed has no Salesforce user: map it, then retry.": ("OWNER_NOT_MAPPED", None),
        "HTTPSConnectionPool(host='x', port=443): Max retries exceeded (gave up after 4 "
        "attempts)": ("CONNECTION", 4),
        "Unexpected error while pushing (KeyError: 'x')": ("OTHER", None),
    }
    for n, reason in enumerate(reasons):
        Entry.objects.create(
            task_id=n, operation="upsert", state="failed", last_error=reason, next_attempt_at=now
        )
    Entry.objects.create(
        task_id=99,
        operation="upsert",
        state="done",
        last_error="superseded by a newer change",
        next_attempt_at=now,
    )
    status, priority = (
        apps.get_model("tasks", name).objects.get_or_create(value="Open", label="Open")[0]
        for name in ("Status", "Priority")
    )
    owner = apps.get_model("auth", "User").objects.create(username="zed")
    task = Task.objects.create(name="T", owner=owner, status=status, priority=priority)
    Record.objects.create(task=task, state="pending", last_error="Will retry: NOT_FOUND: gone")

    executor.loader.build_graph()
    executor.migrate(AFTER)
    apps = executor.loader.project_state(AFTER).apps

    stored = {
        e.last_error: (e.error_kind, e.error_code, e.gave_up_after)
        for e in apps.get_model("sync", "OutboxEntry").objects.all()
    }
    for reason, (kind, gave_up_after) in reasons.items():
        code = kind if kind not in ("OWNER_NOT_MAPPED", "CONNECTION", "OTHER") else ""
        assert stored[reason] == (kind, code, gave_up_after), reason
    assert stored["superseded by a newer change"] == ("", "", None)  # done: no failure
    record = apps.get_model("tasks", "TaskSyncRecord").objects.get()
    assert (record.error_kind, record.error_code) == ("NOT_FOUND", "NOT_FOUND")
    executor.loader.build_graph()
    executor.migrate(executor.loader.graph.leaf_nodes())
