"""Template filters of the sync health page."""

from typing import Any

from django import template

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
