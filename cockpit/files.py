"""Cockpit's own files under var/ (the SQLite database with its sessions and tokens, the dev
secret key, generated passwords, the broker's messages): only the account that runs Cockpit
may read them. Files are created 0600 from the start, never widened and tightened after,
and directories 0700; ones left wider by an older version are tightened at start-up."""

import os
import secrets
from pathlib import Path

PRIVATE_DIR = 0o700
PRIVATE_FILE = 0o600


def _tighten(path: Path, mode: int) -> None:
    # A directory someone else owns (a shared mount named in COCKPIT_VAR_DIR) is theirs to set.
    if path.stat().st_uid == os.geteuid():
        path.chmod(mode)


def private_dir(path: Path) -> Path:
    """Create the directory (and its parents) or tighten it: 0700."""
    path.mkdir(mode=PRIVATE_DIR, parents=True, exist_ok=True)
    _tighten(path, PRIVATE_DIR)
    return path


def private_file(path: Path) -> Path:
    """Create an empty file 0600 unless it exists; tighten an existing one to 0600."""
    os.close(os.open(path, os.O_CREAT | os.O_WRONLY, PRIVATE_FILE))
    _tighten(path, PRIVATE_FILE)
    return path


def private_write(path: Path, text: str) -> None:
    """Write text to a file that is 0600 from its first byte."""
    fd = os.open(path, os.O_CREAT | os.O_WRONLY | os.O_TRUNC, PRIVATE_FILE)
    os.fchmod(fd, PRIVATE_FILE)  # O_CREAT keeps the mode of a file that already existed
    with os.fdopen(fd, "w") as file:
        file.write(text)


def private_text_once(path: Path, text: str) -> str:
    """The text of the private file `path`, written with `text` first if no process has.

    Processes that start together on a fresh var/ (a web, a worker and beat, each reading
    its settings) all get the first one's text: the file is written whole under another name
    and linked into place, which only one can do, so no one reads it half-written or
    writes over another's (two development keys: secrets encrypted by the web that the
    worker could not decrypt; an empty one: a worker with no key at all)."""
    if not path.exists():
        draft = path.with_name(f".{path.name}.{os.getpid()}.{secrets.token_hex(4)}")
        private_write(draft, text)
        try:
            os.link(draft, path)
        except FileExistsError:
            pass  # another process's text is there, whole
        finally:
            draft.unlink()
    return path.read_text()


def sqlite_database_private(name: str) -> None:
    """Create the SQLite file 0600 before SQLite does (it would use the umask, often 0644).

    SQLite gives its -wal, -shm and -journal files the database file's mode, so they follow.
    """
    if not name or name == ":memory:" or name.startswith("file:"):
        return
    path = Path(name)
    private_file(path)
    for suffix in ("-wal", "-shm", "-journal"):
        companion = path.with_name(path.name + suffix)
        if companion.exists():
            _tighten(companion, PRIVATE_FILE)
