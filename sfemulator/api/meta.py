"""Versions, the resource list, global and object describe, and limits."""

from __future__ import annotations

from sfemulator.api.call import Call
from sfemulator.config import MAX_VERSION, MIN_VERSION
from sfemulator.describe import basic_info, describe_sobject, global_describe
from sfemulator.protocol import Response

_RELEASES = ("Winter", "Spring", "Summer")


def versions() -> list[dict[str, str]]:
    listed = []
    for number in range(MIN_VERSION, MAX_VERSION + 1):
        # v50.0 was Winter '21; three releases a year since.
        season = _RELEASES[(number - 50) % 3]
        year = 21 + (number - 50) // 3
        listed.append(
            {
                "label": f"{season} '{year}",
                "url": f"/services/data/v{number}.0",
                "version": f"{number}.0",
            }
        )
    return listed


def resources(call: Call) -> Response:
    base = f"/services/data/v{call.version}"
    names = ("sobjects", "query", "queryAll", "composite", "limits")
    return Response(200, {name: f"{base}/{name}" for name in names})


def sobjects(call: Call) -> Response:
    return Response(200, global_describe(call.version))


def sobject_info(call: Call) -> Response:
    return Response(200, basic_info(call.sobject(), call.version, []))


def describe(call: Call) -> Response:
    return Response(200, describe_sobject(call.sobject(), call.version))


def limits(call: Call) -> Response:
    emulator = call.emulator
    today = emulator.clock.today()
    maximum = emulator.usage.maximum
    used = emulator.usage.used(today)
    return Response(
        200,
        {
            "DailyApiRequests": {"Max": maximum, "Remaining": max(0, maximum - used)},
            "DailyAsyncApexExecutions": {"Max": 250000, "Remaining": 250000},
            "DailyBulkApiBatches": {"Max": 15000, "Remaining": 15000},
            "DailyBulkV2QueryJobs": {"Max": 10000, "Remaining": 10000},
            "DataStorageMB": {"Max": 1024, "Remaining": 1000},
            "FileStorageMB": {"Max": 1024, "Remaining": 1024},
            "HourlyODataCallout": {"Max": 20000, "Remaining": 20000},
            "SingleEmailMessages": {"Max": 5000, "Remaining": 5000},
        },
    )
