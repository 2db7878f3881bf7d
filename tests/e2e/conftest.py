"""Browser tests: real headless Chromium (Debian's package) driven by Playwright."""

import os
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.e2e.stack import Stack, Synced, sync_configure

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

StackKey = tuple[tuple[tuple[str, str], ...], int, tuple[str, ...]]


@pytest.fixture(scope="module")
def _kept_stacks() -> Iterator[dict[StackKey, Synced]]:
    """Stacks that tests of one module asked to keep (`start_stack(keep=True)`), by the
    arguments they were started with; stopped when the module's tests are done."""
    kept: dict[StackKey, Synced] = {}
    try:
        yield kept
    finally:
        for synced in kept.values():
            synced.stack.stop()


def _reusable(synced: Synced) -> bool:
    """A kept stack as a test left it: every process it started still running (a test that
    killed the worker started a new one), no faults planned, no listener."""
    stack = synced.stack
    services = (stack.web, stack.worker, stack.beat)
    if not all(s is not None and s.running for s in services) or not stack.emulator_process.running:
        return False
    if stack.stream is not None:
        stack.stream.stop()
    assert stack.emulator is not None
    stack.emulator.clear_faults()
    return True


@pytest.fixture
def start_stack(
    tmp_path_factory: pytest.TempPathFactory,
    request: pytest.FixtureRequest,
    capsys: pytest.CaptureFixture[str],
    _kept_stacks: dict[StackKey, Synced],
) -> Iterator[Callable[..., Synced]]:
    """Starts a stack (PostgreSQL + Redis when the environment offers them) and configures
    the sync through the API; stops it afterwards, and prints every log if the test failed.

    `keep=True`: the stack outlives the test and the next test of the module that asks for
    one with the same arguments (and `keep=True`) gets it, with its data, faults cleared;
    unless the test failed, whose stack is stopped as any other. Only for tests that tell
    their rows apart (a tag in the names) and leave every process they stopped running."""
    started_here: list[Stack] = []
    kept_key: StackKey | None = None

    def start(
        *,
        env: dict[str, str] | None = None,
        pull_interval_seconds: int = 10,
        worker_args: tuple[str, ...] = (),
        keep: bool = False,
    ) -> Synced:
        nonlocal kept_key
        key = (tuple(sorted((env or {}).items())), pull_interval_seconds, worker_args)
        if keep:
            kept_key = key
            if key in _kept_stacks:
                if _reusable(_kept_stacks[key]):
                    print(f"\n  stack on {_kept_stacks[key].stack.description}: kept")
                    return _kept_stacks[key]
                _kept_stacks.pop(key).stack.stop()
        stack = Stack(
            tmp_path_factory.mktemp("stack"), database="env", env=env, worker_args=worker_args
        )
        started_here.append(stack)
        started = time.monotonic()
        stack.start()
        synced = sync_configure(stack, pull_interval_seconds=pull_interval_seconds)
        print(f"\n  stack on {stack.description}: up in {time.monotonic() - started:.1f} s")
        if keep:
            _kept_stacks[key] = synced
        return synced

    failures_before = request.session.testsfailed
    try:
        yield start
    finally:
        failed = request.session.testsfailed > failures_before
        if kept_key is not None and kept_key in _kept_stacks:
            kept = _kept_stacks[kept_key].stack
            if failed:
                del _kept_stacks[kept_key]
                if kept not in started_here:
                    started_here.append(kept)
            elif kept in started_here:
                started_here.remove(kept)
        for stack in started_here:
            if failed:
                with capsys.disabled():  # a failed test's teardown output is not shown otherwise
                    print(f"\n===== failure-test logs =====\n{stack.logs()}")
            stack.stop()
