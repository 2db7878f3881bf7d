"""Throttles of the API: anonymous requests per IP, failed token requests per IP and username.

DRF checks throttles after permissions, so a request without (valid) credentials would get
its 401 without ever being counted; the anonymous rate is therefore checked during
authentication (cockpit.authentication), before any permission answers.

The rates come from settings (API_THROTTLE_*) each time, not once at import as DRF's own
classes read them, so a changed setting takes effect. Counts live in the default cache, which
every process of a machine shares (a file cache under var/ unless CACHE_URL names Redis).
"""

from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import Throttled
from rest_framework.request import Request
from rest_framework.throttling import SimpleRateThrottle


class SettingsRateThrottle(SimpleRateThrottle):
    def get_rate(self) -> str | None:
        return settings.REST_FRAMEWORK["DEFAULT_THROTTLE_RATES"][self.scope]


class AnonymousThrottle(SettingsRateThrottle):
    """Requests without credentials or with bad ones, per client IP."""

    scope = "anon"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        # Called while authenticating: request.user is not known yet (and asking recurses).
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


def anonymous_throttle_check(request: Request) -> None:
    """Count an anonymous request; raise Throttled (429) when its address is over the rate."""
    throttle = AnonymousThrottle()
    no_view: Any = None  # authentication runs before a view is chosen; the throttle needs none
    if not throttle.allow_request(request, no_view):
        raise Throttled(wait=throttle.wait())


class LoginThrottle(SettingsRateThrottle):
    """Counts the password attempts at auth/token/ that fail.

    An attempt is counted when it comes (so many at once are each counted before any answers)
    and given back once its password proved right (`refund`): an integration script that
    fetches a token every run never throttles itself or its user, while guesses still count.
    """

    duration: int  # set by SimpleRateThrottle.__init__ from the rate (untyped in the stubs)

    def refund(self) -> None:
        key = getattr(self, "key", None)
        if key is None:  # no rate, or no username to count under: nothing was counted
            return
        history = self.cache.get(key, [])
        if self.now in history:
            history.remove(self.now)
            self.cache.set(key, history, self.duration)


class LoginIPThrottle(LoginThrottle):
    """Failed password attempts at auth/token/, per client IP."""

    scope = "login"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        return self.cache_format % {"scope": self.scope, "ident": self.get_ident(request)}


class LoginUsernameThrottle(LoginThrottle):
    """Failed password attempts at auth/token/, per username, from whatever IPs they come."""

    scope = "login_username"

    def get_cache_key(self, request: Request, view: Any) -> str | None:
        data = request.data
        username = data.get("username") if isinstance(data, Mapping) else None
        if not isinstance(username, str) or not username:
            return None
        # The cache key must be short and printable whatever the username holds.
        ident = username.strip().lower().encode("utf-8", "replace").hex()[:300]
        return self.cache_format % {"scope": self.scope, "ident": ident}
