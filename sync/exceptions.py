"""The engine's refusals that a person can act on, raised by its services."""


class SyncOffError(Exception):
    """What was asked cannot be done now: it needs the sync switched on (a CSM's Sync to
    Salesforce needs Auto Sync, a drift repair both switches and a primary connection, a pull
    Bi-directional Sync), on this task (a desynced one), or the engine free (a pull asked while
    one runs). Nothing was queued or run, and the message says why. The API answers 409
    Conflict with it, `{"detail": message}` (cockpit/exceptions.py); a page shows it."""
