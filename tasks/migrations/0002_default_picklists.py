from django.db import migrations

STATUSES = [
    # value, order, is_closed, is_default
    ("Open", 10, False, True),
    ("In Progress", 20, False, False),
    ("Complete", 30, True, False),
]
PRIORITIES = [("Low", 10, False), ("Medium", 20, True), ("High", 30, False)]
TYPES = ["Call", "Email", "Meeting", "Follow-up"]


def create_defaults(apps, schema_editor):
    Status = apps.get_model("tasks", "Status")
    Priority = apps.get_model("tasks", "Priority")
    TaskType = apps.get_model("tasks", "TaskType")
    for value, order, is_closed, is_default in STATUSES:
        Status.objects.get_or_create(
            value=value,
            defaults={"label": value, "order": order, "is_closed": is_closed, "is_default": is_default},
        )
    for value, order, is_default in PRIORITIES:
        Priority.objects.get_or_create(
            value=value, defaults={"label": value, "order": order, "is_default": is_default}
        )
    for name in TYPES:
        TaskType.objects.get_or_create(name=name)


class Migration(migrations.Migration):
    dependencies = [("tasks", "0001_initial")]
    operations = [migrations.RunPython(create_defaults, migrations.RunPython.noop)]
