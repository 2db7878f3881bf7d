"""Reads that a page makes once, however many of its parts ask (issue 19).

A page of sync health asks for the sync switches and the primary connection from a dozen
places (the checklist, the budget, the status, the progress panel); each used to be a query.
Inside `reads_memoized()` the first answer of each read is kept for the rest of the block. The
middleware opens the block for GET and HEAD requests only: a request that changes things reads
what it changed, and code outside a request (workers, the listener, tests) always reads afresh.
"""

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any, TypeVar

T = TypeVar("T")

_memo: ContextVar[dict[Any, Any] | None] = ContextVar("cockpit_request_memo", default=None)


@contextmanager
def reads_memoized() -> Iterator[None]:
    token = _memo.set({})
    try:
        yield
    finally:
        _memo.reset(token)


def memoized(key: Any, read: Callable[[], T]) -> T:
    """`read()`, or what it answered earlier in the same memoized block."""
    memo = _memo.get()
    if memo is None:
        return read()
    if key not in memo:
        memo[key] = read()
    return memo[key]


def memo_active() -> bool:
    """Inside reads_memoized(): a GET request's reads may be shared."""
    return _memo.get() is not None
