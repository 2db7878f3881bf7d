"""The one module that talks to Salesforce refuses to do so inside a database transaction."""

import pytest
from django.db import transaction

from adminconfig.models import SalesforceConnection
from sync.client import CalledInTransactionError
from sync.client_cache import client_for_connection

pytestmark = pytest.mark.django_db


def test_a_salesforce_call_inside_an_atomic_block_fails_loudly_and_sends_nothing(org):
    client = client_for_connection(SalesforceConnection.objects.get(is_primary=True))

    with pytest.raises(CalledInTransactionError), transaction.atomic():
        client.limits()

    assert org.api_calls() == 0


def test_the_login_is_refused_inside_an_atomic_block_too(org):
    from sync.client_cache import clients_reset

    clients_reset()  # a fresh client logs in first
    client = client_for_connection(SalesforceConnection.objects.get(is_primary=True))

    with pytest.raises(CalledInTransactionError), transaction.atomic():
        client.task_describe()


def test_the_test_runs_own_transaction_does_not_count(org):
    # pytest-django wraps this test in atomic blocks of its own; the client sees none.
    client = client_for_connection(SalesforceConnection.objects.get(is_primary=True))

    assert "DailyApiRequests" in client.limits()
    assert org.api_calls() == 1
