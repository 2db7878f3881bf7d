from collections.abc import Callable

from django.http import HttpRequest, HttpResponse, HttpResponseBadRequest, JsonResponse
from django.utils import timezone

from tasks.selectors import user_time_zone

from .error_views import API_PREFIX
from .request_memo import reads_memoized


class ReadsOncePerRequestMiddleware:
    """GET and HEAD requests read the sync switches, the primary connection and the user's time
    zone once, however many parts of the page ask (cockpit/request_memo.py)."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if request.method not in ("GET", "HEAD"):
            return self.get_response(request)
        with reads_memoized():
            return self.get_response(request)


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


class RefuseNullBytesMiddleware:
    """A NUL in a query string is a 400 everywhere, before any view or filter sees it.

    PostgreSQL cannot store or compare text with NUL (a DataError), and a filter that passes
    a parameter to the database unchecked would turn it into a 500. Form fields refuse NUL
    themselves and the API's JSON parser refuses it in bodies.
    """

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        if any("\x00" in "".join([key, *values]) for key, values in request.GET.lists()):
            message = "Null characters are not allowed."
            if request.path.startswith("/api/"):
                return JsonResponse({"detail": message}, status=400)
            return HttpResponseBadRequest(message)
        return self.get_response(request)


class ApiJsonNotFoundMiddleware:
    """An unknown path under /api/ answers JSON under DEBUG too (`make run`).

    Without DEBUG, Django's handler404 (cockpit/error_views.py) already answers JSON there;
    under DEBUG, Django answers its own technical HTML page instead and never calls it. An
    integrator trying the API on the demo reads the same JSON 404 as in production."""

    def __init__(self, get_response: Callable[[HttpRequest], HttpResponse]) -> None:
        self.get_response = get_response

    def __call__(self, request: HttpRequest) -> HttpResponse:
        response = self.get_response(request)
        if (
            response.status_code == 404
            and request.path.startswith(API_PREFIX)
            and response.get("Content-Type", "").startswith("text/html")
        ):
            return JsonResponse({"detail": "Not found."}, status=404)
        return response
