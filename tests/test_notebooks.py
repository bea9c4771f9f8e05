"""Every notebook and report template executed headless on the demo data, as CI must."""

from __future__ import annotations

import json
import os

import nbformat
import pytest

from conftest import REPO
from workbench.cli import main

pytestmark = pytest.mark.notebook
NOTEBOOKS = sorted((REPO / "notebooks").glob("*.ipynb"))


def test_notebooks_are_committed_without_outputs_and_with_one_parameters_cell():
    assert len(NOTEBOOKS) == 6
    for path in NOTEBOOKS + sorted((REPO / "notebooks" / "templates").glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        code = [c for c in nb.cells if c.cell_type == "code"]
        assert all(not c.outputs and c.execution_count is None for c in code), path.name
        assert sum("parameters" in c.metadata.get("tags", []) for c in code) == 1, path.name


@pytest.mark.parametrize("path", NOTEBOOKS, ids=[p.stem for p in NOTEBOOKS])
def test_notebook_runs_headless_on_the_demo_data(path, tmp_path, monkeypatch):
    import papermill as pm

    monkeypatch.setenv("WORKBENCH_MODEL", "tiny")
    out = tmp_path / path.name
    pm.execute_notebook(str(path), str(out), kernel_name="python3", progress_bar=False, cwd=str(REPO / "notebooks"))
    nb = nbformat.read(out, as_version=4)
    last = [c for c in nb.cells if c.cell_type == "code"][-1]
    assert last.outputs, f"{path.name}: the last cell shows nothing"
    kinds = {k for o in last.outputs for k in o.get("data", {})}
    assert kinds & {"application/vnd.jupyter.widget-view+json", "text/markdown", "image/png"}, kinds


def test_experiment_report_command_writes_a_self_contained_html(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("WORKBENCH_MODEL", "tiny")
    assert main(["report", "experiment_report", "--out", str(tmp_path / "reports"), "-p", "title=Demo check"]) == 0
    out = capsys.readouterr().out
    assert out.startswith("!! RANDOM WEIGHTS") and "self-contained" in out
    (folder,) = list((tmp_path / "reports" / "experiment_report").iterdir())
    html = (folder / "experiment_report.html").read_text(encoding="utf-8")
    assert "RANDOM WEIGHTS" in html[:3000]  # said at the top
    assert "Demo check" in html and "UAR" in html and "data:image/png;base64," in html and "<audio" in html
    assert "src=\"http" not in html and "src='http" not in html and "href=\"http" not in html and "<script src" not in html
    metrics = json.loads((folder / "metrics.json").read_text())
    assert metrics["random_weights"] is True and "raw" in metrics["metrics"]
    assert (folder / "experiment_report.ipynb").is_file()


def test_variant_comparison_template(tmp_path, monkeypatch):
    from workbench.reporting import run_report

    monkeypatch.setenv("WORKBENCH_MODEL", "tiny")
    paths = run_report("variant_comparison", {"sweep_kind": "trim"}, out=tmp_path)
    html = paths["html"].read_text(encoding="utf-8")
    assert "McNemar" in html and "trim sweep" in html and "telephone" in html
    m = json.loads(paths["metrics"].read_text())
    assert [c["variant"] for c in m["comparison"]["comparisons"]] == ["telephone", "trim_20db"]
    assert len(m["sweep"]["points"]) == 6


def test_unknown_template_and_bad_param_are_usage_errors(capsys):
    assert main(["report", "nope"]) == 2
    assert "unknown report template 'nope'" in capsys.readouterr().err
    assert main(["report", "experiment_report", "-p", "oops"]) == 2
    assert "key=value" in capsys.readouterr().err
