"""`import workbench` is cheap and works without torch or funasr installed."""

import ast
import subprocess
import sys
import textwrap
from pathlib import Path

REPO_PKG = Path(__file__).resolve().parents[1] / "workbench"

BLOCKED = {"torch", "funasr", "sentence_transformers", "librosa", "matplotlib", "pandas"}
BLOCKER = textwrap.dedent(
    """
    import importlib.abc, sys
    class Block(importlib.abc.MetaPathFinder):
        def find_spec(self, name, path=None, target=None):
            if name.split(".")[0] in BLOCKED:
                raise ImportError(f"{name} is blocked for this test")
            return None
    sys.meta_path.insert(0, Block())
    """
)


def run(code: str, blocked=BLOCKED) -> subprocess.CompletedProcess:
    prefix = f"BLOCKED = {set(blocked)!r}\n" + BLOCKER
    return subprocess.run([sys.executable, "-c", prefix + textwrap.dedent(code)], capture_output=True, text=True, timeout=120)


def test_import_works_without_heavy_dependencies():
    proc = run(
        """
        import workbench, workbench.audio.intake, workbench.model.network, workbench.runs.outputs, workbench.cli, workbench.model.labels
        print(workbench.__version__, len(workbench.LABEL_KEYS))
        """
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.split() == ["0.1.0", "9"]


def test_import_does_not_load_torch():
    proc = subprocess.run(
        [sys.executable, "-c", "import sys, workbench, workbench.model.network, workbench.audio.intake, workbench.runs.outputs, workbench.cli; "
         "print(sorted(m for m in ('torch', 'funasr', 'librosa', 'sentence_transformers', 'matplotlib') if m in sys.modules))"],
        capture_output=True, text=True, timeout=120,
    )
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == "[]"


def test_loading_a_model_without_funasr_says_how_to_fix(tmp_path):
    proc = run(
        f"""
        import os
        os.environ["WORKBENCH_CACHE"] = {str(tmp_path)!r}
        from workbench.model.network import load_model
        from workbench.errors import ModelError
        try:
            load_model("tiny")
        except ModelError as e:
            print("MODEL_ERROR", e)
        """,
        blocked={"funasr"},
    )
    assert proc.returncode == 0, proc.stderr
    assert "MODEL_ERROR" in proc.stdout and "funasr is not installed" in proc.stdout and "Fix:" in proc.stdout, proc.stdout


def own_imports(pkg_dir: Path) -> dict[str, dict[str, list[int]]]:
    """module → {imported own module: [line numbers]}, from every import in the file, inside functions too."""
    mods = {p.stem for p in pkg_dir.glob("*.py") if p.stem != "__init__"}
    edges: dict[str, dict[str, list[int]]] = {}
    for p in sorted(pkg_dir.glob("*.py")):
        if p.stem == "__init__":
            continue
        found: dict[str, list[int]] = {}
        for node in ast.walk(ast.parse(p.read_text(encoding="utf-8"))):
            targets: list[str] = []
            if isinstance(node, ast.ImportFrom) and node.level:
                targets = [node.module.split(".")[0]] if node.module else [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("workbench."):
                targets = [node.module.split(".")[1]]
            elif isinstance(node, ast.Import):
                targets = [a.name.split(".")[1] for a in node.names if a.name.startswith("workbench.")]
            for t in targets:
                if t in mods and t != p.stem:
                    found.setdefault(t, []).append(node.lineno)
        edges[p.stem] = found
    return edges


def find_cycles(edges: dict[str, dict]) -> list[list[str]]:
    """Every cycle's members (strongly connected components of more than one module)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    out: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in edges.get(v, {}):
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

    for v in sorted(edges):
        if v not in index:
            visit(v)
    return out


def test_the_cycle_finder_finds_a_cycle_hidden_in_a_function(tmp_path):
    (tmp_path / "a.py").write_text("from .b import x\n")
    (tmp_path / "b.py").write_text("def f():\n    from .c import y\n")
    (tmp_path / "c.py").write_text("import workbench.a\n")
    (tmp_path / "d.py").write_text("from .a import z\n")
    assert find_cycles(own_imports(tmp_path)) == [["a", "b", "c"]]


def test_the_package_has_no_import_cycles():
    cycles = find_cycles(own_imports(REPO_PKG))
    assert cycles == [], f"import cycles between workbench modules: {cycles}"
