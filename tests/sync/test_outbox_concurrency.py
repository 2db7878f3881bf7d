import threading

import pytest
from django.db import connection as db_connection
from django.db import connections
from django.utils import timezone

from sync import outbox
from sync.models import OutboxEntry


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_workers_claiming_at_once_never_get_the_same_entry():
    if db_connection.vendor != "postgresql":
        pytest.skip("skip_locked needs PostgreSQL; runs in CI's PostgreSQL pass")
    OutboxEntry.objects.bulk_create(
        OutboxEntry(task_id=n, operation="upsert", next_attempt_at=timezone.now())
        for n in range(300)
    )
    barrier = threading.Barrier(2)
    claimed: list[list[int]] = []

    def worker() -> None:
        try:
            barrier.wait()
            claimed.append([e.pk for e in outbox.outbox_claim(limit=200)])
        finally:
            connections.close_all()

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    first, second = claimed
    assert not set(first) & set(second)
    assert len(first) + len(second) == 300
    assert OutboxEntry.objects.filter(state="in_flight").count() == 300
