"""Static guards of the package's structure: import layering, a GUI-free core, short functions.

Layers, bottom to top.  A module may import (see `LAYERS`, the one rule table):

``base``
    ``_lazy.py``, ``atomic.py``, ``data.py``, ``quality.py``, ``astropy_tables.py``,
    ``notebook_errors.py``, ``jobs.py``: helpers, the data containers and their quality
    bits, the same as astropy objects with units, how our failures show in a notebook,
    and long work as a `Job`
    (the Session's fit, download and periodogram, a survey, the quickstart API's fit).
    Only each other.
``engine``
    ``engine/*``: numbers only.  ``base`` and the engine; never the runtime.
``runtime``
    ``runtime/*``: where and how the numbers run (ray, threads, the warm-up compile,
    the fit cache).  ``base``, the engine and the runtime: it imports the engine,
    never the reverse (a function the runtime runs, such as a fit's chunk, is passed
    in).
``archive``
    ``archive/*``: files and services.  ``base``, the archive, and of the engine
    only its pure-math helpers ``engine.psf``, ``engine.simulate`` and
    ``engine.timesystems`` (the bundled sample program draws simulated
    guide-star frames and stamps its science light curve in BJD_TDB).
``session``
    ``model.py``, ``session_io.py``, ``session_schema.py`` (what each trait is) and the
    Session's recorded script ``history.py``: the `Session`.
    Everything above (the runtime included), and the root package (``session_io`` reads
    ``fgs_widgets.__version__``); the report only inside a function (``Session.report``);
    never widgets.
``survey``
    ``survey/*``: many programs on ray into one dataset.  ``root``, ``base``,
    ``engine``, ``runtime``, ``archive`` and the survey; not the Session; widgets only inside a
    function (``Survey.widget()``), like ``spelunker``.
``report``
    ``report/*``: the guiding report (one HTML file) of a Session it is handed.  ``root``,
    ``base``, ``engine``, ``archive`` and the report; a survey dataset (its reference
    population) only inside a function.  Never the Session's modules: the Session
    reaches the report lazily (``Session.report``), so the report knows a Session only
    by the attributes it reads, and no import cycle forms.
``cli``
    ``cli.py``: ``root``, ``base``, ``engine``, ``runtime``, ``archive``, ``session``,
    ``survey``, ``report``; never widgets.
``spelunker``
    ``spelunker.py`` (the quickstart API's adapter) and ``spelunker_plots.py`` (its
    figures and animations, given the data; it never imports the adapter): like
    ``cli``; widgets only inside a function (the adapter's ``widgets()``/``show()``
    method), so ``import fgs_widgets.spelunker`` never loads ipywidgets or bqplot.
``widgets``
    ``widgets/*``: the panels.  Everything except ``cli`` and ``spelunker``
    (the other front ends).
``root``
    ``fgs_widgets/__init__.py``: ``base`` with import statements; anything
    through its lazy export table (that table is the public API, resolved on
    first use).

So nothing outside ``widgets/``, the root's lazy table and spelunker's lazy
method reaches the widgets.

What counts as an import: every ``import`` and ``from ... import`` anywhere in a
file (module level, in functions and methods, under ``if TYPE_CHECKING:``),
relative or absolute, and every entry of a package's lazy tables (``_EXPORTS``,
``_SUBMODULES`` in its ``__init__.py``, resolved like `fgs_widgets._lazy`).
``from pkg import name`` is an import of the module ``pkg.name`` when there is
one, else of the module ``pkg``'s ``_EXPORTS`` maps ``name`` to, else of ``pkg``.
An import is *lazy* inside a function body or a lazy table, *eager* otherwise.

No cycles either: no module may reach itself through the imports above, lazy ones
included (`test_no_import_cycles`), except through a package's lazy table.  A table
names where the package's names live; whoever imports one of them is already credited
with an import of the module that defines it, so the table's own entries are left out
of that graph (else the root's table, which reaches nearly everything, would close a
cycle with every module reading ``fgs_widgets.__version__``).
"""

