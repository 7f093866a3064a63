"""The shape of the house: no import cycle among the package's modules (every import counts:
module level, inside a function, under TYPE_CHECKING), and the layers point down. Standard
library only: the source's own syntax trees."""

from __future__ import annotations

import ast
from pathlib import Path

SRC = Path(__file__).resolve().parent.parent / "src"
PACKAGE = "ecsdeploy"

#: The layers, top to bottom (STYLE.md): a module imports from its own layer (no cycle, as
#: the test above checks) or from a lower one, never from a higher one. The sandbox is
#: checked for cycles only.
LAYERS: list[set[str]] = [
    {"__main__", "action"},
    {"cli", "argv", "options"},
    {"runner"},
    {"release"},
    {"deploy"},
    {"native", "register", "migration", "codedeploy", "codedeploywatch"},
    {"rollback", "prune", "scheduled"},
    {"story"},
    {"plan"},
    {"migrate", "migratechecks"},
    {"config", "netconfig", "files", "strategy", "codedeployconfig"},
    {"watch", "ecs", "output", "aws", "gateways", "preflight", "streams", "quick"},
    {
        "result",
        "changes",
        "masking",
        "taskdef",
        "image",
        "models",
        "policy",
        "diagnose",
        "schedules",
        "appspec",
    },
    {"errors", "limits", "levels"},
]


def imports() -> dict[str, set[str]]:
    """Module (dotted, under the package) -> the package's modules it imports."""
    modules = {
        ".".join(p.relative_to(SRC).with_suffix("").parts).removesuffix(".__init__"): p
        for p in (SRC / PACKAGE).rglob("*.py")
    }
    graph: dict[str, set[str]] = {m: set() for m in modules}
    for module, path in modules.items():
        for node in ast.walk(ast.parse(path.read_text())):
            names: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = [f"{node.module}.{a.name}" for a in node.names]
                names = [n for n in subs if n in modules] or [node.module]
            elif isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            graph[module].update(n for n in names if n in modules and n != module)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while True:
                w = stack.pop()
                component.append(w)
                if w == v:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_import_cycles():
    assert cycles(imports()) == []


def test_imports_point_down():
    layer_of = {f"{PACKAGE}.{m}": i for i, layer in enumerate(LAYERS) for m in layer}
    upward = [
        f"{module} imports {target}"
        for module, targets in imports().items()
        if module in layer_of
        for target in targets
        if target in layer_of and layer_of[target] < layer_of[module]
    ]
    assert upward == []


def test_every_module_has_a_layer():
    names = {m.removeprefix(f"{PACKAGE}.") for m in imports() if ".sandbox" not in m}
    assert names - {PACKAGE} <= set().union(*LAYERS)


def test_the_checker_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"a"}, "c": set()}) == [["a", "b"]]
