from django.apps import AppConfig


class AdminconfigConfig(AppConfig):
    name = "adminconfig"
    verbose_name = "Salesforce sync configuration"
