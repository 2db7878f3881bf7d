"""/metrics: Prometheus's scrape of the sync's figures, for a token holder or an allowed address.

A scrape adds up the counters every Cockpit process keeps (prometheus-client's multiprocess
mode: the worker's pushes, the listener's change events, this process's own) and reads the
figures the database holds at that moment (sync/gauges.py). Who may scrape: a request with
`Authorization: Bearer <METRICS_TOKEN>`, or one whose connecting address is in
METRICS_ALLOWED_IPS. The address is the socket's (REMOTE_ADDR), never X-Forwarded-For: behind
a proxy every request comes from the proxy, so listing it would open /metrics to everyone.
"""

import hmac
import ipaddress

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest, values
from prometheus_client.multiprocess import MultiProcessCollector

from sync import telemetry
from sync.gauges import SyncGauges

if values.ValueClass is values.MutexValue:  # pragma: no cover - a start-up mistake
    # Counters would stay in each process and the worker's would never be seen here.
    raise RuntimeError(
        "prometheus-client was imported before the settings set PROMETHEUS_MULTIPROC_DIR"
    )


def _address_allowed(request: HttpRequest) -> bool:
    networks = settings.METRICS_ALLOWED_NETWORKS
    if not networks:
        return False
    try:
        address = ipaddress.ip_address(request.META.get("REMOTE_ADDR", ""))
    except ValueError:
        return False
    return any(address in network for network in networks)


def _token_given(request: HttpRequest) -> str | None:
    scheme, _, token = request.headers.get("Authorization", "").partition(" ")
    return token.strip() if scheme.lower() == "bearer" else None


def _refused(status: int, message: str) -> HttpResponse:
    response = HttpResponse(message + "\n", status=status, content_type="text/plain")
    if status == 401:
        response["WWW-Authenticate"] = 'Bearer realm="metrics"'
    return response


@never_cache
@require_GET
def metrics(request: HttpRequest) -> HttpResponse:
    expected = settings.METRICS_TOKEN
    given = _token_given(request)
    token_ok = bool(expected and given and hmac.compare_digest(given, expected))
    if not (token_ok or _address_allowed(request)):
        if not expected and not settings.METRICS_ALLOWED_NETWORKS:
            return _refused(403, "Metrics are off: set METRICS_TOKEN or METRICS_ALLOWED_IPS.")
        if expected:
            return _refused(401, "A bearer token (METRICS_TOKEN) is required.")
        return _refused(403, "This address may not read the metrics.")
    telemetry.series_init()
    registry = CollectorRegistry()
    MultiProcessCollector(registry)  # type: ignore[no-untyped-call]  # untyped in 0.26
    registry.register(SyncGauges())
    return HttpResponse(generate_latest(registry), content_type=CONTENT_TYPE_LATEST)
