"""Browser tests: real headless Chromium (Debian's package) driven by Playwright."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Kept, Stack, Synced, sync_configure

CHROMIUM = os.environ.get("CHROMIUM_PATH", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parents[2] / "var" / "test-artifacts"
# Flags for a closed network: no background calls home, no sandbox as root, fresh profile.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--disable-dev-shm-usage",
]


@pytest.fixture(scope="session")
def chromium():
    if not Path(CHROMIUM).exists():
        pytest.skip(f"Chromium not found at {CHROMIUM}: browser test skipped")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield browser
        browser.close()


# Playwright's sync API keeps an event loop running in the test thread for the whole
# session, so Django would refuse the (plain synchronous) ORM calls of fixtures and tests.
# Cockpit has no async code for this check to protect.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")


@pytest.fixture
def page(chromium):
    context = chromium.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    page.set_default_timeout(15_000)
    yield page
    context.close()


@pytest.fixture
def artifacts() -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    return ARTIFACTS


# ---- whole stacks (tests/e2e/stack.py) ---------------------------------------------------


@pytest.fixture
def start_stack(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    _kept: Kept,
) -> Iterator[Callable[..., Synced]]:
    """Starts a stack (PostgreSQL + Redis when the environment offers them) and configures
    the sync through the API; stops it afterwards, and prints every log if the test failed.

    `keep=True`: the stack outlives the test, and the next test that asks for one with the
    same arguments (and `keep=True`) gets it, with its data, its faults cleared and its
    listener stopped; unless the test failed, whose stack is stopped as any other. Only for
    tests that tell their rows apart (a tag in the names) and leave every process they
    stopped running."""
    used: list[Stack] = []
    kept_here = False

    def start(
        *,
        env: dict[str, str] | None = None,
        pull_interval_seconds: int = 10,
        worker_args: tuple[str, ...] = (),
        keep: bool = False,
    ) -> Synced:
        nonlocal kept_here
        key = (tuple(sorted((env or {}).items())), pull_interval_seconds, worker_args)
        if keep:
            synced = _kept.take(key)
        else:
            _kept.stop()
            synced = None
        if synced is not None:
            print(f"\n  stack on {synced.stack.description}: kept from an earlier test")
        else:
            stack = Stack(
                tmp_path_factory.mktemp("stack"), database="env", env=env, worker_args=worker_args
            )
            used.append(stack)
            started = time.monotonic()
            stack.start()
            synced = sync_configure(stack, pull_interval_seconds=pull_interval_seconds)
            print(f"\n  stack on {stack.description}: up in {time.monotonic() - started:.1f} s")
        if keep:
            _kept.key, _kept.synced, kept_here = key, synced, True
            if synced.stack in used:
                used.remove(synced.stack)
        return synced

    failures_before = request.session.testsfailed
    try:
        yield start
    finally:
        failed = request.session.testsfailed > failures_before
        if failed and kept_here and _kept.synced is not None:
            used.append(_kept.synced.stack)
            _kept.synced = None
        for stack in used:
            if failed:
                with capsys.disabled():  # a failed test's teardown output is not shown otherwise
                    print(f"\n===== failure-test logs =====\n{stack.logs()}")
            stack.stop()
