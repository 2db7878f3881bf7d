"""Thin hooks: a task change writes an outbox row in its own transaction; nothing more."""

from typing import Any

from django.db.models.signals import post_save, pre_delete
from django.dispatch import receiver

from tasks.models import Company, Task

from . import outbox
from .context import is_applying_inbound


@receiver(post_save, sender=Task, dispatch_uid="sync_task_saved")
def task_saved(sender: type[Task], instance: Task, raw: bool = False, **kwargs: Any) -> None:
    if raw or is_applying_inbound():  # fixtures, and changes that came from Salesforce
        return
    outbox.task_change_record(task=instance)


# pre_delete, not post_delete: the task's sync record (with its Salesforce Id) is deleted
# with it, and this runs inside the same delete transaction.
@receiver(pre_delete, sender=Task, dispatch_uid="sync_task_deleted")
def task_deleted(sender: type[Task], instance: Task, **kwargs: Any) -> None:
    if is_applying_inbound():
        return
    outbox.task_delete_record(task=instance)


# Deleting a company sets its tasks' company to NULL with one UPDATE, which fires no task
# signal; their Salesforce twins must still lose the WhatId.
@receiver(pre_delete, sender=Company, dispatch_uid="sync_company_deleted")
def company_deleted(sender: type[Company], instance: Company, **kwargs: Any) -> None:
    outbox.company_tasks_record(company=instance)
