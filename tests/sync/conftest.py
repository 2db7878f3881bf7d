import pytest

from adminconfig import services as config
from sync.clients import clients_reset
from tests.factories import UserFactory
from tests.orgs import emulator_connect


@pytest.fixture
def alice(db):
    # Her email matches a sales user the emulator seeds.
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def org(sfemu_clean, alice, django_capture_on_commit_callbacks):
    """The emulator as the primary connection, described, with users matched and sync on."""
    clients_reset()
    emulator_connect(sfemu_clean)
    with django_capture_on_commit_callbacks(execute=True):
        config.sync_settings_update(auto_sync=True)
    sfemu_clean.reset_request_log()
    return sfemu_clean
