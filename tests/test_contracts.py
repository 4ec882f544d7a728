"""The shape of the code, checked: the window is on top of app/, the panels under it, the widgets and the session
under them, the engine under all; no import circle anywhere in the product (app/, engine/, cli/, main.py); and
nothing outside an object touches its `_private` members, in the product or in the tests (a test reaches what a
user or a caller can reach)."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
CHECKED = ("app", "engine", "cli", "main.py", "tests")
NOT_PRODUCT = ("tests", "bench")  # the packages that are not Fude itself
# third-party private names the tests patch on purpose: Pillow's PostScript decoder, to prove it never runs,
# and ctypes' pointer base class, to fake a Windows API
THIRD_PARTY_PRIVATE = {"EpsImagePlugin.EpsImageFile._open", "ctypes._Pointer"}
# who may import whom inside app/: a module of a layer imports only from the layers after it
LAYERS = (
    ("app.window",),
    ("app.panels",),
    ("app.widgets", "app.session", "app.job_queue", "app.worker", "app.video_worker", "app.preferences",
     "app.memory_probe", "app.fetch"),
    ("app.single_instance", "app.file_open"),
    ("app.background", "app.loaded_image", "app.qimage", "app.plain_text", "app.refcount_guard",
     "app.region_painting", "app.open_request", "app.icon"),
)


def _python_files(*names: str) -> list[Path]:
    files: list[Path] = []
    for name in names:
        path = ROOT / name
        files += [path] if path.is_file() else sorted(path.rglob("*.py"))
    return [f for f in files if ".venv" not in f.parts]


def _product() -> list[str]:
    """Every module and package of Fude itself, found rather than listed (app/, engine/, cli/, main.py, ...): the
    Python files at the top and the packages beside them, but the tests and the benchmarks."""
    files = [path.name for path in sorted(ROOT.glob("*.py"))]
    return files + [path.parent.name for path in sorted(ROOT.glob("*/__init__.py"))
                    if path.parent.name not in NOT_PRODUCT]


def _module(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """The modules `path` imports (at any depth in the file, also under TYPE_CHECKING): `from a.b import c`
    counts as importing a.b and, when it is a module, a.b.c. The package a module is in is not counted as imported
    by it (Python loads a package before its modules, whatever they import)."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.add(node.module)
            found.update(f"{node.module}.{alias.name}" for alias in node.names)
    return found  # with third-party names: _graph keeps the project's


def _graph(*names: str) -> dict[str, set[str]]:
    """Who imports whom among the modules in `names` (folders and files)."""
    modules = {_module(path): path for path in _python_files(*names)}
    return {name: {m for m in _imports(path) if m in modules and m != name} for name, path in modules.items()}


def _app_graph() -> dict[str, set[str]]:
    return _graph("app")


def _layer(module: str) -> int:
    for index, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return index
    raise AssertionError(f"{module} is in no layer of tests/test_contracts.py: say where it belongs")


def test_only_the_window_module_itself_imports_the_window():
    importers = [name for name, imports in _app_graph().items() if "app.window" in imports]
    assert importers == [], f"these import app.window: {importers}"


def test_every_app_module_imports_only_from_the_layers_below_it():
    wrong = [f"{name} -> {imported}" for name, imports in _app_graph().items() for imported in imports
             if _layer(imported) < _layer(name)
             or (_layer(imported) == _layer(name) and imported.split(".")[:2] != name.split(".")[:2]
                 and _layer(name) < 2)]
    assert wrong == [], "imports against the layering: " + ", ".join(wrong)


def test_there_is_no_import_circle_anywhere():
    """No module of Fude imports itself through others. Every import counts, also one inside a function (which
    only puts the circle off until it runs) and one under TYPE_CHECKING (a circle the type checker walks): a
    module that needs another's part that needs it back wants that part moved to a module of its own."""
    graph = _graph(*_product())
    visiting: list[str] = []
    done: set[str] = set()

    def visit(name: str) -> None:
        if name in done:
            return
        assert name not in visiting, "import circle: " + " -> ".join([*visiting[visiting.index(name):], name])
        visiting.append(name)
        for imported in sorted(graph[name]):
            visit(imported)
        visiting.pop()
        done.add(name)

    for name in sorted(graph):
        visit(name)


def test_nothing_touches_another_objects_private_members():
    found = []
    for path in _python_files(*CHECKED):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom) and (node.module or "").split(".")[0] in ("app", "engine", "cli"):
                found += [f"{path.relative_to(ROOT)}:{node.lineno}: from {node.module} import {alias.name}"
                          for alias in node.names if alias.name.startswith("_") and not alias.name.startswith("__")]
                continue
            if not (isinstance(node, ast.Attribute) and node.attr.startswith("_") and not node.attr.startswith("__")):
                continue
            owner = node.value
            if isinstance(owner, ast.Name) and owner.id in ("self", "cls"):
                continue
            if isinstance(owner, ast.Call) and isinstance(owner.func, ast.Name) and owner.func.id == "super":
                continue  # an override calling the method it overrides
            if ast.unparse(node) in THIRD_PARTY_PRIVATE:
                continue
            found.append(f"{path.relative_to(ROOT)}:{node.lineno}: {ast.unparse(node)}")
    assert found == [], "private members reached from outside:\n" + "\n".join(found)


def test_the_checks_see_the_code():
    """The checks above would pass on nothing: make sure they looked at the window and its parts."""
    graph = _app_graph()
    assert "app.window" in graph and "app.session" in graph and any(m.startswith("app.panels.") for m in graph)
    assert "app.session" in graph["app.window"] and len(_python_files(*CHECKED)) > 50
    product = _graph(*_product())
    assert {"main", "cli", "cli.render", "cli.batch", "engine.driver", "app.window"} <= set(product)
    assert "cli" in product["main"] and "engine.driver" in product["cli.batch"]  # function-level imports count