from __future__ import annotations

import ast
import subprocess
import sys
import textwrap
from dataclasses import dataclass, field
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGE = "fgs_widgets"
SOURCE = ROOT / PACKAGE

_BELOW_FRONT_ENDS = {"root", "base", "engine", "runtime", "archive", "session"}


@dataclass(frozen=True)
class Rule:
    """What a layer may import: layer names or exact module names."""

    eager: frozenset[str]
    lazy: frozenset[str] = field(default=frozenset())  # also, in functions and lazy tables


_ALL = frozenset({"root", "base", "engine", "runtime", "archive", "session", "survey",
                  "report", "cli", "spelunker", "widgets"})

#: The one rule table (see the module docstring).
LAYERS: dict[str, Rule] = {
    "base": Rule(frozenset({"base"})),
    "engine": Rule(frozenset({"base", "engine"})),
    "runtime": Rule(frozenset({"base", "engine", "runtime"})),
    "archive": Rule(frozenset({"base", "archive", "fgs_widgets.engine.psf",
                               "fgs_widgets.engine.simulate",
                               "fgs_widgets.engine.timesystems"})),
    "session": Rule(frozenset(_BELOW_FRONT_ENDS), lazy=frozenset({"report"})),
    "survey": Rule(frozenset({"root", "base", "engine", "runtime", "archive", "survey"}),
                   lazy=frozenset({"widgets"})),
    "report": Rule(frozenset({"root", "base", "engine", "archive", "report"}),
                   lazy=frozenset({"survey"})),
    "cli": Rule(frozenset(_BELOW_FRONT_ENDS | {"cli", "survey", "report"})),
    "spelunker": Rule(frozenset(_BELOW_FRONT_ENDS | {"spelunker"}), lazy=frozenset({"widgets"})),
    "widgets": Rule(frozenset(_BELOW_FRONT_ENDS | {"survey", "report", "widgets"})),
    "root": Rule(frozenset({"root", "base"}), lazy=_ALL),
}


def layer_of(module: str) -> str | None:
    """The layer of a module name of the package (None: not in any layer)."""
    if module == PACKAGE:
        return "root"
    name = module.removeprefix(PACKAGE + ".")
    top = name.split(".")[0]
    if name in {"_lazy", "atomic", "data", "quality", "astropy_tables", "notebook_errors",
                "jobs"}:
        return "base"
    if top in {"engine", "runtime", "archive", "survey", "widgets"}:
        return top
    if name in {"model", "session_io", "session_schema", "history"}:
        return "session"
    if name in {"cli", "spelunker"}:
        return name
    if top == "report":
        return "report"
    if name == "spelunker_plots":  # the quickstart API's figures
        return "spelunker"
    if name == "__main__":  # python -m fgs_widgets: the command line
        return "cli"
    return None


# --- the import scanner --------------------------------------------------------------------


@dataclass(frozen=True)
class Import:
    source: str  # importing module
    path: str  # its file, relative to the repository
    line: int
    target: str  # imported module of the package
    lazy: bool


def module_name(path: Path) -> tuple[str, bool]:
    """(dotted module name, is a package ``__init__``) of a file under the repository."""
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    if parts[-1] == "__init__":
        return ".".join(parts[:-1]), True
    return ".".join(parts), False


def lazy_tables(tree: ast.Module) -> tuple[dict[str, str], list[str]]:
    """A package ``__init__``'s ``_EXPORTS`` (name -> module) and ``_SUBMODULES``."""
    exports: dict[str, str] = {}
    submodules: list[str] = []
    for node in tree.body:
        if not isinstance(node, ast.Assign | ast.AnnAssign):
            continue
        targets = node.targets if isinstance(node, ast.Assign) else [node.target]
        names = {t.id for t in targets if isinstance(t, ast.Name)}
        value = node.value
        if "_EXPORTS" in names and isinstance(value, ast.Dict):
            exports.update({k.value: v.value for k, v in zip(value.keys, value.values, strict=True)
                            if isinstance(k, ast.Constant) and isinstance(v, ast.Constant)})
        if "_SUBMODULES" in names and isinstance(value, ast.Set | ast.List | ast.Tuple):
            submodules += [e.value for e in value.elts if isinstance(e, ast.Constant)]
    return exports, submodules


