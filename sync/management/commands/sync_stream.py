"""`manage.py sync_stream`: the change-event listener (the Procfile's `stream` process)."""

import signal
from typing import Any

from django.core.management.base import BaseCommand

from sync.stream import stream_forever


class Command(BaseCommand):
    help = "Listen to Salesforce's Task change events and apply them as they come."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument(
            "--seconds", type=float, default=None, help="Stop after this long (tests, demos)."
        )

    def handle(self, *args: Any, **options: Any) -> None:
        def leave(signum: int, frame: Any) -> None:
            raise SystemExit(0)

        signal.signal(signal.SIGTERM, leave)
        self.stdout.write("Listening to Salesforce change events (Ctrl-C to stop)")
        stream_forever(stop_after=options["seconds"])
