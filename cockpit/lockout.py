"""How django-axes answers a locked-out login, and which address it counts under.

The answer is a 429 with a message everywhere: JSON under /api/ (with Retry-After), the login
page again elsewhere. The address is the one DRF's throttles count (NUM_PROXIES hops back in
X-Forwarded-For, REMOTE_ADDR at 0), so a client cannot pick the address its attempts count
under.
"""

from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render


def client_ip(request: HttpRequest) -> str:
    proxies = settings.REST_FRAMEWORK.get("NUM_PROXIES") or 0
    forwarded = request.META.get("HTTP_X_FORWARDED_FOR", "")
    if proxies > 0 and forwarded:
        hops = [hop.strip() for hop in forwarded.split(",")]
        return hops[-min(proxies, len(hops))]
    return str(request.META.get("REMOTE_ADDR", ""))


def lockout_message() -> str:
    minutes = int(settings.AXES_COOLOFF_TIME.total_seconds() // 60)
    return (
        f"Too many failed logins for this username from your address: try again in {minutes} "
        "minutes, or ask an administrator to unlock the account."
    )


def lockout_response(request: HttpRequest, credentials: Any = None, *args: Any) -> HttpResponse:
    retry_after = str(int(settings.AXES_COOLOFF_TIME.total_seconds()))
    if request.path.startswith("/api/"):
        response: HttpResponse = JsonResponse({"detail": lockout_message()}, status=429)
    else:
        response = render(
            request, "registration/locked_out.html", {"message": lockout_message()}, status=429
        )
    response["Retry-After"] = retry_after
    return response
