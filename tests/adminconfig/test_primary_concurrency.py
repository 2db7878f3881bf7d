import threading

import pytest
from django.db import connection as db_connection
from django.db import connections

from adminconfig import services
from adminconfig.models import SalesforceConnection


@pytest.mark.postgres
@pytest.mark.django_db(transaction=True)
def test_two_concurrent_make_primary_saves_leave_exactly_one_primary():
    if db_connection.vendor != "postgresql":
        pytest.skip("row locks need PostgreSQL; runs in CI's PostgreSQL pass")
    orgs = [
        services.connection_create(name=f"Org {n}", client_id="c", client_secret="s")
        for n in range(3)
    ]
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def make_primary(pk: int) -> None:
        try:
            barrier.wait()
            services.connection_make_primary(connection=SalesforceConnection.objects.get(pk=pk))
        except BaseException as exc:  # noqa: BLE001 - reported by the assertion below
            errors.append(exc)
        finally:
            connections.close_all()

    threads = [threading.Thread(target=make_primary, args=(o.pk,)) for o in orgs[1:]]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()

    assert errors == []
    assert SalesforceConnection.objects.filter(is_primary=True).count() == 1


@pytest.mark.django_db
def test_the_database_refuses_a_second_primary_even_past_the_services():
    from django.db import IntegrityError, transaction

    services.connection_create(name="A", client_id="c", client_secret="s")
    with pytest.raises(IntegrityError), transaction.atomic():
        SalesforceConnection.objects.create(name="B", client_id="c", is_primary=True)
