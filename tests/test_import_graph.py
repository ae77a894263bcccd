"""The imports of privacy_kit run one way: no circle through the admin, security or the second factor.

Read from the source (ast), not by importing it: an import inside ``if TYPE_CHECKING:``
runs at no time and is left out. Importing ``a.b.c`` runs ``a/__init__`` and ``a/b/__init__``
too, so an import reaches the packages on the way, except those the importer is inside.
"""

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "privacy_kit"
WATCHED = ("privacy_kit.admin", "privacy_kit.security", "privacy_kit.two_factor")


def module_name(path):
    parts = ["privacy_kit", *path.relative_to(PACKAGE).with_suffix("").parts]
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = {
    module_name(path): path
    for path in sorted(PACKAGE.rglob("*.py"))
    if "migrations" not in path.parts and "locale" not in path.parts
}


def is_type_checking(node):
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def import_statements(nodes, everywhere):
    """Yield the import statements that run: at module level (also in ``if``/``try``), or anywhere."""
    for node in nodes:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and is_type_checking(node):
            yield from import_statements(node.orelse, everywhere)
        elif isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef, ast.Lambda)) and not everywhere:
            continue
        else:
            yield from import_statements(ast.iter_child_nodes(node), everywhere)


def imported_modules(name, everywhere=False):
    """Return the privacy_kit modules that importing module ``name`` runs (its own and its packages')."""
    path = MODULES[name]
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    found = set()
    for node in import_statements(ast.parse(path.read_text()).body, everywhere):
        if isinstance(node, ast.Import):
            targets = [alias.name for alias in node.names]
        else:
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, *([base] if base else [])])
            # "from . import views" imports a module; "from .sites import site" a name of one.
            targets = [f"{base}.{alias.name}" if f"{base}.{alias.name}" in MODULES else base for alias in node.names]
        for target in targets:
            parts = target.split(".")
            for end in range(1, len(parts) + 1):
                reached = ".".join(parts[:end])
                inside = name == reached or name.startswith(reached + ".")
                if reached in MODULES and reached != name and (not inside or end == len(parts)):
                    found.add(reached)
    return found


def cycles(graph):
    """Return the strongly connected groups of more than one module of ``graph`` (Tarjan's algorithm)."""
    index, low, stack, on_stack, groups = {}, {}, [], set(), []

    def visit(node):
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for target in graph[node]:
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(sorted(group))

    for name in graph:
        if name not in index:
            visit(name)
    return groups


def import_graph(everywhere=False):
    return {name: imported_modules(name, everywhere) for name in MODULES}


def watched(group):
    return [name for name in group if name.startswith(WATCHED)]


def test_the_graph_is_read():
    assert {"privacy_kit.admin.personal_data", "privacy_kit.two_factor.views"} <= imported_modules(
        "privacy_kit.admin.personal_data"
    ) | {"privacy_kit.admin.personal_data"}
    assert "privacy_kit.two_factor.sites" in imported_modules("privacy_kit.admin")
    assert "privacy_kit.security.events" in imported_modules("privacy_kit.two_factor.totp")


def test_a_circle_is_found():
    # security.events once imported admin.forms inside a function, and the admin imports security.
    graph = {"security.events": {"admin.forms"}, "admin.forms": {"admin.devices"}, "admin.devices": {"security.events"}}
    assert cycles({**graph, "conf": set()}) == [["admin.devices", "admin.forms", "security.events"]]


def test_an_import_inside_a_function_is_seen_only_everywhere():
    assert "privacy_kit.two_factor.devices" not in imported_modules("privacy_kit.two_factor.apps")
    assert "privacy_kit.two_factor.devices" in imported_modules("privacy_kit.two_factor.apps", everywhere=True)


def test_no_module_level_import_circle_goes_through_admin_security_or_two_factor():
    assert [group for group in cycles(import_graph()) if watched(group)] == []


def test_no_import_circle_even_inside_functions_goes_through_admin_security_or_two_factor():
    # An import inside a function hides a circle from Python at import time, not from the design.
    assert [group for group in cycles(import_graph(everywhere=True)) if watched(group)] == []


@pytest.mark.parametrize(
    ("lower", "higher"),
    [
        ("privacy_kit.security", "privacy_kit.two_factor"),
        ("privacy_kit.security", "privacy_kit.admin"),
        ("privacy_kit.two_factor", "privacy_kit.admin"),
    ],
)
def test_lower_packages_never_import_higher_ones(lower, higher):
    offenders = {
        name: sorted(target for target in imported_modules(name, everywhere=True) if target.startswith(higher))
        for name in MODULES
        if name == lower or name.startswith(lower + ".")
    }
    assert {name: targets for name, targets in offenders.items() if targets} == {}