def resolve_lazy(package: str, module: str) -> str:
    """A lazy table entry as `fgs_widgets._lazy` resolves it."""
    return module if "." in module else f"{package}.{module}"


class _Scanner(ast.NodeVisitor):
    def __init__(self, module: str, is_package: bool, modules: set[str],
                 exports: dict[str, dict[str, str]]):
        self.module, self.modules, self.exports = module, modules, exports
        self.package = module if is_package else module.rpartition(".")[0]
        self.depth = 0  # function nesting
        self.found: list[tuple[int, str, bool]] = []

    def _add(self, node: ast.AST, target: str) -> None:
        if target == PACKAGE or target.startswith(PACKAGE + "."):
            entry = (node.lineno, target, self.depth > 0)
            if entry not in self.found:  # `from x import a, b`: one import of x
                self.found.append(entry)

    def _function(self, node: ast.FunctionDef | ast.AsyncFunctionDef) -> None:
        self.depth += 1
        self.generic_visit(node)
        self.depth -= 1

    visit_FunctionDef = visit_AsyncFunctionDef = _function

    def visit_Import(self, node: ast.Import) -> None:
        for alias in node.names:
            self._add(node, alias.name)

    def visit_ImportFrom(self, node: ast.ImportFrom) -> None:
        if node.level:
            parts = self.package.split(".")
            base = parts[: len(parts) - (node.level - 1)]
            origin = ".".join(base + ([node.module] if node.module else []))
        else:
            origin = node.module or ""
        for alias in node.names:
            candidate = f"{origin}.{alias.name}"
            if candidate in self.modules:
                self._add(node, candidate)
            elif alias.name in self.exports.get(origin, {}):
                self._add(node, resolve_lazy(origin, self.exports[origin][alias.name]))
            else:
                self._add(node, origin)


def scan(source: str, module: str, is_package: bool, modules: set[str],
         exports: dict[str, dict[str, str]]) -> list[tuple[int, str, bool]]:
    """(line, imported module of the package, lazy) for every import in `source`."""
    tree = ast.parse(source)
    scanner = _Scanner(module, is_package, modules, exports)
    scanner.visit(tree)
    found = scanner.found
    if is_package:
        table, submodules = lazy_tables(tree)
        lines = {n.targets[0].id: n.lineno for n in tree.body
                 if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name)}
        found += [(lines.get("_EXPORTS", 1), resolve_lazy(module, m), True)
                  for m in table.values()]
        found += [(lines.get("_SUBMODULES", 1), f"{module}.{m}", True) for m in submodules]
    return found


def package_files() -> list[Path]:
    return sorted(p for p in SOURCE.rglob("*.py") if "__pycache__" not in p.parts)


def package_imports() -> list[Import]:
    files = package_files()
    names = {p: module_name(p) for p in files}
    modules = {name for name, _ in names.values()}
    exports = {}
    for path, (name, is_package) in names.items():
        if is_package:
            table, _ = lazy_tables(ast.parse(path.read_text()))
            exports[name] = table
    imports = []
    for path, (name, is_package) in names.items():
        rel = str(path.relative_to(ROOT))
        for line, target, lazy in scan(path.read_text(), name, is_package, modules, exports):
            imports.append(Import(name, rel, line, target, lazy))
    return imports


