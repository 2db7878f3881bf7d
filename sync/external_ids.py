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
