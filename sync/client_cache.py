"""One logged-in Salesforce client per worker process and connection, so a push does not log in
again every time (the token is reused until Salesforce says it expired)."""

import threading

from adminconfig.models import SalesforceConnection

from .client import SalesforceClient
from .gateway import credentials
from .logs import step_connection

_lock = threading.Lock()
_clients: dict[tuple[int, str], SalesforceClient] = {}


def client_for_connection(connection: SalesforceConnection) -> SalesforceClient:
    step_connection(connection.name)  # the running step's log lines name it
    # The key changes whenever the connection is edited, so new credentials take effect.
    key = (connection.pk, connection.updated_at.isoformat())
    with _lock:
        client = _clients.get(key)
        if client is None:
            for old in [k for k in _clients if k[0] == connection.pk]:
                del _clients[old]
            client = _clients[key] = SalesforceClient(credentials(connection))
    return client


def clients_reset() -> None:
    with _lock:
        _clients.clear()
