from django.apps import AppConfig


class SyncConfig(AppConfig):
    name = "sync"
    verbose_name = "Salesforce sync"

    def ready(self) -> None:
        from adminconfig import hooks

        from .engine_hooks import SyncEngine
        from .gateway import SalesforceGateway

        hooks.register(gateway=SalesforceGateway(), engine=SyncEngine())
        from . import signals  # noqa: F401 - connects the task signal handlers
