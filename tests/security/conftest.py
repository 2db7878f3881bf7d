import pytest
from django.contrib.auth.models import Group
from rest_framework.test import APIClient

from adminconfig.permissions import SYNC_ADMIN_GROUP
from tests.factories import AdminFactory, UserFactory


@pytest.fixture
def staff(db):
    """Staff: may use the admin and the users/ API, but is neither superuser nor sync admin."""
    return UserFactory(username="stella", is_staff=True)


@pytest.fixture
def sync_admin(db):
    user = UserFactory(username="sam", is_staff=True)
    user.groups.add(Group.objects.get(name=SYNC_ADMIN_GROUP))
    return user


@pytest.fixture
def superuser(db):
    return AdminFactory(username="root")


def client_for(user) -> APIClient:
    client = APIClient()
    if user is not None:
        client.force_authenticate(user)
    return client
