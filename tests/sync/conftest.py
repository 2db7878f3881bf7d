import pytest

from adminconfig import services as config
from sync.client_cache import clients_reset
from tests.factories import TaskFactory, UserFactory
from tests.orgs import emulator_sync_on
from tests.sync.model import SF_USER_PASSWORD


@pytest.fixture
def alice(db):
    # Her email matches a sales user the emulator seeds.
    return UserFactory(username="alice", email="alice@example.com")


@pytest.fixture
def org(sfemu_clean, alice, committed):
    """The emulator as the primary connection, described, with users matched and sync on."""
    clients_reset()
    with committed():
        emulator_sync_on(sfemu_clean)
    sfemu_clean.reset_request_log()
    return sfemu_clean


@pytest.fixture
def older_task(sfemu_clean, alice, committed):
    """Alice's task from before sync was switched on (so it is never pushed by itself), then
    the emulator connected with sync on; the request log starts empty."""
    task = TaskFactory(owner=alice, name="Older task")
    with committed():
        emulator_sync_on(sfemu_clean)
    sfemu_clean.reset_request_log()
    return task


@pytest.fixture
def bidi(org, committed):
    """`org` with Bi-directional Sync on too; faults cleared and held writes landed after."""
    clients_reset()
    with committed():
        config.sync_settings_update(bidirectional_sync=True)
    yield org
    org.clear_faults()
    org.wait_for_waiting_writes(0)


@pytest.fixture
def sf(bidi):
    """Alice herself in Salesforce (not the integration user)."""
    admin = bidi.simple_salesforce()
    username = admin.query("SELECT Username FROM User WHERE Email = 'alice@example.com'")
    return bidi.simple_salesforce(
        username=username["records"][0]["Username"], password=SF_USER_PASSWORD
    )


@pytest.fixture
def alice_sf_id(sf):
    return sf.query("SELECT Id FROM User WHERE Email = 'alice@example.com'")["records"][0]["Id"]