def violation(imp: Import, modules: set[str]) -> str | None:
    """Why `imp` breaks the layering, or None."""
    source, target = layer_of(imp.source), layer_of(imp.target)
    where = f"{imp.path}:{imp.line} imports {imp.target}"
    if imp.target not in modules:
        return f"{where}: no such module in the package"
    if source is None or target is None:
        return f"{where}: module without a layer (add it to layer_of and LAYERS)"
    rule = LAYERS[source]
    allowed = rule.eager | rule.lazy if imp.lazy else rule.eager
    if target in allowed or imp.target in allowed:
        return None
    how = "inside a function" if imp.lazy else "at import time"
    hint = " (allowed only inside a function or a lazy table)" if target in rule.lazy else ""
    return f"{where} ({source} -> {target}, {how}){hint}"


#: import cycles known to be on their way out: modules -> why they are tolerated for now
KNOWN_CYCLES: dict[frozenset[str], str] = {}


def lazy_table_entries() -> set[tuple[str, str]]:
    """(package, module) of every entry of a package's lazy tables (`lazy_tables`)."""
    entries = set()
    for path in package_files():
        name, is_package = module_name(path)
        if is_package:
            table, submodules = lazy_tables(ast.parse(path.read_text()))
            entries |= {(name, resolve_lazy(name, m)) for m in table.values()}
            entries |= {(name, f"{name}.{m}") for m in submodules}
    return entries


def import_graph(imports: list[Import], tables: set[tuple[str, str]]) -> dict[str, set[str]]:
    """module -> the modules it imports, eagerly or in functions; lazy-table entries (in
    `tables`) and a module's imports of itself left out (the module docstring says why)."""
    graph: dict[str, set[str]] = {}
    for imp in imports:
        table_entry = imp.lazy and (imp.source, imp.target) in tables
        if imp.source != imp.target and not table_entry:
            graph.setdefault(imp.source, set()).add(imp.target)
    return graph


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The groups of modules that import each other in a circle (strongly connected
    components of more than one module, each sorted; Tarjan's algorithm, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found = []
    for start in sorted(graph):
        if start in index:
            continue
        work = [(start, iter(sorted(graph.get(start, ()))))]
        index[start] = low[start] = len(index)
        stack.append(start)
        on_stack.add(start)
        while work:
            node, targets = work[-1]
            target = next(targets, None)
            if target is None:
                work.pop()
                if work:
                    low[work[-1][0]] = min(low[work[-1][0]], low[node])
                if low[node] == index[node]:
                    group = []
                    while True:
                        member = stack.pop()
                        on_stack.discard(member)
                        group.append(member)
                        if member == node:
                            break
                    if len(group) > 1:
                        found.append(sorted(group))
            elif target not in index:
                index[target] = low[target] = len(index)
                stack.append(target)
                on_stack.add(target)
                work.append((target, iter(sorted(graph.get(target, ())))))
            elif target in on_stack:
                low[node] = min(low[node], index[target])
    return sorted(found)


# --- tests -------------------------------------------------------------------------------


def test_every_module_belongs_to_a_layer():
    unplaced = [str(p.relative_to(ROOT)) for p in package_files()
                if layer_of(module_name(p)[0]) is None]
    assert not unplaced, f"modules in no layer (add them to layer_of and LAYERS): {unplaced}"


def test_scanner_sees_every_kind_of_import():
    """The scanner itself, on a synthetic module: a silent scanner would pass any layering."""
    source = textwrap.dedent("""
        import fgs_widgets.archive.reader
        from ..archive import mast
        from ..engine import gaussian2d
        from .. import data, __version__
        from . import psf
        import numpy
        if TYPE_CHECKING:
            from fgs_widgets.model import Session

        class A:
            def method(self):
                from ..widgets.app import App

        def outer():
            def inner():
                import fgs_widgets.spelunker
    """)
    modules = {"fgs_widgets", "fgs_widgets.data", "fgs_widgets.archive", "fgs_widgets.engine",
               "fgs_widgets.archive.reader", "fgs_widgets.archive.mast", "fgs_widgets.engine.psf",
               "fgs_widgets.engine.x", "fgs_widgets.model", "fgs_widgets.widgets.app",
               "fgs_widgets.spelunker"}
    exports = {"fgs_widgets.engine": {"gaussian2d": "psf"}}
    found = scan(source, "fgs_widgets.engine.x", False, modules, exports)
    assert found == [
        (2, "fgs_widgets.archive.reader", False),
        (3, "fgs_widgets.archive.mast", False),
        (4, "fgs_widgets.engine.psf", False),  # through the engine's lazy table
        (5, "fgs_widgets.data", False),
        (5, "fgs_widgets", False),  # __version__: the root package itself
        (6, "fgs_widgets.engine.psf", False),
        (9, "fgs_widgets.model", False),
        (13, "fgs_widgets.widgets.app", True),
        (17, "fgs_widgets.spelunker", True),
    ]
    init = '_EXPORTS = {"App": "fgs_widgets.widgets.app", "read": "reader"}\n_SUBMODULES = {"cli"}'
    assert sorted(scan(init, "fgs_widgets", True, modules, {})) == [
        (1, "fgs_widgets.reader", True), (1, "fgs_widgets.widgets.app", True),
        (2, "fgs_widgets.cli", True)]


def test_imports_respect_the_layers():
    imports = package_imports()
    assert len(imports) > 50, "the scan found almost no imports: is it broken?"
    modules = {module_name(p)[0] for p in package_files()}
    problems = [v for imp in imports if (v := violation(imp, modules)) is not None]
    assert not problems, ("imports that break the layering (see tests/test_structure.py):\n"
                          + "\n".join(problems))


def test_cycle_finder_on_a_synthetic_graph():
    """The cycle finder itself: a silent one would pass any graph."""
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a", "d"}, "d": {"e"}, "e": {"d"}, "f": {"a"},
             "g": {"g"}}
    assert cycles(graph) == [["a", "b", "c"], ["d", "e"]]
    assert cycles({"a": {"b"}, "b": {"c"}}) == []
    imports = [Import("p", "p/__init__.py", 1, "p.m", True),  # a lazy table entry
               Import("p.m", "p/m.py", 3, "p", False),  # e.g. reads p.__version__
               Import("p.m", "p/m.py", 9, "p.n", True), Import("p.n", "p/n.py", 2, "p.m", False)]
    graph = import_graph(imports, {("p", "p.m")})
    assert graph == {"p.m": {"p", "p.n"}, "p.n": {"p.m"}}
    assert cycles(graph) == [["p.m", "p.n"]]  # a function's import closes a cycle too


