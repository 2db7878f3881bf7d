"""The sync's modules form layers: none imports a module that imports it back, directly or
through others (issue 20: 11 modules were one circle, tied by late imports). `make lint` checks
the same with import-linter's contracts (pyproject.toml); this test is the one CI runs."""

import pytest

# A dev dependency since issue 20: a virtualenv made before it skips this (make setup adds it).
grimp = pytest.importorskip("grimp", reason="grimp is not installed: run make setup")


def _circles(graph: grimp.ImportGraph, modules: set[str]) -> list[list[str]]:
    """The strongly connected groups of more than one module (Tarjan's algorithm)."""
    imports = {
        m: sorted(n for n in graph.find_modules_directly_imported_by(m) if n in modules)
        for m in modules
    }
    order: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    circles: list[list[str]] = []

    def visit(module: str) -> None:
        order[module] = low[module] = len(order)
        stack.append(module)
        for imported in imports[module]:
            if imported not in order:
                visit(imported)
                low[module] = min(low[module], low[imported])
            elif imported in stack:
                low[module] = min(low[module], order[imported])
        if low[module] == order[module]:
            group = []
            while True:
                member = stack.pop()
                group.append(member)
                if member == module:
                    break
            if len(group) > 1:
                circles.append(sorted(group))

    for module in sorted(modules):
        if module not in order:
            visit(module)
    return circles


def _ties(graph: grimp.ImportGraph, circle: list[str]) -> list[str]:
    members = set(circle)
    return [
        f"  {detail['importer']} -> {detail['imported']} "
        f"(line {detail['line_number']}: {detail['line_contents']})"
        for importer in circle
        for imported in sorted(graph.find_modules_directly_imported_by(importer) & members)
        for detail in graph.get_import_details(importer=importer, imported=imported)
    ]


def test_no_module_of_the_sync_imports_one_that_imports_it_back():
    # Late imports (inside functions) count: they tie the modules as much as the others.
    graph = grimp.build_graph("sync", exclude_type_checking_imports=True, cache_dir=None)
    modules = {m for m in graph.modules if not m.startswith("sync.migrations")}

    circles = _circles(graph, modules)

    assert not circles, "\n".join(
        f"a circle of {len(circle)} modules:\n" + "\n".join(_ties(graph, circle))
        for circle in circles
    )


def test_it_finds_a_circle_that_a_late_import_closes():
    # The check itself: the doorbell's old late import of the Celery shells, put back.
    graph = grimp.build_graph("sync", exclude_type_checking_imports=True, cache_dir=None)
    graph.add_import(importer="sync.outbox", imported="sync.tasks", line_number=1, line_contents="")

    circles = _circles(graph, set(graph.modules))

    assert any({"sync.outbox", "sync.tasks"} <= set(circle) for circle in circles)
