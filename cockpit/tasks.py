from celery import shared_task
from django.utils import timezone

from .models import WorkerHeartbeat


@shared_task(name="cockpit.tasks.heartbeat")
def heartbeat() -> None:
    WorkerHeartbeat.objects.update_or_create(name="worker", defaults={"last_seen": timezone.now()})