def test_no_import_cycles():
    """No module reaches itself through imports, lazy ones included (tables aside).

    Issue 28: ``engine.executor`` imported the fit from ``engine.gaussian`` and
    ``engine.gaussian`` imported ``run_ray`` from the executor; the runtime now receives
    the chunk function instead.
    """
    graph = import_graph(package_imports(), lazy_table_entries())
    found = cycles(graph)
    unknown = [group for group in found if frozenset(group) not in KNOWN_CYCLES]
    assert not unknown, ("modules that import each other in a circle (break it: pass the "
                         "function in, or move the shared piece down a layer):\n"
                         + "\n".join(" <-> ".join(group) for group in unknown))
    gone = [" <-> ".join(sorted(known)) for known in KNOWN_CYCLES
            if sorted(known) not in found]
    assert not gone, f"cycles gone: drop them from KNOWN_CYCLES: {gone}"


@pytest.mark.parametrize("source, target, allowed", [
    ("fgs_widgets.engine.gaussian", "fgs_widgets.runtime.executor", False),
    ("fgs_widgets.engine.stability", "fgs_widgets.runtime.fit", False),
    ("fgs_widgets.runtime.fit", "fgs_widgets.engine.gaussian", True),
    ("fgs_widgets.runtime.fit_cache", "fgs_widgets.atomic", True),
    ("fgs_widgets.runtime.executor", "fgs_widgets.model", False),
    ("fgs_widgets.model", "fgs_widgets.runtime.warmup", True),
    ("fgs_widgets.survey.worker", "fgs_widgets.runtime.fit", True),
    ("fgs_widgets.widgets.fit_runner", "fgs_widgets.runtime.warmup", True),
    ("fgs_widgets.archive.reader", "fgs_widgets.runtime.fit", False),
])
def test_the_runtime_sits_above_the_engine(source, target, allowed):
    """The engine never imports the runtime (not even in a function); the runtime may."""
    modules = {source, target}
    for lazy in (False, True):
        problem = violation(Import(source, "x.py", 1, target, lazy), modules)
        assert (problem is None) == allowed, problem


