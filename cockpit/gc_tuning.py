"""Garbage collection for a process that serves requests (cockpit/wsgi.py).

Python's cyclic collector runs a full collection, over every object the process holds, after
about 70,000 new container objects at its default thresholds (700, 10, 10): a 200-row API page
makes that many, so one request in a few paid for walking the whole application (150-250 ms on
PostgreSQL at 100,000 tasks: `python -m bench api_pages`, README "Benchmarks"). What the
process loaded at start is moved out of the collector's sight (gc.freeze: it lives as long as
the process anyway), and collections run less often; a request's cycles are still collected.
"""

import gc

THRESHOLDS = (50_000, 20, 100)


def gc_tune() -> None:
    gc.collect()
    gc.freeze()
    gc.set_threshold(*THRESHOLDS)
