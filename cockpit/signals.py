"""Thin hooks of the project: failed logins are logged, never with the password."""

import logging
from typing import Any

from django.contrib.auth.signals import user_login_failed
from django.dispatch import receiver

log = logging.getLogger("cockpit.security")


@receiver(user_login_failed, dispatch_uid="cockpit_login_failed")
def login_failed(
    sender: Any, credentials: dict[str, Any], request: Any = None, **kwargs: Any
) -> None:
    # Django sends this from authenticate() for the pages, the admin and auth/token/ alike,
    # with the password already masked; only the username and the address are logged.
    username = credentials.get("username")
    address = request.META.get("REMOTE_ADDR", "") if request is not None else ""
    path = getattr(request, "path", "")
    log.warning("Failed login for username %r from %s at %s", username, address or "?", path)
