"""The emulator's own admin endpoint, `/__emulator/...`, for tests, benchmarks and the demo.

Only callers presenting the fault secret (header `X-Emulator-Secret`) get in. Its calls are
never counted as API calls nor written to the request log.
"""

from __future__ import annotations

import hmac
from typing import TYPE_CHECKING, Any

from sfemulator.changes import CDC_ENTITIES, CHANGE_TYPES, new_transaction_key
from sfemulator.config import StreamSettings
from sfemulator.errors import SalesforceError
from sfemulator.faults import FaultPlan
from sfemulator.ids import normalize_id
from sfemulator.protocol import Request, Response
from sfemulator.records import CallStamp, WriteContext
from sfemulator.schema import PROFILE, sobject_type
from sfemulator.seed import SEEDS
from sfemulator.sftime import format_datetime

if TYPE_CHECKING:
    from sfemulator.app import Emulator

PREFIX = "/__emulator"
SECRET_HEADER = "X-Emulator-Secret"


def _error(status: int, message: str) -> Response:
    return Response(status, {"error": message})


class Admin:
    def __init__(self, emulator: Emulator) -> None:
        self.emulator = emulator

    def handle(self, request: Request) -> Response:
        name = request.path[len(PREFIX) :].strip("/")
        if name == "health":
            return Response(200, {"ok": True})
        secret = self.emulator.config.fault_secret
        if not secret:
            return _error(403, "the admin endpoint is disabled: start with --fault-secret")
        given = request.header(SECRET_HEADER) or ""
        if not hmac.compare_digest(given.encode(), secret.encode()):
            return _error(403, f"missing or wrong {SECRET_HEADER} header")
        handler = getattr(self, f"{request.method.lower()}_{name.replace('-', '_')}", None)
        if handler is None:
            return _error(404, f"no admin resource {request.method} {PREFIX}/{name}")
        try:
            return handler(request)
        except (ValueError, TypeError) as error:
            return _error(400, str(error))
        except SalesforceError as error:
            return _error(400, error.message)

    def _body(self, request: Request) -> dict[str, Any]:
        if not request.body:
            return {}
        body = request.json()
        if not isinstance(body, dict):
            raise ValueError("the body must be a JSON object")
        return body

    # Faults -----------------------------------------------------------------------------------

    def get_faults(self, request: Request) -> Response:
        return Response(200, self.emulator.faults.plan.to_json())

    def put_faults(self, request: Request) -> Response:
        body = self._body(request)
        plan = FaultPlan.from_json(body)
        self.emulator.faults.set(plan)
        if body.get("expire_tokens"):
            self.emulator.auth.expire_all()
        return Response(200, plan.to_json())

    post_faults = put_faults

    def delete_faults(self, request: Request) -> Response:
        self.emulator.faults.set(FaultPlan())
        return Response(200, FaultPlan().to_json())

    def post_expire_tokens(self, request: Request) -> Response:
        self.emulator.auth.expire_all()
        return Response(200, {"expired": True})

    # Usage and the request log ------------------------------------------------------------------

    def get_requests(self, request: Request) -> Response:
        emulator = self.emulator
        snapshot = emulator.log.snapshot()
        snapshot["api_usage"] = emulator.usage.used(emulator.clock.today())
        snapshot["api_limit"] = emulator.usage.maximum
        return Response(200, snapshot)

    def delete_requests(self, request: Request) -> Response:
        self.emulator.log.reset()
        return self.get_requests(request)

    def get_api_usage(self, request: Request) -> Response:
        usage = self.emulator.usage
        return Response(
            200, {"used": usage.used(self.emulator.clock.today()), "max": usage.maximum}
        )

    def put_api_usage(self, request: Request) -> Response:
        body = self._body(request)
        used = body.get("used", 0)
        maximum = body.get("max")
        if not isinstance(used, int) or (maximum is not None and not isinstance(maximum, int)):
            raise ValueError("used and max must be integers")
        self.emulator.usage.set(self.emulator.clock.today(), used, maximum)
        return self.get_api_usage(request)

    # Clock and data -------------------------------------------------------------------------------

    def get_clock(self, request: Request) -> Response:
        clock = self.emulator.clock
        return Response(200, {"offset_seconds": clock.offset_seconds, "now": _now(self.emulator)})

    def put_clock(self, request: Request) -> Response:
        offset = self._body(request).get("offset_seconds", 0)
        if not isinstance(offset, int | float):
            raise ValueError("offset_seconds must be a number")
        self.emulator.clock.set_offset(offset)
        return self.get_clock(request)

    def post_reset(self, request: Request) -> Response:
        seed_name = self._body(request).get("seed", "users")
        if seed_name not in SEEDS:
            raise ValueError(f"seed must be one of {', '.join(SEEDS)}")
        self.emulator.reset(seed_name)
        return Response(200, {"reset": True, "seed": seed_name})

    # Streaming API --------------------------------------------------------------------------

    def get_streaming(self, request: Request) -> Response:
        emulator = self.emulator
        return Response(
            200,
            {
                **emulator.changes.info(),
                **emulator.streaming.info(),
                "settings": emulator.stream_settings.to_json(),
            },
        )

    def put_streaming(self, request: Request) -> Response:
        """Change some settings (keys left out keep their current values)."""
        emulator = self.emulator
        settings = StreamSettings.from_json(self._body(request), base=emulator.stream_settings)
        emulator.set_stream_settings(settings)
        return self.get_streaming(request)

    def delete_streaming(self, request: Request) -> Response:
        """Back to the settings the emulator started with; every client is forgotten."""
        self.emulator.set_stream_settings(self.emulator.config.stream)
        self.emulator.streaming.reset()
        return self.get_streaming(request)

    def post_stream_gap(self, request: Request) -> Response:
        """Publish a gap event: {"ids": [...], "change_type": "UPDATE", "entity": "Task"}."""
        body = self._body(request)
        ids = body.get("ids")
        change_type = body.get("change_type", "UPDATE")
        entity = body.get("entity", "Task")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("ids must be a list of record Ids")
        if change_type not in CHANGE_TYPES:
            raise ValueError(f"change_type must be one of {', '.join(CHANGE_TYPES)}")
        sobject = sobject_type(entity) if isinstance(entity, str) else None
        if sobject is None or sobject.name not in CDC_ENTITIES:
            raise ValueError(f"entity must be one of {', '.join(sorted(CDC_ENTITIES))}")
        user_id = self.emulator.store.get_meta("integration_user_id") or ""
        self.emulator.changes.publish_gap(sobject, change_type, ids, user_id)
        return self.get_streaming(request)

    def post_undelete(self, request: Request) -> Response:
        """Restore records from the recycle bin, as a user does in Salesforce's UI (REST has
        no undelete): {"ids": [...], "user_id": optional, default the integration user}.
        One transaction; its change events are UNDELETE with an empty changeOrigin."""
        body = self._body(request)
        ids = body.get("ids")
        if not isinstance(ids, list) or not all(isinstance(i, str) for i in ids):
            raise ValueError("ids must be a list of record Ids")
        emulator = self.emulator
        user_id = body.get("user_id") or emulator.store.get_meta("integration_user_id") or ""
        ctx = WriteContext(
            user_id=user_id,
            stamp=CallStamp(emulator.store, emulator.clock),
            transaction_key=new_transaction_key(),
        )
        restored = []
        with emulator.store.transaction():
            for record_id in ids:
                found = emulator.store.get(normalize_id(record_id) or record_id)
                sobject = sobject_type(found[0]) if found else None
                if sobject is None:
                    raise ValueError(f"no record {record_id}")
                restored.append(emulator.records.undelete(sobject, record_id, ctx)["Id"])
        return Response(200, {"undeleted": restored})

    def get_info(self, request: Request) -> Response:
        emulator = self.emulator
        return Response(
            200,
            {
                "integration_user_id": emulator.store.get_meta("integration_user_id"),
                "profile_ids": {
                    profile["Name"]: profile["Id"]
                    for profile in emulator.store.scan(PROFILE.name, include_deleted=False)
                },
                "now": _now(emulator),
                "faults": emulator.faults.plan.to_json(),
                # Write calls held back right now by late_commit or apply_late.
                "waiting_writes": emulator.waiting_writes,
                # Query cursors still held (see cursors.py), and the process's memory.
                "open_cursors": emulator.cursors.open_count(),
                "rss_kb": _rss_kb(),
            },
        )


def _rss_kb() -> int | None:
    """The process's resident set now, in KB (Linux's /proc); None where unavailable."""
    try:
        with open("/proc/self/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmRSS:"):
                    return int(line.split()[1])
    except OSError:
        pass
    return None


def _now(emulator: Emulator) -> str:
    return format_datetime(emulator.clock.now())
