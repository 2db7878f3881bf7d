"""Finding 5 of issue 9: Cockpit's files under var/ are the running account's alone."""

import multiprocessing
import os
import secrets
import stat
import subprocess
import sys
from pathlib import Path
from typing import Any

from cockpit.files import private_text_once

ROOT = Path(__file__).resolve().parents[2]


def mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


def run_manage(var_dir: Path, *args: str) -> subprocess.CompletedProcess:
    # The embedded defaults: SQLite and the filesystem broker under var/, a generated dev key.
    dropped = (
        "DATABASE_URL",
        "CELERY_BROKER_URL",
        "CACHE_URL",
        "SECRET_KEY",
        "DJANGO_SUPERUSER_PASSWORD",
        "DJANGO_SETTINGS_MODULE",  # pytest's tests.settings: this is production's module
    )
    env = {k: v for k, v in os.environ.items() if k not in dropped}
    env.update(DEBUG="true", COCKPIT_VAR_DIR=str(var_dir))
    return subprocess.run(
        [sys.executable, "manage.py", *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        # A common umask, under which files are created 0644 unless the code says otherwise.
        preexec_fn=lambda: os.umask(0o022),
    )


def test_a_fresh_var_holds_only_private_files_and_directories(tmp_path):
    var = tmp_path / "var"

    result = run_manage(var, "migrate", "--noinput")
    assert result.returncode == 0, result.stderr
    result = run_manage(var, "bootstrap")
    assert result.returncode == 0, result.stderr

    assert mode(var) == 0o700
    for name in ("cockpit.sqlite3", "dev_secret_key", "admin_password"):
        assert mode(var / name) == 0o600, name
    for sub in ("broker", "broker/queue", "broker/processed", "broker/control", "cache"):
        assert mode(var / sub) == 0o700, sub
    # SQLite's companions (WAL mode) take the database file's mode.
    for companion in var.glob("cockpit.sqlite3-*"):
        assert mode(companion) == 0o600, companion.name


def test_an_older_var_left_readable_is_tightened_at_start_up(tmp_path):
    var = tmp_path / "var"
    var.mkdir(mode=0o755)
    (var / "cockpit.sqlite3").touch(mode=0o644)
    (var / "broker").mkdir(mode=0o755)
    os.chmod(var, 0o755)
    os.chmod(var / "cockpit.sqlite3", 0o644)

    result = run_manage(var, "check")

    assert result.returncode == 0, result.stderr
    assert mode(var) == 0o700
    assert mode(var / "cockpit.sqlite3") == 0o600
    assert mode(var / "broker") == 0o700


# ---- issue 17, item 9: the broker's messages and var/sfemulator ----------------------------


def test_broker_messages_are_written_0600_whatever_the_umask(tmp_path):
    from kombu import Connection

    queue_dir = tmp_path / "queue"
    queue_dir.mkdir(mode=0o700)
    options = {
        "data_folder_in": str(queue_dir),
        "data_folder_out": str(queue_dir),
        "control_folder": str(tmp_path / "control"),
        "store_processed": False,
    }
    channel = Connection("filesystem://", transport_options=options).channel()
    old = os.umask(0o022)
    try:
        channel._put("celery", {"task": "sync.push", "args": [42]})
    finally:
        os.umask(old)

    messages = list(queue_dir.glob("*.msg"))
    assert len(messages) == 1
    assert mode(messages[0]) == 0o600


def test_make_creates_var_sfemulator_0700_and_the_emulator_keeps_its_state_0600(tmp_path):
    # The Makefile's credentials target, in a copy of the repo's Makefile, under a common umask.
    (tmp_path / "Makefile").write_text((ROOT / "Makefile").read_text())
    made = subprocess.run(
        ["make", "-s", "var/sfemulator/credentials.env", f"PYTHON={sys.executable}"],
        cwd=tmp_path,
        capture_output=True,
        text=True,
        timeout=60,
        preexec_fn=lambda: os.umask(0o022),
    )
    assert made.returncode == 0, made.stderr
    from sfemulator.store import Store

    Store(tmp_path / "var" / "sfemulator" / "state.sqlite3").close()

    assert mode(tmp_path / "var") == 0o700
    assert mode(tmp_path / "var" / "sfemulator") == 0o700
    assert mode(tmp_path / "var" / "sfemulator" / "credentials.env") == 0o600
    assert mode(tmp_path / "var" / "sfemulator" / "state.sqlite3") == 0o600


def _take_key(path: Path, barrier: Any, answers: Any) -> None:
    barrier.wait()  # every process at the starting line at once, as a stack's start does
    answers.put(private_text_once(path, secrets.token_urlsafe(50)))


def test_processes_starting_together_on_a_fresh_var_all_read_one_whole_development_key(
    tmp_path,
):
    """A web, a worker and beat started at once on a fresh var/ each read the development
    key as their settings load: one created it while another read it half-written (a
    worker with an empty SECRET_KEY failed every push; tests/e2e caught it), or two wrote
    their own (secrets the web encrypted that the worker could not decrypt)."""
    context = multiprocessing.get_context("fork")
    for attempt in range(40):
        path = tmp_path / f"dev_secret_key_{attempt}"
        barrier, answers = context.Barrier(6), context.Queue()
        processes = [
            context.Process(target=_take_key, args=(path, barrier, answers)) for _ in range(6)
        ]
        for process in processes:
            process.start()
        keys = {answers.get(timeout=30) for _ in processes}
        for process in processes:
            process.join(timeout=30)

        assert len(keys) == 1 and "" not in keys, (attempt, keys)
        assert keys == {path.read_text()}
        assert mode(path) == 0o600
    assert not [p for p in tmp_path.iterdir() if p.name.startswith(".")]  # no draft left
