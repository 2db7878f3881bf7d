"""Settings of one emulator process, from flags and environment variables (see cli.py)."""

from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any

from sfemulator.faults import FaultPlan

MIN_VERSION = 50
MAX_VERSION = 62
DEFAULT_API_LIMIT = 100_000
DEFAULT_TOKEN_TTL = 2 * 60 * 60


@dataclass
class StreamSettings:
    """The Streaming API's knobs; Salesforce's values by default. Tests shorten the long poll
    and lower the thresholds at run time (admin `streaming`)."""

    # How long a /meta/connect is held when there is nothing to deliver (Salesforce: 110 s).
    timeout_ms: int = 110_000
    # A client that sends nothing for this long after its last answer is forgotten, and its
    # next message gets 403::Unknown client (Salesforce: 40 s after events were delivered).
    max_interval_ms: int = 40_000
    # Retained events, at most (Salesforce keeps every event of the last 72 hours).
    max_events: int = 100_000
    # Changes in one transaction beyond this many become one GAP_OVERFLOW event per object
    # (Salesforce: 100,000; an update counts one change per changed field).
    overflow_threshold: int = 100_000
    retention_hours: float = 72.0

    @classmethod
    def from_json(cls, data: Any, base: StreamSettings | None = None) -> StreamSettings:
        """Settings from a JSON object; keys left out keep `base`'s values (the defaults)."""
        if not isinstance(data, dict):
            raise ValueError("the streaming settings must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known)
        if unknown:
            raise ValueError(f"unknown streaming settings: {', '.join(unknown)}")
        settings = cls(**{**asdict(base or cls()), **data})
        settings.validate()
        return settings

    def validate(self) -> None:
        for name in ("timeout_ms", "max_interval_ms", "max_events", "overflow_threshold"):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 1:
                raise ValueError(f"{name} must be a positive integer")
        value = self.retention_hours
        if not isinstance(value, int | float) or isinstance(value, bool) or value <= 0:
            raise ValueError("retention_hours must be a positive number")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class Config:
    state: Path
    cert_dir: Path
    client_id: str
    client_secret: str
    host: str = "127.0.0.1"
    port: int = 8443
    seed: str = "none"
    fault_secret: str | None = None
    token_ttl: int = DEFAULT_TOKEN_TTL
    api_limit: int = DEFAULT_API_LIMIT
    faults: FaultPlan = field(default_factory=FaultPlan)
    log_requests: bool = False
    stream: StreamSettings = field(default_factory=StreamSettings)
