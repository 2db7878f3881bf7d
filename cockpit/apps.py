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
        from . import signals  # noqa: F401 - connects the failed-login log
