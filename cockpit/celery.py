import os

from celery import Celery
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cockpit.settings")
# The embedded broker writes its messages atomically (cockpit/broker.py explains why).
TRANSPORT_ALIASES["filesystem"] = "cockpit.broker:Transport"

app = Celery("cockpit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()
