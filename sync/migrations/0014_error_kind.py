"""The kind and code of a failed push, and the attempts it gave up after, stored beside its
reason (sync/failures.py) on outbox entries and sync records. The rows written before are
classified here from their text, once, the way the health page used to read it."""

import re

from django.db import migrations, models

GAVE_UP = re.compile(r"\s*\(gave up after (\d+) attempts\)\s*$")
ERROR_CODE = re.compile(r"^([A-Z][A-Z0-9_]{2,}):")
CONNECTION_WORDS = (
    "connection",
    "timed out",
    "timeout",
    "max retries",
    "temporarily unavailable",
    "name or service not known",
    "could not be reached",
)
BATCH = 500


def classified(message):
    """(kind, code, gave_up_after) of a stored reason."""
    text = (message or "").strip()
    gave_up = GAVE_UP.search(text)
    if gave_up:
        text = text[: gave_up.start()]
    text = text.removeprefix("Will retry:").strip()
    after = int(gave_up.group(1)) if gave_up else None
    found = ERROR_CODE.match(text)
    if found:
        code = found.group(1)[:80]
        return code, code, after
    if "has no Salesforce user" in text:
        return "OWNER_NOT_MAPPED", "", after
    lowered = text.lower()
    if any(word in lowered for word in CONNECTION_WORDS):
        return "CONNECTION", "", after
    return "OTHER", "", after


def _fill(rows, model):
    batch = []
    for row in rows.iterator(chunk_size=BATCH):
        row.error_kind, row.error_code, row.gave_up_after = classified(row.last_error)
        batch.append(row)
        if len(batch) == BATCH:
            model.objects.bulk_update(batch, ["error_kind", "error_code", "gave_up_after"])
            batch = []
    if batch:
        model.objects.bulk_update(batch, ["error_kind", "error_code", "gave_up_after"])


def classify_stored(apps, schema_editor):
    OutboxEntry = apps.get_model("sync", "OutboxEntry")
    TaskSyncRecord = apps.get_model("tasks", "TaskSyncRecord")
    # A done entry's text ("superseded by a newer change") is no failure.
    _fill(OutboxEntry.objects.exclude(last_error="").exclude(state="done"), OutboxEntry)
    _fill(TaskSyncRecord.objects.exclude(last_error=""), TaskSyncRecord)


class Migration(migrations.Migration):
    dependencies = [
        ("sync", "0013_alert_mail"),
        ("tasks", "0008_sync_record_error_kind"),
    ]

    operations = [
        migrations.AddField(
            model_name="outboxentry",
            name="error_code",
            field=models.CharField(blank=True, max_length=80),
        ),
        migrations.AddField(
            model_name="outboxentry",
            name="error_kind",
            field=models.CharField(blank=True, max_length=80),
        ),
        migrations.AddField(
            model_name="outboxentry",
            name="gave_up_after",
            field=models.PositiveIntegerField(blank=True, null=True),
        ),
        migrations.AddIndex(
            model_name="outboxentry",
            index=models.Index(fields=["state", "error_kind"], name="outbox_state_kind"),
        ),
        migrations.RunPython(classify_stored, migrations.RunPython.noop, elidable=True),
    ]
