from collections.abc import Callable

from django.http import HttpRequest, HttpResponse
from django.utils import timezone

from tasks.selectors import user_time_zone


class UserTimezoneMiddleware:
    """Render times in the signed-in user's time zone (their profile, else TIME_ZONE)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        if user is not None and user.is_authenticated:
            timezone.activate(user_time_zone(user))
        else:
            timezone.deactivate()
        return self.get_response(request)
