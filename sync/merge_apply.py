"""What merges take from Salesforce, written into the Cockpit tasks all at once."""

from typing import Any

from django.contrib.auth.models import User
from django.core.exceptions import ValidationError

from tasks import services as task_services
from tasks.models import Company, Task

from .engine_config import Engine
from .payload import COMPANY, OWNER, task_changes


def merged_values_apply(
    engine: Engine, to_apply: list[tuple[Task, dict[str, Any]]]
) -> dict[int, ValidationError]:
    """Write what the merges take from Salesforce into the tasks, all at once; returns the
    refused tasks (they keep their values)."""
    if not to_apply:
        return {}
    users = _users_for([values[OWNER] for _, values in to_apply if OWNER in values])
    companies = _companies_for([values[COMPANY] for _, values in to_apply if values.get(COMPANY)])
    changes = [
        (task, task_changes(values, engine.spec, engine.picklists, users, companies))
        for task, values in to_apply
    ]
    return task_services.tasks_update_from_salesforce(changes=changes)


def _users_for(ids: list[Any]) -> dict[int, User]:
    if not ids:
        return {}
    return {u.pk: u for u in User.objects.filter(pk__in=set(ids))}


def _companies_for(ids: list[Any]) -> dict[int, Company]:
    if not ids:
        return {}
    return {c.pk: c for c in Company.objects.filter(pk__in=set(ids))}
