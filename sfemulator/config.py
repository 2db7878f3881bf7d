"""Settings of one emulator process, from flags and environment variables (see cli.py)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from sfemulator.faults import FaultPlan

MIN_VERSION = 50
MAX_VERSION = 62
DEFAULT_API_LIMIT = 100_000
DEFAULT_TOKEN_TTL = 2 * 60 * 60


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
