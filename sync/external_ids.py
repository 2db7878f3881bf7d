"""External ids: Cockpit_Task_Id__c holds "cockpit-<task id>" on a Cockpit task's twin."""

EXTERNAL_PREFIX = "cockpit-"  # Cockpit_Task_Id__c holds "cockpit-<task id>"


def external_id(task_id: int) -> str:
    """The value of a Cockpit task's external id field in Salesforce."""
    return f"{EXTERNAL_PREFIX}{task_id}"


def task_id_of(external: str) -> int | None:
    """The Cockpit task an external id value names, if it is one of ours."""
    if not external.startswith(EXTERNAL_PREFIX):
        return None
    try:
        return int(external.removeprefix(EXTERNAL_PREFIX))
    except ValueError:
        return None


def task_ids_of(externals: dict[str, str]) -> dict[str, int]:
    """Of these external id values (by any key: a Salesforce record's Id, say), those that name
    a Cockpit task, as that task's id: a page's records read in one pass."""
    found = {key: task_id_of(external) for key, external in externals.items()}
    return {key: task_id for key, task_id in found.items() if task_id is not None}
