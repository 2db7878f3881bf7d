import pytest
from rest_framework.test import APIClient

from tests.factories import AdminFactory, UserFactory


@pytest.fixture
def staff(db):
    """Staff: may use the admin and the users/ API, but is neither superuser nor sync admin."""
    return UserFactory(username="stella", is_staff=True)


@pytest.fixture
def superuser(db):
    return AdminFactory(username="root")


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
