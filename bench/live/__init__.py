"""The sync under live traffic, on the whole stack: `python -m bench live`.

Starts what `make run` starts, as real processes over a private SQLite database and the default
filesystem broker (tests/e2e/stack.py): the Salesforce emulator, gunicorn, a Celery worker and
beat. Cockpit is configured through its API and driven through it as an integrator would (token
auth); Salesforce is read and written with simple-salesforce. Nothing is mocked.

- Trickle: LIVE_RATES changes a second (default 1,10,50,200) for LIVE_SECONDS (default 30),
  half creates and half renames, from as many client threads as the rate needs; then the same
  change stream through a naive sync (one simple-salesforce call per change, as a post_save
  handler would make it) against the same emulator.
- Sparse edits: LIVE_SPARSE (default 20) linked tasks renamed one at a time, 1.5 s apart,
  after a pull has seen them again (as linked tasks are): issue 19's at most one call an edit.
- Change events: Salesforce users create tasks at LIVE_STREAM_RATES a second (default 50) for
  LIVE_SECONDS with the listener running: the lag to Cockpit (issue 12's target).
- Backlogs of LIVE_BACKLOGS changes (default 1000,10000) each way: out, tasks created while the
  worker is stopped, then released; in, renames and creates made in Salesforce in collections of
  200, then a pull.
- Change events: as many tasks as the first backlog created in Salesforce with the listener
  (`manage.py sync_stream`) running, as `make run` runs it.
- Drift repair: a reconcile of every linked task, started from the API, run by the worker
  (issue 8, item 7: its cost only).

Per scenario: Cockpit's Salesforce calls in that direction (counted inside the worker and
checked against the emulator's request log), the physical minimum (out: ceil(N/1,000)
Composite calls of 5 collections of 200; in: ceil(N/2,000) query pages) and the target bound
(issue 19's out, issue 8's in), the naive sync's calls and the
ratio, lag from commit to visible on the other side (polled every 100 ms), records a second
of worker busy time, database queries a record in the worker, the worker's peak memory and the
broker queue's peak. The table is printed and written to var/bench/live.md (LIVE_OUTPUT). The
stack's folder (logs, databases) is removed after a run that converged, unless LIVE_KEEP is set.
"""

from __future__ import annotations

import datetime as dt
import os
import platform
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from bench.live.harness import Row

REPO_ROOT = Path(__file__).resolve().parents[2]
COLUMNS = (
    "scenario",
    "changes",
    "cockpit calls",
    "records/call",
    "minimum",
    "target",
    "naive calls",
    "ratio",
    "lag p50",
    "lag p95",
    "records/s",
    "queries/record",
    "worker peak MB",
    "broker peak",
)


SPARSE_GAP = 1.5  # seconds between two sparse edits, as a CSM works


def _numbers(name: str, default: str) -> list[int]:
    raw = os.environ.get(name, default)
    try:
        return [int(part) for part in raw.replace(" ", "").split(",") if part]
    except ValueError:
        sys.exit(f"{name} must be comma-separated whole numbers, not {raw!r}")


def main() -> None:
    seconds = _numbers("LIVE_SECONDS", "30")[0]
    rates = _numbers("LIVE_RATES", "1,10,50,200")
    sizes = _numbers("LIVE_BACKLOGS", "1000,10000")
    output = Path(os.environ.get("LIVE_OUTPUT") or REPO_ROOT / "var" / "bench" / "live.md")

    from bench.live import backlogs, harness, sparse, trickle
    from tests.e2e.stack import Stack

    workdir = Path(tempfile.mkdtemp(prefix="cockpit-live-"))
    stack = Stack(workdir, worker_args=("--include", "bench.live.worker_queries"))
    stack.env["LIVE_QUERY_STATS"] = str(workdir / "worker-stats.json")
    rows: list[Row] = []
    started = time.monotonic()
    try:
        stack.start()
        print(f"stack up in {time.monotonic() - started:.0f} s ({workdir})", flush=True)
        live = harness.configure(stack)
        for count in _numbers("LIVE_SPARSE", "20"):
            rows.append(_report(sparse.sparse(live, count, SPARSE_GAP)))
        for rate in rates:
            rows.append(_report(trickle.trickle(live, rate, seconds)))
        for rate in _numbers("LIVE_STREAM_RATES", "50"):
            rows.append(_report(backlogs.stream_trickle(live, rate, seconds)))
        for count in sizes:
            row, twins = backlogs.backlog_out(live, count)
            rows.append(_report(row))
            rows.append(_report(backlogs.backlog_in(live, count, twins)))
        if sizes:
            rows.append(_report(backlogs.stream_in(live, sizes[0])))
            rows.append(_report(backlogs.reconcile(live)))
    except BaseException:
        # What was measured before the failure is still worth reading.
        partial = _report_text(rows, seconds, rates, sizes, time.monotonic() - started)
        print(f"\nINTERRUPTED; what was measured so far:\n{partial}")
        print(f"The stack's logs are in {workdir / 'logs'} and {workdir / 'sfemulator'}")
        raise
    finally:
        stack.stop()
    report = _report_text(rows, seconds, rates, sizes, time.monotonic() - started)
    print("\n" + report)
    output.parent.mkdir(parents=True, exist_ok=True)
    output.write_text(report)
    print(f"(written to {output})")
    if not all(row.converged for row in rows):
        sys.exit(
            f"Some scenarios did not converge: see the notes above, and the stack's logs in "
            f"{workdir / 'logs'}"
        )
    if not os.environ.get("LIVE_KEEP"):
        shutil.rmtree(workdir, ignore_errors=True)


