"""`python -m bench race`'s clients log only what they changed: its verdict (lost edits) is
only as good as its log of acknowledged writes. The run itself is on request (ten minutes of
the whole stack); here its CSM client runs against a Cockpit API kept in memory."""

import random
import threading
from dataclasses import dataclass
from typing import Any

from bench.race import Log, Race


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


def csm_client(cockpit: Cockpit, seed: int) -> Race:
    """The race's client side alone (no stack): alice and her API."""
    race = Race.__new__(Race)
    race.log = Log()
    race.rng = random.Random(seed)
    race.tasks = {}
    race.tasks_lock = threading.Lock()
    race.counter = 0
    race.csms = {"alice": cockpit}  # type: ignore[dict-item]
    return race


def test_every_edit_the_race_logs_for_a_csm_changes_the_field_it_names():
    # A save of the value a field holds is no edit (guarantee 4): logged as one, a save of
    # 'Open' beside Salesforce's unmapped 'Waiting on someone else' was judged a lost edit.
    cockpit = Cockpit()
    race = csm_client(cockpit, seed=2586)
    for _ in range(5):
        race.csm_create("alice")

    for _ in range(600):
        race.csm_step("alice")

    edits = [w for w in race.log.writes if w.side == "ck" and w.field not in ("delete",)]
    assert race.log.operations["csm_edit"] > 300
    assert len(cockpit.patches) == race.log.operations["csm_edit"]
    unchanged = [
        (before, body)
        for before, body in cockpit.patches
        if all(before[name] == value for name, value in body.items())
    ]
    assert unchanged == []
    statuses = [w.value for w in edits if w.field == "Status"]
    assert {"Not Started", "In Progress", "Completed"} <= set(statuses)
