"""The Salesforce object a task is twinned with is named once (sync.sf_types.TASK_SOBJECT): the
seam a second object (Event) comes in by. This reads the apps' code, not what they do; docstrings
and comments may still say "Task"."""

import ast
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
APPS = ("sync", "cockpit", "adminconfig", "tasks")
# A Salesforce use of the object's name inside a string the code builds.
SALESFORCE_USES = re.compile(
    r"\bFROM Task\b|sobjects/Task\b|/r/Task/|/data/Task|^Task\.describe$|^Task$"
)


def code_strings(path: Path) -> list[tuple[int, str]]:
    """Every string literal (and literal piece of an f-string) of a module but its docstrings."""
    tree = ast.parse(path.read_text(), filename=str(path))
    docstrings = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef)
        and node.body
        and isinstance(node.body[0], ast.Expr)
        and isinstance(node.body[0].value, ast.Constant)
    }
    return [
        (node.lineno, node.value)
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and id(node) not in docstrings
    ]


def modules() -> list[Path]:
    return sorted(
        path
        for app in APPS
        for path in (ROOT / app).rglob("*.py")
        if "migrations" not in path.parts and path != ROOT / "sync" / "sf_types.py"
    )


def test_the_salesforce_task_object_is_named_only_through_task_sobject():
    found = [
        f"{path.relative_to(ROOT)}:{line}: {text!r}"
        for path in modules()
        for line, text in code_strings(path)
        if SALESFORCE_USES.search(text)
        # The task list's column header is Cockpit's word, not Salesforce's object.
        and not (path == ROOT / "cockpit" / "forms.py" and text == "Task")
    ]

    assert found == []
