"""The package's stages only look down: a test that walks every module and fails on the first upward edge.

The stage order is declared once, here (``STAGES``), and is the one of ``../shared/DESIGN.md`` and the
README's Layout section: base modules (the top-level files) < audio < model < data < engine < runs <
analysis < explain < views < cli.  A module imports only modules of its own stage or of the stages
below it, at the top of the file (an own import hidden in a function to dodge a cycle is a design
fault, so those count too), and no two modules import each other, directly or round a loop.

The checker is tested on planted trees first, so that it is known to fail where it should.
"""

from __future__ import annotations

import ast
import re
import shutil
from dataclasses import dataclass
from pathlib import Path

import pytest

REPO_PKG = Path(__file__).resolve().parents[1] / "workbench"

#: the pipeline's stages, bottom to top; the top-level modules of the package are the base below them all
STAGES = ("audio", "model", "data", "engine", "runs", "analysis", "explain", "views", "cli")
#: top-level modules that stand with ``cli`` on top (they call every stage)
TOP = ("demo", "__main__")


@dataclass(frozen=True)
class Edge:
    source: str  # dotted module under the package: "audio.steps", "errors", "" for the package root
    target: str
    line: int
    in_function: bool

    def __str__(self) -> str:
        where = " (inside a function)" if self.in_function else ""
        return f"{self.source or '<root>'} -> {self.target or '<root>'} (line {self.line}){where}"