_NO_GUI = """
import sys

# Absent, as if not installed: import raises ImportError and importlib.util.find_spec
# returns None (astropy probes optional packages with find_spec; a meta_path finder that
# raises would break astropy itself, not simulate a missing package).
BLOCKED = ("ipywidgets", "bqplot", "anywidget")
for name in BLOCKED:
    sys.modules[name] = None
try:
    import ipywidgets  # noqa: F401
except ImportError:
    pass
else:
    raise SystemExit("the block does not work")

import fgs_widgets
import fgs_widgets.archive
import fgs_widgets.cli
import fgs_widgets.engine
import fgs_widgets.engine.gaussian
import fgs_widgets.runtime.fit
import fgs_widgets.model
import fgs_widgets.session_io
import fgs_widgets.spelunker

fgs_widgets.Session()  # through the root's lazy table
fgs_widgets.engine.periodograms, fgs_widgets.archive.sample_program, fgs_widgets.fit_gaussians
assert all(sys.modules[name] is None for name in BLOCKED)
print("imported without", ", ".join(BLOCKED))
"""


def test_engine_session_and_archive_import_without_gui_packages():
    """The numbers, the Session, the archive, cli and spelunker work in a plain Python."""
    done = subprocess.run([sys.executable, "-c", _NO_GUI], cwd=ROOT, capture_output=True,
                          text=True, timeout=300)
    assert done.returncode == 0, done.stderr[-3000:]


MAX_LINES = 80


def long_functions(path: Path, root: Path = ROOT) -> list[str]:
    """Functions and methods longer than `MAX_LINES` without a ``Length:`` docstring line."""
    out = []

    def visit(node: ast.AST, prefix: str) -> None:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                name = f"{prefix}{child.name}"
                length = child.end_lineno - child.lineno + 1
                doc = ast.get_docstring(child) or ""
                reason = [line for line in doc.splitlines() if line.lstrip().startswith("Length:")
                          and line.split("Length:", 1)[1].strip()]
                if length > MAX_LINES and not reason:
                    out.append(f"{path.relative_to(root)}:{child.lineno} {name}: {length} lines")
                visit(child, f"{name}.")
            elif isinstance(child, ast.ClassDef):
                visit(child, f"{prefix}{child.name}.")
            else:
                visit(child, prefix)

    visit(ast.parse(path.read_text()), "")
    return out


def test_no_function_longer_than_80_lines_without_a_reason():
    """Split long functions, or say why not on a docstring line ``Length: <reason>``."""
    offenders = [line for path in package_files() for line in long_functions(path)]
    assert not offenders, (f"functions over {MAX_LINES} lines (end_lineno - lineno + 1) whose "
                           "docstring has no 'Length: <reason>' line:\n" + "\n".join(offenders))


@pytest.mark.parametrize("source, expected", [
    ("def f():\n" + "    x = 1\n" * 79, []),
    ("def f():\n" + "    x = 1\n" * 80, ["f: 81 lines"]),
    ('def f():\n    """Doc.\n\n    Length: one table, read top to bottom.\n    """\n'
     + "    x = 1\n" * 80, []),
    ('class C:\n    def m(self):\n        """Length:"""\n' + "        x = 1\n" * 80,
     ["C.m: 82 lines"]),  # a reason is required
])
def test_long_function_check(tmp_path, source, expected):
    path = tmp_path / "m.py"
    path.write_text(source)
    assert [line.split(" ", 1)[1] for line in long_functions(path, tmp_path)] == expected
