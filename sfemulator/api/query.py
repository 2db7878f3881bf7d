"""query/ and queryAll/, with pages of up to 2,000 rows and nextRecordsUrl locators."""

from __future__ import annotations

from sfemulator.api.call import Call
from sfemulator.cursors import Page, batch_size_from_header
from sfemulator.errors import SalesforceError
from sfemulator.protocol import Response


def _endpoint(call: Call) -> str:
    return call.args["endpoint"]


def _page_body(call: Call, total: int, page: Page) -> dict:
    body: dict = {"totalSize": total, "done": page.next_locator is None}
    if page.next_locator:
        body["nextRecordsUrl"] = (
            f"/services/data/v{call.version}/{_endpoint(call)}/{page.next_locator}"
        )
    body["records"] = page.records
    return body


def run(call: Call) -> Response:
    text = call.request.param("q")
    if not text or not text.strip():
        raise SalesforceError(400, "MALFORMED_QUERY", "A query string has to be specified")
    include_deleted = _endpoint(call) == "queryAll"
    emulator = call.emulator
    emulator.purge_recycle_bin()
    result = emulator.query_engine.run(text.strip(), include_deleted, call.version)
    if result.is_count:
        return Response(200, {"totalSize": result.total_size, "done": True, "records": []})
    batch = batch_size_from_header(call.request.header("Sforce-Query-Options"))
    page = emulator.cursors.first_page(result.records, batch, call.principal.user_id)
    return Response(200, _page_body(call, result.total_size, page))


def more(call: Call) -> Response:
    locator = call.args["locator"]
    page = call.emulator.cursors.page(locator)
    return Response(200, _page_body(call, page.total, page))
