"""Django's error handlers, answering JSON under /api/: an API client reads JSON whatever went
wrong (an unknown path, a body Django refused before any view ran, a bug), never an HTML page.
Pages keep Django's own."""

from collections.abc import Callable
from typing import Any

from django.core.exceptions import RequestDataTooBig, TooManyFieldsSent
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.views import defaults

API_PREFIX = "/api/"


def _json_or(
    page: Callable[..., HttpResponse], status: int, detail: str
) -> Callable[..., HttpResponse]:
    def handler(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if request.path.startswith(API_PREFIX):
            return JsonResponse({"detail": detail}, status=status)
        return page(request, *args, **kwargs)

    return handler


def bad_request(request: HttpRequest, exception: Exception, **kwargs: Any) -> HttpResponse:
    if request.path.startswith(API_PREFIX):
        too_big = isinstance(exception, RequestDataTooBig | TooManyFieldsSent)
        detail = "Request body too large." if too_big else "Bad request."
        return JsonResponse({"detail": detail}, status=400)
    return defaults.bad_request(request, exception, **kwargs)


permission_denied = _json_or(
    defaults.permission_denied, 403, "You do not have permission to perform this action."
)
page_not_found = _json_or(defaults.page_not_found, 404, "Not found.")
server_error = _json_or(defaults.server_error, 500, "Server error.")
