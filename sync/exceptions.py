"""The engine's refusals that a person can act on, raised by its services."""


class SyncOffError(Exception):
    """What was asked needs the sync switched on (a CSM's Sync to Salesforce needs Auto Sync, a
    drift repair both switches and a primary connection): nothing was queued, and the message
    says which switch. The API answers 409 Conflict with it (cockpit/exceptions.py); a page
    shows it."""
