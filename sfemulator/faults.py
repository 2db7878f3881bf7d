"""The fault plan: what the emulator does wrong on purpose, so clients can prove they survive.

Set by flags at start and replaced at run time through the admin endpoint. Randomness comes
from a seedable generator so tests can be deterministic; the `*_next` counters (`fail_next`,
`lock_next` and the write-call faults) give exact counts without any randomness at all.
"""

from __future__ import annotations

import random
import threading
from dataclasses import asdict, dataclass, fields
from typing import Any


@dataclass
class FaultPlan:
    latency_ms: int = 0
    # Share (0..1) of REST requests answered with error_status (503 or 500).
    error_rate: float = 0.0
    error_status: int = 503
    # The next N REST requests are answered with error_status, then the plan goes back to rates.
    fail_next: int = 0
    # Share of record writes that fail with UNABLE_TO_LOCK_ROW; lock_next fails the next N.
    lock_rate: float = 0.0
    lock_next: int = 0
    # Every REST call is refused with REQUEST_LIMIT_EXCEEDED while this is set.
    api_limit_reached: bool = False
    # Also apply latency and error faults to the OAuth token endpoint.
    include_oauth: bool = False
    seed: int | None = None
    # Faults of write calls (see WriteFaults). Each counter counts the next N write calls on
    # its own, so two counters set to 1 both hit the same next write call.
    late_commit_next: int = 0
    late_commit_ms: int = 3000
    lose_answer_next: int = 0
    apply_late_next: int = 0
    apply_late_ms: int = 3000
    # The next N change events (one per record change, Streaming API) are published as gap
    # events instead: GAP_CREATE, GAP_UPDATE, ... with the header only, as Salesforce sends
    # when it cannot make the change event.
    stream_gap_next: int = 0

    @classmethod
    def from_json(cls, data: Any) -> FaultPlan:
        if not isinstance(data, dict):
            raise ValueError("the fault plan must be a JSON object")
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(data) - known - {"expire_tokens"})
        if unknown:
            raise ValueError(f"unknown fault settings: {', '.join(unknown)}")
        plan = cls(**{k: v for k, v in data.items() if k in known})
        plan.validate()
        return plan

    def validate(self) -> None:
        for name in ("error_rate", "lock_rate"):
            value = getattr(self, name)
            if not isinstance(value, int | float) or not 0 <= value <= 1:
                raise ValueError(f"{name} must be a number between 0 and 1")
        if self.error_status not in (500, 503):
            raise ValueError("error_status must be 500 or 503")
        for name in (
            "latency_ms",
            "fail_next",
            "lock_next",
            "late_commit_next",
            "late_commit_ms",
            "lose_answer_next",
            "apply_late_next",
            "apply_late_ms",
            "stream_gap_next",
        ):
            value = getattr(self, name)
            if not isinstance(value, int) or isinstance(value, bool) or value < 0:
                raise ValueError(f"{name} must be a non-negative integer")

    def to_json(self) -> dict[str, Any]:
        return asdict(self)


@dataclass(frozen=True)
class WriteFaults:
    """What the plan does to one write call (record writes through sObject rows, upserts and
    collections; not queries, password calls or OAuth).

    late_commit_ms: the call takes its SystemModstamp when it arrives, waits this long without
        holding the store, then commits with that older stamp: other writes meanwhile commit
        later stamps and become visible first (a Salesforce transaction still in flight).
    apply_late_ms: the call waits this long before it is applied and stamped, so a client
        whose timeout is shorter retries, and the retry is applied before the original.
    lose_answer: the call is applied and committed, then the connection is closed without an
        answer.
    """

    late_commit_ms: int = 0
    apply_late_ms: int = 0
    lose_answer: bool = False

    def __bool__(self) -> bool:
        return bool(self.late_commit_ms or self.apply_late_ms or self.lose_answer)


class Faults:
    def __init__(self, plan: FaultPlan | None = None) -> None:
        self._lock = threading.Lock()
        self._plan = FaultPlan()
        self._random = random.Random()
        self.set(plan or FaultPlan())

    def set(self, plan: FaultPlan) -> None:
        with self._lock:
            self._plan = plan
            self._random = random.Random(plan.seed)

    @property
    def plan(self) -> FaultPlan:
        with self._lock:
            return FaultPlan(**asdict(self._plan))

    def latency_seconds(self, oauth: bool = False) -> float:
        with self._lock:
            if oauth and not self._plan.include_oauth:
                return 0.0
            return self._plan.latency_ms / 1000

    def error_status(self, oauth: bool = False) -> int | None:
        """The status this request must fail with, if the plan says so."""
        with self._lock:
            plan = self._plan
            if oauth and not plan.include_oauth:
                return None
            if plan.fail_next > 0:
                plan.fail_next -= 1
                return plan.error_status
            if plan.error_rate and self._random.random() < plan.error_rate:
                return plan.error_status
            return None

    def lock_fault(self) -> bool:
        with self._lock:
            plan = self._plan
            if plan.lock_next > 0:
                plan.lock_next -= 1
                return True
            return bool(plan.lock_rate) and self._random.random() < plan.lock_rate

    def write_faults(self) -> WriteFaults:
        """Count down the write-call faults for one write call, and say which apply to it."""
        with self._lock:
            plan = self._plan
            late_commit = apply_late = lose_answer = False
            if plan.late_commit_next > 0:
                plan.late_commit_next -= 1
                late_commit = True
            if plan.apply_late_next > 0:
                plan.apply_late_next -= 1
                apply_late = True
            if plan.lose_answer_next > 0:
                plan.lose_answer_next -= 1
                lose_answer = True
            return WriteFaults(
                late_commit_ms=plan.late_commit_ms if late_commit else 0,
                apply_late_ms=plan.apply_late_ms if apply_late else 0,
                lose_answer=lose_answer,
            )

    def stream_gap(self) -> bool:
        """Whether this record change is published as a gap event (counts one down)."""
        with self._lock:
            plan = self._plan
            if plan.stream_gap_next > 0:
                plan.stream_gap_next -= 1
                return True
            return False

    def api_limit_reached(self) -> bool:
        with self._lock:
            return self._plan.api_limit_reached