def module_name(pkg: Path, path: Path) -> str:
    parts = list(path.relative_to(pkg).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts = parts[:-1]
    return ".".join(parts)


def package_modules(pkg: Path) -> dict[str, Path]:
    return {module_name(pkg, p): p for p in sorted(pkg.rglob("*.py"))}


def own_imports(pkg: Path) -> list[Edge]:
    """Every import of one of the package's own modules, at module level and inside functions."""
    root = pkg.name
    modules = package_modules(pkg)
    edges: list[Edge] = []
    for me, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        in_function = {id(n) for f in ast.walk(tree) if isinstance(f, (ast.FunctionDef, ast.AsyncFunctionDef, ast.Lambda))
                       for n in ast.walk(f) if n is not f}
        package = me.split(".") if path.name == "__init__.py" else me.split(".")[:-1]
        for node in ast.walk(tree):
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
                found = [n[len(root) + 1:] if n != root else "" for n in names if n == root or n.startswith(root + ".")]
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = package[: len(package) - (node.level - 1)] if node.level > 1 else package
                    module = ".".join(base + ([node.module] if node.module else []))
                elif node.module == root or (node.module or "").startswith(root + "."):
                    module = node.module[len(root) + 1:] if node.module != root else ""
                else:
                    continue
                # `from workbench.audio import intake`: the names may be modules themselves
                found = [f"{module}.{a.name}".lstrip(".") if f"{module}.{a.name}".lstrip(".") in modules
                         else "__version__" if (module, a.name) == ("", "__version__")  # a constant of the root: base
                         else module for a in node.names]
            else:
                continue
            for target in dict.fromkeys(found):
                if target != me:
                    edges.append(Edge(me, target, node.lineno, id(node) in in_function))
    return edges


def stage_of(module: str) -> int:
    """0 for the base (top-level modules), 1.. for the stages in order; the package root's lazy public names
    just under ``cli`` (only ``cli`` and the top may use them), the top modules with ``cli``."""
    head = module.split(".")[0]
    if head in TOP:
        head = "cli"
    if head in STAGES:
        return 1 + STAGES.index(head) + (head == "cli")
    if module == "":
        return len(STAGES)
    return 0


def layer_violations(pkg: Path) -> list[str]:
    """Upward edges, own imports inside functions, and modules of no declared stage."""
    problems = []
    for name, path in package_modules(pkg).items():
        if path.parent != pkg and name.split(".")[0] not in STAGES:
            problems.append(f"{name}: a subpackage that is not a declared stage (declare it in STAGES, in its place)")
    for e in own_imports(pkg):
        if e.source == "":
            continue  # the root's __init__ names the public API lazily; it stands above everything but cli
        if stage_of(e.target) > stage_of(e.source):
            problems.append(f"upward: {e}")
        elif e.in_function:
            problems.append(f"hidden in a function: {e}")
    return problems


def find_cycles(edges: list[Edge]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan)."""
    graph: dict[str, set[str]] = {}
    for e in edges:
        graph.setdefault(e.source, set()).add(e.target)
        graph.setdefault(e.target, set())
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in sorted(graph[v]):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                out.append(sorted(comp))

    for v in sorted(graph):
        if v not in index:
            visit(v)
    return out


def _copy_package(tmp_path: Path) -> Path:
    pkg = tmp_path / "workbench"
    shutil.copytree(REPO_PKG, pkg, ignore=shutil.ignore_patterns("*.pyc", "__pycache__", "demo_data", "templates", "cards"))
    return pkg


# ---------------------------------------------------------------------------
# the checker fails where it should
# ---------------------------------------------------------------------------
@pytest.mark.parametrize("victim, planted, expected", [
    ("errors.py", "from workbench.cli import common\n", "upward: errors -> cli.common"),
    ("audio/intake.py", "from workbench.model.network import load_model\n", "upward: audio.intake -> model.network"),
    ("model/ref.py", "from ..analysis import calibration\n", "upward: model.ref -> analysis.calibration"),
    ("data/manifest.py", "import workbench.runs.folder\n", "upward: data.manifest -> runs.folder"),
    ("runs/folder.py", "def later():\n    from workbench.audio import intake\n", "hidden in a function: runs.folder -> audio.intake"),
])
def test_a_planted_import_fails_the_layering_check(tmp_path, victim, planted, expected):
    pkg = _copy_package(tmp_path)
    assert layer_violations(pkg) == []  # the copy is clean before the plant
    with open(pkg / victim, "a", encoding="utf-8") as f:
        f.write("\n" + planted)
    found = layer_violations(pkg)
    assert any(p.startswith(expected) for p in found), found


def test_a_subpackage_outside_the_stage_order_is_named(tmp_path):
    pkg = _copy_package(tmp_path)
    (pkg / "extras").mkdir()
    (pkg / "extras" / "__init__.py").write_text('"""x"""\n')
    assert any(p.startswith("extras: a subpackage that is not a declared stage") for p in layer_violations(pkg))


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path):
    pkg = tmp_path / "workbench"
    pkg.mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "a.py").write_text("from .b import x\n")
    (pkg / "b.py").write_text("def f():\n    from .c import y\n")
    (pkg / "c.py").write_text("import workbench.a\n")
    (pkg / "d.py").write_text("from .a import z\n")
    assert find_cycles(own_imports(pkg)) == [["a", "b", "c"]]


# ---------------------------------------------------------------------------
# the tree
# ---------------------------------------------------------------------------
def test_every_import_of_the_package_looks_down():
    problems = layer_violations(REPO_PKG)
    assert problems == [], "imports against the stage order:\n" + "\n".join(problems)


def test_the_package_has_no_import_cycles():
    cycles = find_cycles(own_imports(REPO_PKG))
    assert cycles == [], f"import cycles between workbench modules: {cycles}"


def test_the_walk_sees_every_subpackage():
    """The old check globbed ``workbench/*.py`` and saw six modules and no edge; this one must see the stages."""
    edges = own_imports(REPO_PKG)
    stages_seen = {e.source.split(".")[0] for e in edges} & set(STAGES)
    assert stages_seen == set(STAGES)
    assert len(edges) > 200


def test_the_readme_names_the_stage_order():
    readme = (REPO_PKG.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("The pipeline reads top to bottom")
    paragraph = readme[start:readme.index("\n\n", start)]
    named = [w.strip("`,.:") for w in paragraph.split() if w.strip("`,.:") in STAGES]
    assert named[:len(STAGES)] == list(STAGES), paragraph


def test_the_readme_and_the_design_name_the_base_modules_the_tree_has():
    """The base the stages stand on, as the package has it: every top-level module but the entry points."""
    base = sorted(p.stem for p in REPO_PKG.glob("*.py") if p.stem not in TOP + ("__init__",))
    readme = (REPO_PKG.parent / "README.md").read_text(encoding="utf-8")
    start = readme.index("on a base of top-level modules")
    named = re.findall(r"`(\w+)`", readme[start:readme.index("that import no stage", start)])
    assert sorted(named) == base, f"README names {sorted(named)}; the package's base is {base}"
    design = REPO_PKG.parent.parent / "shared" / "DESIGN.md"
    if design.is_file():  # ../shared beside the clone (CI has it)
        text = design.read_text(encoding="utf-8")
        line = next(x for x in text.splitlines() if "base: imports" in x)
        assert sorted(w[:-3] for w in line.split() if w.endswith(".py")) == base, line
