"""Why a push failed, classified once where the failure is met: `sync/client.py` for what
Salesforce (or the way to it) answered, the push for Cockpit's own refusals. The kind, the code
and the attempts Cockpit gave up after are stored beside the reason on the outbox entry and the
task's sync record: the sync health page groups and filters by kind in the database, and the
pages word an error from its kind and attempts. The reason stays text, for people."""

from dataclasses import dataclass
from typing import Any

# Cockpit's own kinds; every other kind is Salesforce's error code ("STRING_TOO_LONG").
OWNER_NOT_MAPPED = "OWNER_NOT_MAPPED"
CONNECTION = "CONNECTION"
OTHER = "OTHER"
# The codes the client gives a call whose answer never came from Salesforce.
TRANSPORT_CODES = frozenset({"CONNECTION_ERROR", "SSL_ERROR"})
CODE_LENGTH = 80  # the stored kind and code


def kind_of(code: str) -> str:
    """The kind of a failure Salesforce answered with this code (or the client, for the
    transport)."""
    if code in TRANSPORT_CODES:
        return CONNECTION
    return code[:CODE_LENGTH] or OTHER


def gave_up_words(attempts: int) -> str:
    """What the reason of a push Cockpit stopped retrying ends with."""
    return f" (gave up after {attempts} attempts)"


def reason_of(message: str, gave_up_after: int | None) -> str:
    """A stored message without the words that say Cockpit gave up (they are known exactly)."""
    if gave_up_after is None:
        return message
    return message.removesuffix(gave_up_words(gave_up_after))


@dataclass(frozen=True)
class Failure:
    reason: str  # as Salesforce or Cockpit worded it
    kind: str = OTHER
    code: str = ""  # Salesforce's error code, or the client's for the transport
    gave_up_after: int | None = None  # the attempts, when Cockpit stopped retrying

    @property
    def message(self) -> str:
        """The reason as stored for people to read (last_error)."""
        if self.gave_up_after is None:
            return self.reason
        return self.reason + gave_up_words(self.gave_up_after)

    @classmethod
    def stored(cls, row: Any) -> "Failure | None":
        """The failure an outbox entry or a sync record holds, as stored."""
        if not row.last_error:
            return None
        reason = reason_of(row.last_error, row.gave_up_after)
        return cls(reason, row.error_kind or OTHER, row.error_code, row.gave_up_after)

    @property
    def log_line(self) -> str:
        """The failure as the sync's log (a SyncEvent) records it: a give-up leads with the
        attempts, so the task page words it without reading them back out of a reason that
        may hold any text (cockpit/selectors.py)."""
        if self.gave_up_after is None:
            return self.reason
        return f"Gave up after {self.gave_up_after} attempts: {self.reason}"

    def gave_up(self, attempts: int) -> "Failure":
        return Failure(self.reason, self.kind, self.code, attempts)

    def columns(self) -> dict[str, object]:
        """The failure as the columns of an outbox entry or a sync record."""
        return {
            "last_error": self.message,
            "error_kind": self.kind,
            "error_code": self.code[:CODE_LENGTH],
            "gave_up_after": self.gave_up_after,
        }


# The columns of no failure (a push that went through, an entry retried by hand).
NO_FAILURE: dict[str, object] = {
    "last_error": "",
    "error_kind": "",
    "error_code": "",
    "gave_up_after": None,
}
