"""The embedded broker: kombu's filesystem transport, with messages written atomically.

kombu's filesystem transport opens a message file under its final name, then locks it and
writes it; the reader takes no lock. A worker polling between the open and the write reads an
empty file, and Celery stops the worker on the JSON error (seen in the whole-stack tests: a
worker gone, pushes and pulls stopped). Here a message is written under a name the reader
skips and renamed into place when complete: a rename is atomic on POSIX, so the reader sees
the whole message or nothing. `filesystem://` resolves to this transport (cockpit/celery.py).
"""

import os
import uuid
from queue import Empty
from time import monotonic
from typing import Any

from kombu.asynchronous import Hub
from kombu.connection import Connection
from kombu.exceptions import ChannelError
from kombu.transport import filesystem
from kombu.utils.encoding import str_to_bytes
from kombu.utils.json import dumps

from .files import PRIVATE_FILE


class Channel(filesystem.Channel):
    def _put(self, queue: str, payload: Any, **kwargs: Any) -> None:
        name = f"{int(round(monotonic() * 1000))}_{uuid.uuid4()}.{queue}.msg"
        final = os.path.join(self.data_folder_out, name)
        # A leading dot: the reader only takes "<stamp>_<uuid>.<queue>.msg" names.
        partial = os.path.join(self.data_folder_out, f".{name}.part")
        try:
            # 0600 from its first byte, whatever the umask: a message carries task ids and
            # arguments, and README promises 0600 files under var/.
            fd = os.open(partial, os.O_CREAT | os.O_EXCL | os.O_WRONLY, PRIVATE_FILE)
            with os.fdopen(fd, "wb") as file:
                file.write(str_to_bytes(dumps(payload)))
            os.replace(partial, final)
        except OSError as exc:
            raise ChannelError(f"Cannot add file {final!r} to directory") from exc


# Messages one poll of the folder hands over at most; the prefetch limit (QoS) stops it
# sooner, and the next poll comes polling_interval later.
DELIVER_PER_POLL = 100


class Transport(filesystem.Transport):
    """kombu's filesystem transport, evented.

    kombu's own is blocking, so a Celery worker drives it with its blocking loop and billiard's
    classic pool, whose children share one job queue behind a lock: a child killed while it
    waits for a job (the OOM killer's SIGKILL) dies holding that lock, and every other child,
    the replacement included, waits for it forever (issue 16: the worker consumed nothing
    more until restarted by hand). Evented, the worker runs its event loop and the AsynPool,
    as it does over Redis: each child has a queue of its own, and a dead child's is dropped.
    The event loop polls the folder every `polling_interval`.
    """

    Channel = Channel
    implements = filesystem.Transport.implements.extend(asynchronous=True)

    def register_with_event_loop(self, connection: Connection, loop: Hub) -> None:
        loop.call_repeatedly(self.polling_interval or 1.0, self._deliver_ready)

    def _deliver_ready(self) -> None:
        for _ in range(DELIVER_PER_POLL):
            try:
                self.cycle.get(self._deliver, timeout=0)
            except Empty:
                return
