from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Salesforce sync"

    def ready(self) -> None:
        from adminconfig import hooks

        from .engine_hooks import SyncEngine
        from .gateway import SalesforceGateway

        hooks.register(gateway=SalesforceGateway(), engine=SyncEngine())
        from tasks.hooks import register_locked_fields

        from .selectors import fields_locked_for

        register_locked_fields(fields_locked_for)
        from tasks.hooks import register_push_request

        from .outbox import task_change_record

        register_push_request(
            lambda task, force: task_change_record(task=task, force=force) is not None
        )
        from tasks.hooks import register_sync_note

        from .outbox import task_sync_note

        register_sync_note(task_sync_note)
        from tasks.hooks import register_fields_changed

        from .agreement import agreement_touched

        register_fields_changed(lambda task, fields: agreement_touched(task=task, fields=fields))
        from tasks.hooks import register_account_changed

        from .outbox import company_tasks_record

        register_account_changed(lambda company: company_tasks_record(company=company))
        from .scheduler import catch_up_run
        from .stream import stream_catch_up_register

        stream_catch_up_register(catch_up_run)
        from . import (
            signals,  # noqa: F401 - connects the task signal handlers
            tasks,  # noqa: F401 - registers the jobs sync.enqueue queues by name
        )
