"""The import structure of docs/ARCHITECTURE.md: no library module imports the command line, and
the import graph of the package (module-level and deferred imports alike) has no cycle."""

import ast
import pathlib

import keras_aliasfree

ROOT = pathlib.Path(keras_aliasfree.__file__).parent
PKG = "keras_aliasfree"


def _module_name(path):
    rel = path.relative_to(ROOT.parent).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def _graph():
    modules = {_module_name(p): p for p in ROOT.rglob("*.py")}
    graph = {}
    for name, path in modules.items():
        edges = set()
        for node in ast.walk(ast.parse(path.read_text())):
            targets = []
            if isinstance(node, ast.Import):
                targets = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                # `from pkg import sub` imports the submodule when there is one
                targets = [f"{node.module}.{a.name}" if f"{node.module}.{a.name}" in modules
                           else node.module for a in node.names]
            edges.update(t for t in targets if t.startswith(PKG) and t != name)
        graph[name] = edges
    return graph


def _is_command(name):
    return name.startswith((f"{PKG}.commands", f"{PKG}.cli", f"{PKG}.__main__"))


def test_no_library_module_imports_the_command_line():
    bad = {m: sorted(e for e in edges if _is_command(e))
           for m, edges in _graph().items() if not _is_command(m)}
    assert not {m: e for m, e in bad.items() if e}


def test_import_graph_has_no_cycle():
    graph = _graph()
    # the top-level package only re-exports; a module importing a name from it is flagged too
    state, stack = {}, []

    def visit(m):
        state[m] = "open"
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == "open":
                raise AssertionError("import cycle: " + " -> ".join(stack[stack.index(n):] + [n]))
            if n not in state:
                visit(n)
        stack.pop()
        state[m] = "done"

    for m in sorted(graph):
        if m not in state:
            visit(m)


def test_graph_sees_the_known_edges():
    graph = _graph()
    assert f"{PKG}.serving" in graph[f"{PKG}.export"]
    assert f"{PKG}.diffusion.sampling" in graph[f"{PKG}.serving"]
    assert f"{PKG}.diffusion.schedule" in graph[f"{PKG}.diffusion.model"]


def test_no_library_module_runs_the_command_line():
    # a subprocess of the library calls a library function, never `python -m keras_aliasfree ...`
    offenders = []
    for path in ROOT.rglob("*.py"):
        name = _module_name(path)
        if _is_command(name):
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, (ast.List, ast.Tuple)):
                items = [e.value for e in node.elts if isinstance(e, ast.Constant)]
                for a, b in zip(items, items[1:]):
                    if a == "-m" and isinstance(b, str) and (b == PKG or _is_command(b)):
                        offenders.append(f"{name}: -m {b}")
    assert not offenders
