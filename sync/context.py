"""Marks writes that come from Salesforce, so the signal handlers do not echo them back."""

from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar

_applying_inbound: ContextVar[bool] = ContextVar("applying_inbound", default=False)


@contextmanager
def applying_inbound() -> Iterator[None]:
    token = _applying_inbound.set(True)
    try:
        yield
    finally:
        _applying_inbound.reset(token)


def is_applying_inbound() -> bool:
    return _applying_inbound.get()
