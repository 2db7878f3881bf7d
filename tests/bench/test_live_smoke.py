"""`python -m bench live` in miniature: the whole stack, one short trickle and backlogs of 50,
so the benchmark keeps working as the sync changes. The figures themselves are the benchmark's
business; only their sanity is checked here."""

import os
import re
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.stack import REPO_ROOT

ROWS = (
    "trickle 10/s × 3 s",
    "stream trickle 10/s × 3 s",
    "backlog out 50",
    "backlog in 50",
    "stream in 50",
    "reconcile ",
    "sparse edits 4 ",
)


def _table(text: str) -> dict[str, dict[str, str]]:
    lines = [line for line in text.splitlines() if line.startswith("| ")]
    header = [cell.strip() for cell in lines[0].strip("|").split("|")]
    rows = {}
    for line in lines[1:]:
        cells = dict(zip(header, (c.strip() for c in line.strip("|").split("|")), strict=True))
        rows[cells["scenario"]] = cells
    return rows


def _number(cell: str) -> float:
    found = re.match(r"[\d,.]+", cell)
    assert found, f"not a number: {cell!r}"
    return float(found.group().replace(",", ""))


def test_the_live_benchmark_measures_every_scenario_on_a_small_run(
    tmp_path: Path, _kept: Any
) -> None:
    # The benchmark's stack reads the broker of this environment: no other stack's worker
    # may be reading it (CI's Redis pass timed out when tests/e2e's kept stack took its
    # messages).
    _kept.stop()
    output = tmp_path / "live.md"
    env = {
        **os.environ,
        "LIVE_SECONDS": "3",
        "LIVE_SPARSE": "4",
        "LIVE_RATES": "10",
        "LIVE_STREAM_RATES": "10",
        "LIVE_BACKLOGS": "50",
        "LIVE_OUTPUT": str(output),
    }
    bench = subprocess.Popen(  # noqa: S603
        [sys.executable, "-m", "bench", "live"],
        cwd=REPO_ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        out, _ = bench.communicate(timeout=180)
    except subprocess.TimeoutExpired:
        # Ctrl-C, not a kill: the benchmark stops its stack on the way out (killed, it left
        # its worker reading this environment's broker for the tests after it).
        bench.send_signal(signal.SIGINT)
        out, _ = bench.communicate(timeout=60)
        pytest.fail(f"bench live ran past 180 s:\n{out[-10000:]}")
    assert bench.returncode == 0, out[-10000:]

    report = output.read_text()
    assert "still busy" not in report, report  # the worker's own counts stopped coming
    rows = _table(report)
    assert len(rows) == len(ROWS), rows
    assert all(any(name.startswith(prefix) for name in rows) for prefix in ROWS), rows
    for name, row in rows.items():
        # Change events: no pull, maybe no REST call at all.
        if name.startswith(("stream in", "stream trickle")):
            assert 0 <= _number(row["lag p50"]) <= _number(row["lag p95"]) < 60, row
            continue
        if name.startswith("sparse edits"):
            # A CSM's edits seconds apart cost one call each (a write conditional on the version
            # Cockpit agreed with) or, where a change event of Cockpit's own write came after
            # the settling pull and left no stamp, a read and a write: never more. The one-call
            # rule itself is held exactly by tests/sync/test_conditional_push.py.
            assert _number(row["cockpit calls"]) <= 2 * _number(row["changes"]) == 8, row
            assert 0 <= _number(row["lag p50"]) <= _number(row["lag p95"]) < 60, row
            continue
        if name.startswith("reconcile"):
            assert _number(row["changes"]) >= 50 + 25, row  # the backlog's tasks at least
            assert _number(row["cockpit calls"]) > 0, row
            continue
        assert _number(row["changes"]) > 0, (name, row)
        assert _number(row["cockpit calls"]) > 0, (name, row)
        assert _number(row["records/call"]) <= 2_000, (name, row)
        assert 0 <= _number(row["lag p50"]) <= _number(row["lag p95"]) < 60, (name, row)
        assert _number(row["records/s"]) > 0, (name, row)
        assert _number(row["queries/record"]) > 0, (name, row)
        assert 20 < _number(row["worker peak MB"]) < 2_000, (name, row)
    trickle = rows[ROWS[0]]
    assert _number(trickle["naive calls"]) == _number(trickle["changes"])
