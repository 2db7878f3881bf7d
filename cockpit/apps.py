from django.apps import AppConfig
from django.contrib.admin import apps as admin_apps


class CockpitAdminConfig(admin_apps.AdminConfig):
    default = False
    default_site = "cockpit.admin_site.CockpitAdminSite"


class CockpitConfig(AppConfig):
    default = True
    name = "cockpit"
    verbose_name = "Cockpit"

    def ready(self) -> None:
        from sync.context import is_applying_inbound
        from tasks.hooks import register_owner_writing

        from . import signals  # noqa: F401 - connects the failed-login log

        # Salesforce's values, applied by the sync, may change the fields locked to it.
        # This wiring belongs beside register_locked_fields in sync's AppConfig.ready(); it
        # lives here, the one app that may import both, until the sync registers it itself.
        register_owner_writing(is_applying_inbound)
