"""`manage.py sync_status`: /healthz for a terminal, and a probe for a process supervisor."""

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from cockpit.health import PARTS, health_check


class Command(BaseCommand):
    help = (
        "Check the database, the broker, the worker and the change-event listener, as /healthz "
        "does; exit non-zero naming the failing parts."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--check",
            default=",".join(PARTS),
            help=f"Comma-separated parts to check (default: all of {','.join(PARTS)}).",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        asked = tuple(filter(None, options["check"].split(",")))
        try:
            found = health_check(parts=asked)
        except ValueError as exc:
            raise CommandError(f"{exc}. Parts are {', '.join(PARTS)}.") from exc
        width = max(len(part) for part in found.parts)
        for part, state in found.parts.items():
            mark = "FAILING: " if part in found.failing else ""
            self.stdout.write(f"{part:<{width}}  {mark}{state}")
        if not found.ok:
            raise CommandError(f"Unhealthy: {', '.join(found.failing)}.")
