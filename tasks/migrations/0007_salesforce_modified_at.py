from django.db import migrations, models


class Migration(migrations.Migration):
    dependencies = [
        ("tasks", "0006_task_due_id_and_search_indexes"),
    ]

    operations = [
        migrations.AddField(
            model_name="tasksyncrecord",
            name="salesforce_modified_at",
            field=models.DateTimeField(blank=True, null=True),
        ),
    ]
