import pytest

from adminconfig import services as config
from sync.clients import clients_reset
from tests.factories import UserFactory


@pytest.fixture
def alice(db):
    # Her email matches a sales user the emulator seeds.
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def org(sfemu_clean, alice, django_capture_on_commit_callbacks):
    """The emulator as the primary connection, described, with users matched and sync on."""
    clients_reset()
    connection = config.connection_create(
        name="Emulator",
        login_url=sfemu_clean.login_url,
        client_id=sfemu_clean.client_id,
        client_secret=sfemu_clean.client_secret,
        ca_bundle=sfemu_clean.ca_path,
    )
    report = config.connection_test(connection=connection)
    assert report.ok, report.message
    config.users_match_by_email(connection=connection)
    with django_capture_on_commit_callbacks(execute=True):
        config.sync_settings_update(auto_sync=True)
    sfemu_clean.reset_request_log()
    return sfemu_clean
