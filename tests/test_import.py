"""`import workbench` is cheap and works without torch or funasr installed."""

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
        import workbench, workbench.audio.intake, workbench.model.network, workbench.runs.outputs, workbench.cli, workbench.labels
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
