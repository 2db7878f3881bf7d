"""A throwaway Cockpit (SQLite in a temporary folder) connected to a fresh emulator, with sync
on: the setting every sync benchmark starts from."""

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


def django_setup() -> str:
    var_dir = tempfile.mkdtemp(prefix="cockpit-bench-")
    os.environ["COCKPIT_VAR_DIR"] = var_dir
    os.environ.setdefault("DEBUG", "true")
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "cockpit.settings")
    os.environ["CELERY_BROKER_URL"] = "filesystem://"
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", verbosity=0)
    return var_dir


@contextmanager
def connected_org(*, bidirectional: bool = True) -> Iterator[tuple[Any, Any]]:
    """(emulator, alice): the emulator is the primary connection, Alice is mapped, sync is on."""
    var_dir = django_setup()
    from adminconfig import services as config
    from tests.orgs import emulator_sync_on
    from tests.sfemu import EmulatorProcess, SalesforceEmulator

    process = EmulatorProcess(Path(var_dir) / "sfemu")
    process.start()
    try:
        emulator = SalesforceEmulator(process)
        emulator.reset()
        alice = config.user_create(
            username="alice", email="alice@example.com", password="bench-password-1"
        )
        emulator_sync_on(emulator, bidirectional=bidirectional)
        yield emulator, alice
    finally:
        process.stop()