def _report_text(
    rows: list[Row], seconds: int, rates: list[int], backlogs: list[int], took: float
) -> str:
    note = (
        f"{dt.datetime.now(dt.UTC):%Y-%m-%d %H:%M} UTC, {os.cpu_count()} cores "
        f"({platform.machine()}, Python {platform.python_version()}), SQLite, filesystem "
        f"broker, worker concurrency 1; LIVE_SECONDS={seconds} LIVE_RATES="
        f"{','.join(map(str, rates))} LIVE_BACKLOGS={','.join(map(str, backlogs))}; "
        f"{took:.0f} s in all; code: {_code_version()}"
    )
    notes = "\n".join(f"- {row.scenario}: {'; '.join(row.notes)}" for row in rows)
    missed = "\n".join(f"- {row.scenario}: {m}" for row in rows for m in targets_missed(row))
    return f"{render(rows)}\n\n{note}\n\n{notes}\n\nTargets missed:\n{missed or '- none'}\n"


def _code_version() -> str:
    """The commit measured, and whether the working tree differed from it."""
    if os.environ.get("LIVE_CODE"):
        return os.environ["LIVE_CODE"]
    try:
        commit = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "rev-parse", "--short", "HEAD"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "-C", str(REPO_ROOT), "status", "--porcelain", "--untracked-files=no"],  # noqa: S607
            capture_output=True,
            text=True,
            check=True,
            timeout=10,
        ).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "not a git checkout"
    return f"{commit} with uncommitted changes" if dirty else commit


def _report(row: Row) -> Row:
    """One line as soon as a scenario ends: the full run takes minutes."""
    print(
        f"  {row.scenario}: {row.calls} calls, lag p95 {_seconds(row.lag_p95)}, "
        f"{_format(row.records_per_s, '{:,.0f}')} records/s",
        flush=True,
    )
    return row


def targets_missed(row: Row) -> list[str]:
    missed = []
    if row.calls is not None and row.target is not None and row.calls > row.target:
        missed.append(f"{row.calls} calls, target at most {row.target}")
    ratio = row.naive / row.calls if row.naive and row.calls else None
    if row.ratio_target is not None and ratio is not None and ratio < row.ratio_target:
        missed.append(f"naive/cockpit {ratio:.1f}×, target at least {row.ratio_target:.0f}×")
    if row.lag_target is not None and (row.lag_p95 or 0) > row.lag_target:
        missed.append(f"lag p95 {row.lag_p95:.2f} s, target at most {row.lag_target:.0f} s")
    if row.rate_target is not None and (row.records_per_s or 0) < row.rate_target:
        missed.append(
            f"{_format(row.records_per_s, '{:,.0f}')} records/s, "
            f"target at least {row.rate_target:,.0f}"
        )
    if row.queries_target is not None and (row.queries_per_record or 0) > row.queries_target:
        missed.append(
            f"{row.queries_per_record:.2f} queries/record, target at most {row.queries_target}"
        )
    if not row.converged:
        missed.append("did not converge")
    return missed


def render(rows: list[Row]) -> str:
    lines = ["| " + " | ".join(COLUMNS) + " |", "|" + "---|" * len(COLUMNS)]
    for row in rows:
        ratio = row.naive / row.calls if row.naive and row.calls else None
        cells = [
            row.scenario,
            f"{row.changes:,}",
            _format(row.calls, "{:,}"),
            _format(row.changes / row.calls if row.calls else None, "{:,.1f}"),
            f"{row.minimum:,}",
            "-" if row.target is None else f"≤ {row.target:,}",
            _format(row.naive, "{:,}"),
            _format(ratio, "{:,.1f}×"),
            _seconds(row.lag_p50),
            _seconds(row.lag_p95),
            _format(row.records_per_s, "{:,.0f}"),
            _format(row.queries_per_record, "{:.2f}"),
            _format(row.worker_mb, "{:.0f}"),
            "n/a" if row.broker_peak is None else str(row.broker_peak),
        ]
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _format(value: float | None, pattern: str) -> str:
    return "-" if value is None else pattern.format(value)


def _seconds(value: float | None) -> str:
    return "-" if value is None else f"{value:.2f} s"
