"""`make docs`: pdoc builds the API reference from the docstrings without an error or a warning."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent


@pytest.mark.slow
@pytest.mark.skipif(shutil.which("make") is None, reason="make is not installed")
def test_make_docs_builds_every_module(tmp_path):
    pytest.importorskip("pdoc")
    stamp = tmp_path / "installed"
    stamp.touch()  # newer than pyproject.toml: the Makefile's install step counts as done
    os.utime(stamp, (os.path.getmtime(REPO / "pyproject.toml") + 1,) * 2)
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    proc = subprocess.run(["make", "-s", "docs", f"PY={sys.executable}", f"STAMP={stamp}", f"DOCS_OUT={tmp_path / 'api'}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr
    assert "Warn" not in proc.stderr and "Error" not in proc.stderr, proc.stderr
    api = tmp_path / "api"
    pkg = REPO / "workbench"
    # one page per module, in the folders of its subpackage; a subpackage has a page of its own too
    modules = {str(p.relative_to(pkg).with_suffix("")).removesuffix("/__init__") for p in pkg.rglob("*.py")} - {"__init__"}
    # pdoc documents no __main__ module (importing one runs the program)
    modules = {m for m in modules if not m.startswith(("templates", "demo_data")) and not m.endswith("__main__")}
    assert {str(p.relative_to(api / "workbench").with_suffix("")) for p in (api / "workbench").rglob("*.html")} == modules
    # the names the README's examples use are documented with their docstrings
    top = (api / "workbench.html").read_text(encoding="utf-8")
    assert "load_model" in top and "Emotion2vecModel" in top
    runfolder = (api / "workbench" / "runs" / "folder.html").read_text(encoding="utf-8")
    assert "RunFolder" in runfolder and "scored_audio" in runfolder and "as_run_folder" in runfolder
    metrics = (api / "workbench" / "analysis" / "metrics.html").read_text(encoding="utf-8")
    assert "evaluate" in metrics and "calibration_curve" in metrics
    assert (api / "index.html").is_file() and (api / "search.js").is_file()


def test_readme_layout_lists_every_module():
    """The README's package tree names every module and subpackage, so the layout it shows is the real one."""
    readme = (REPO / "README.md").read_text(encoding="utf-8")
    tree = readme.split("## Layout", 1)[1]
    pkg = REPO / "workbench"
    missing = [str(p.relative_to(pkg)) for p in sorted(pkg.rglob("*.py"))
               if p.name != "__init__.py" and "templates" not in p.parts and f" {p.name} " not in tree]
    missing += [p.parent.name + "/" for p in sorted(pkg.glob("*/__init__.py")) if f" {p.parent.name}/ " not in tree]
    assert not missing, f"README's Layout section does not list {missing}"


def test_readme_layout_lists_each_top_level_module_at_the_top_level():
    """A name listed anywhere in the tree passed for a module at the top: ``workbench/__main__.py`` (``python -m
    workbench``) counted as listed through ``cli/__main__.py``, four spaces in."""
    tree = (REPO / "README.md").read_text(encoding="utf-8").split("## Layout", 1)[1]
    top = {line[2:].split(" ", 1)[0] for line in tree.splitlines() if line.startswith("  ") and not line.startswith("   ")}
    missing = [p.name for p in sorted((REPO / "workbench").glob("*.py")) if p.name != "__init__.py" and p.name not in top]
    assert not missing, f"README's Layout section does not list {missing} at the top of workbench/"


def test_every_kept_example_is_linked_from_the_readme_and_every_link_to_one_exists():
    """reports/examples/ is what git keeps of reports/ as examples; explain_cue_angry.png sat there, made by an older
    explain and named nowhere, so nobody could tell what it showed or that it was stale.  Each kept example is linked
    from the README (and described in reports/README.md), and each linked one exists."""
    import re

    readme = (REPO / "README.md").read_text(encoding="utf-8")
    described = (REPO / "reports" / "README.md").read_text(encoding="utf-8")
    kept = sorted(p.name for p in (REPO / "reports" / "examples").iterdir() if p.is_file())
    linked = set(re.findall(r"reports/examples/([\w.-]+)", readme))
    assert [k for k in kept if k.endswith(".png") and k not in linked] == [], "kept figures that the README does not link"
    assert [k for k in kept if k not in described] == [], "kept examples that reports/README.md does not describe"
    assert sorted(linked - set(kept)) == [], "README links to examples that are not kept"
