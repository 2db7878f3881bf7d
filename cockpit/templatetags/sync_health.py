"""Template filters of the sync health page."""

from typing import Any

from django import template

from adminconfig.permissions import is_sync_admin
from sync.health import getting_started

register = template.Library()


@register.filter
def thousands(value: Any) -> str:
    """91001 → "91,001" (the page's numbers, whatever the locale settings)."""
    if value is None or value == "":
        return ""
    try:
        return f"{int(value):,}"
    except (TypeError, ValueError):
        return str(value)


@register.filter
def percent_width(value: Any) -> str:
    """A share for a CSS width, with a dot whatever the locale: 55.5 → "55.5%"."""
    try:
        return f"{max(0.0, min(100.0, float(value))):.1f}%"
    except (TypeError, ValueError):
        return "0%"


@register.simple_tag
def getting_started_for(user: Any) -> list[Any]:
    """The getting-started checklist for sync admins (the admin's pages show it); nothing for
    anyone else."""
    return getting_started() if is_sync_admin(user) else []


@register.filter
def sync_admin(user: Any) -> bool:
    """Whether the user may open Sync health (the menu shows it to them only)."""
    return is_sync_admin(user)


@register.filter
def duration_short(value: Any) -> str:
    """A timedelta in the largest unit that fits: "12 s", "3 min", "2 h", "4 days"."""
    try:
        seconds = int(value.total_seconds())
    except AttributeError:
        return ""
    for size, unit in ((86400, "days"), (3600, "h"), (60, "min")):
        if seconds >= size:
            return f"{seconds // size} {unit}"
    return f"{max(seconds, 0)} s"
