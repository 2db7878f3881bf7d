import os
from typing import Any

from celery import Celery
from celery.signals import setup_logging, worker_ready
from kombu.transport import TRANSPORT_ALIASES

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cockpit.settings")
# The embedded broker writes its messages atomically (cockpit/broker.py explains why).
TRANSPORT_ALIASES["filesystem"] = "cockpit.broker:Transport"

app = Celery("cockpit")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()


@setup_logging.connect
def _logging_from_settings(**kwargs: Any) -> None:
    """The worker and beat log as the web app does (LOGGING: LOG_FORMAT, LOG_LEVEL), instead
    of Celery replacing the root logger's handler with its own text format."""
    import logging.config

    from django.conf import settings

    logging.config.dictConfig(settings.LOGGING)


@worker_ready.connect
def _heartbeat_at_start(sender: Any, **kwargs: Any) -> None:
    """A worker that has just started says so through the queue, as beat's heartbeat does, so
    /healthz calls it up at once instead of at beat's next heartbeat."""
    app.send_task("cockpit.tasks.heartbeat")
