"""How long work may show no progress before it is called stalled: the health page says so of
a first import that no pull has started and of a re-sync that counts nothing, and beat's sweep
(sync/resyncs.py) finishes such a re-sync with its reason. One number, so the page and the
sweep agree."""

STALL_MINUTES = 5
