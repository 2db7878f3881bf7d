"""Sparse edits: CSMs editing linked tasks one at a time, a few seconds apart (issue 19: 20 edits
1.5 s apart cost 40 calls, a read before each write, where a naive sync makes 20)."""

from __future__ import annotations

import time

from bench.live.harness import (
    PUSH_TASKS,
    WATCHER,
    Live,
    NotConverged,
    Row,
    settle,
    wait_until,
    window,
)
from bench.live.probes import SalesforceWatch, percentile

LINK_WAIT = 60.0


def sparse(live: Live, count: int, gap: float) -> Row:
    """`count` tasks created through the API and pushed, seen again by a pull (as linked tasks
    are once a pull has run after their push), then one rename of each, `gap` seconds apart."""
    prefix = f"live-s{count}-"
    api = live.alice()
    row = Row(f"sparse edits {count} × {gap:g} s", count, target=count, lag_target=2.0)
    watch = SalesforceWatch(live.salesforce(WATCHER), live.alice_salesforce_id, prefix)
    watch.start()
    try:
        ids = [
            api.call("POST", "tasks/", {"name": f"{prefix}{n:03d}-created"}, expect=201)["id"]
            for n in range(count)
        ]
        wanted = {f"{prefix}{n:03d}-created" for n in range(count)}
        wait_until(
            lambda: wanted <= watch.seen().keys(),
            timeout=LINK_WAIT,
            what=lambda: f"{len(wanted - watch.seen().keys())} of {count} creates not pushed",
        )
        # A pull after the pushes, as the pull interval brings one: it reads the twins again.
        # It must begin past the creates' second to settle their stamps, so it is one forced
        # through the API now (a pull the worker queued, or beat's, may have begun earlier, or
        # be skipped as not due); 409 while another pull holds the engine: asked again.
        time.sleep(2.5)
        wait_until(
            lambda: live.admin.request("POST", "sync/pull/").status_code == 200,
            timeout=LINK_WAIT,
            what=lambda: "no pull could run",
        )
        sent: dict[str, float] = {}
        with window(live) as measured:
            for n, task_id in enumerate(ids):
                subject = f"{prefix}{n:03d}-edited"
                sent[subject] = time.monotonic()
                api.call("PATCH", f"tasks/{task_id}/", {"name": subject})
                time.sleep(gap)
            edited = set(sent)
            try:
                wait_until(
                    lambda: edited <= watch.seen().keys(),
                    timeout=30,
                    what=lambda: f"{len(edited - watch.seen().keys())} of {count} edits not pushed",
                )
            except NotConverged as exc:
                row.converged = False
                row.notes.append(f"did not converge {exc}")
            settle(live, row)
    finally:
        watch.stop()
    seen = watch.seen()
    lags = [max(0.0, seen[s] - t) for s, t in sent.items() if s in seen]
    push = measured.worker(PUSH_TASKS)
    row.calls = int(push["calls"])
    row.minimum = count
    row.naive = count  # one call a change
    row.lag_p50, row.lag_p95 = percentile(lags, 0.5), percentile(lags, 0.95)
    row.queries_per_record = push["queries"] / count
    row.worker_mb, row.broker_peak = measured.peak_mb, measured.peak_queue
    row.notes.append(
        f"{count} renames of linked tasks through the API, {gap:g} s apart; "
        f"{measured.describe()}; the watcher made {watch.calls} queries"
    )
    return row
