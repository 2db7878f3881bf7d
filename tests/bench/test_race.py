"""`python -m bench race`'s clients log only what they changed: its verdict (lost edits) is
only as good as its log of acknowledged writes. The run itself is on request (ten minutes of
the whole stack); here its CSM client runs against a Cockpit API kept in memory."""

import random
import threading
from dataclasses import dataclass
from typing import Any

from bench.race import Log, Race, Write


@dataclass
class Answer:
    status_code: int
    body: Any = None

    def json(self) -> Any:
        return self.body


class Cockpit:
    """The task API as the race's CSM client uses it; every PATCH remembers what it found."""

    def __init__(self) -> None:
        self.tasks: dict[int, dict[str, Any]] = {}
        self.patches: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (before, body)

    def request(self, method: str, path: str, json: Any = None) -> Answer:
        if path == "tasks/" and method == "POST":
            pk = len(self.tasks) + 1
            self.tasks[pk] = {
                "id": pk,
                "name": json["name"],
                "details": "",
                "due_date": None,
                "priority": "Medium",
                "status": "Open",
                "salesforce_id": None,
            }
            return Answer(201, dict(self.tasks[pk]))
        task = self.tasks.get(int(path.split("/")[1]))
        if task is None:
            return Answer(404)
        if method == "GET":
            return Answer(200, dict(task))
        if method == "DELETE":
            del self.tasks[task["id"]]
            return Answer(204)
        self.patches.append((dict(task), json))
        task.update(json)
        return Answer(200, dict(task))


class Salesforce:
    """simple-salesforce's Task as the race's Salesforce client uses it; every update
    remembers what it found."""

    def __init__(self) -> None:
        self.Task = self  # noqa: N815 - simple-salesforce's spelling
        self.records: dict[str, dict[str, Any]] = {}
        self.updates: list[tuple[dict[str, Any], dict[str, Any]]] = []  # (before, body)

    def create(self, values: dict[str, Any]) -> dict[str, Any]:
        record_id = f"00T{len(self.records):015d}"
        self.records[record_id] = {
            "Subject": None,
            "Description": None,
            "ActivityDate": None,
            "Priority": "Normal",
            "Status": "Not Started",
            **values,
        }
        return {"id": record_id}

    def get(self, record_id: str) -> dict[str, Any]:
        return dict(self.records[record_id])

    def update(self, record_id: str, values: dict[str, Any]) -> int:
        self.updates.append((dict(self.records[record_id]), values))
        self.records[record_id].update(values)
        return 204

    def delete(self, record_id: str) -> int:
        del self.records[record_id]
        return 204


def clients(seed: int, *, cockpit: Cockpit | None = None, sf: Salesforce | None = None) -> Race:
    """The race's client side alone (no stack): alice, her API and her Salesforce user."""
    race = Race.__new__(Race)
    race.log = Log()
    race.rng = random.Random(seed)
    race.tasks = {}
    race.tasks_lock = threading.Lock()
    race.counter = 0
    race.csms = {"alice": cockpit}  # type: ignore[dict-item]
    race.sf_users = {"alice": sf}  # type: ignore[dict-item]
    race.sf_ids = {"alice": "005000000000001"}
    return race


def unchanged(writes: list[tuple[dict[str, Any], dict[str, Any]]]) -> list[Any]:
    return [
        (before, body) for before, body in writes if all(before[k] == v for k, v in body.items())
    ]


def test_every_edit_the_race_logs_for_a_csm_changes_the_field_it_names():
    # A save of the value a field holds is no edit (guarantee 4): logged as one, a save of
    # 'Open' beside Salesforce's unmapped 'Waiting on someone else' was judged a lost edit.
    cockpit = Cockpit()
    race = clients(2586, cockpit=cockpit)
    for _ in range(5):
        race.csm_create("alice")

    for _ in range(600):
        race.csm_step("alice")

    edits = [w for w in race.log.writes if w.side == "ck" and w.field != "delete"]
    assert race.log.operations["csm_edit"] > 300
    assert len(cockpit.patches) == race.log.operations["csm_edit"]
    assert unchanged(cockpit.patches) == []
    statuses = [w.value for w in edits if w.field == "Status"]
    assert {"Not Started", "In Progress", "Completed"} <= set(statuses)


def test_every_edit_the_race_logs_for_a_salesforce_user_changes_the_field_it_names():
    # The other side of the same rule: a Salesforce user's save of the Priority the record
    # holds changes nothing the merge can see, and a CSM's change pushed after it rightly wins.
    sf = Salesforce()
    race = clients(2586, sf=sf)
    for _ in range(5):
        record_id = sf.create({})["id"]
        race.tasks[f"sf:{record_id}"] = {"owner": "alice", "ck": None, "sf": record_id}

    for _ in range(600):
        race.sf_step("alice")

    assert race.log.operations["sf_edit"] == len(sf.updates) > 300
    assert unchanged(sf.updates) == []


def test_a_salesforce_edit_overwritten_by_cockpits_push_a_moment_later_counts_as_concurrent():
    # The CSM's edit waited for the engine; the push that carried it read first and landed
    # 0.3 s after a Salesforce user's edit of the same field: no order between the two
    # (README, "What no sync can promise"). A push of another field, or one landing later,
    # leaves the edit counted as lost.
    race = Race.__new__(Race)
    race.t0 = 1000.0
    pushes = {7: [(10.3, "'Renewal' pushed to Salesforce: priority, status")]}
    edit = Write(
        started=1009.9, acked=1010.0, side="sf", key="sf:00T1", field="Priority", value="High"
    )

    assert race._pushed_near(pushes, 7, "Priority", edit, 2.0)
    assert not race._pushed_near(pushes, 7, "Subject", edit, 2.0)
    assert not race._pushed_near(pushes, 8, "Priority", edit, 2.0)
    later = Write(1006.9, 1007.0, "sf", "sf:00T1", "Priority", "High")
    assert not race._pushed_near(pushes, 7, "Priority", later, 2.0)
