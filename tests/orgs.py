"""One way to connect Cockpit to an emulator, for tests and benchmarks alike."""

from typing import Any

from adminconfig import services as config
from adminconfig.models import SalesforceConnection


def emulator_connection(emulator: Any, **fields: Any) -> SalesforceConnection:
    """A connection to the emulator, saved and nothing more (not tested, no users matched)."""
    return config.connection_create(
        **{"name": "Emulator", **fields},
        login_url=emulator.login_url,
        client_id=emulator.client_id,
        client_secret=emulator.client_secret,
        ca_bundle=emulator.ca_path,
    )


def emulator_connect(emulator: Any) -> SalesforceConnection:
    """The emulator as the primary connection: tested (so described) and with Cockpit users
    matched to its users by email. Sync switches are left to the caller."""
    connection = emulator_connection(emulator)
    report = config.connection_test(connection=connection)
    assert report.ok, report.message
    config.users_match_by_email(connection=connection)
    return connection


def emulator_sync_on(emulator: Any, *, bidirectional: bool = False) -> SalesforceConnection:
    """The org every sync test and benchmark starts from: the emulator connected as above, with
    Auto Sync on (and Bi-directional Sync when asked). Switching on queues the first import
    after commit: tests call this inside `committed()`."""
    connection = emulator_connect(emulator)
    config.sync_settings_update(auto_sync=True, bidirectional_sync=bidirectional)
    return connection
