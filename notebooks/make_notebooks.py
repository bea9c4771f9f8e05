#!/usr/bin/env python3
"""Write the notebooks in this folder, and the report templates in workbench/templates/, from the cell lists below.

The notebooks are thin: one ``parameters`` cell (papermill) and calls into
``workbench``.  Edit here, then run ``python notebooks/make_notebooks.py``;
the committed notebooks carry no outputs.
"""

from __future__ import annotations

from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent

SETUP = """import sys, pathlib
root = pathlib.Path.cwd()  # outputs go under root / 'runs': the repository when inside it, else this folder
for up in (root, *root.parents):
    if (up / "workbench" / "__init__.py").is_file() and (up / "pyproject.toml").is_file():
        root = up
        sys.path.insert(0, str(root))  # the repository, when the package is not installed
        break
import workbench
DEMO = pathlib.Path(workbench.__file__).parent / "demo_data"  # the shipped demo clips
from workbench.logs import route_logs
_ = route_logs()  # library log lines and warnings go to the log file, not into the notebook"""


def nb(title: str, intro: str, params: str, cells: list[str]) -> nbformat.NotebookNode:
    p = new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[new_markdown_cell(f"# {title}\n\n{intro}"), p, new_code_cell(SETUP)] + [
        new_markdown_cell(c[3:]) if c.startswith("## ") else new_code_cell(c) for c in cells])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


NOTEBOOKS = {
    "01_conversion_trimming": nb(
        "Conversion and trimming", "Did intake or trimming cut the onset? Pick a chain; removed regions are shaded.",
        "path = None  # an audio file; default: a demo clip whose speech starts at sample 0",
        ["from workbench.views.widgets import TrimmingInspector\n"
         "view = TrimmingInspector(path or DEMO / 'happy_zh_onset0.wav')\nview"]),
    "02_sample_rate_effects": nb(
        "Sample-rate effects", "Does 8 kHz or telephone audio make the model unsure? Pick a source rate, a resampler, the telephone channel.",
        "path = None  # an audio file; default: the 44.1 kHz demo clip\nmodel = None  # hub id, checkpoint folder or 'tiny' (default: as make demo chooses)",
        ["from workbench.demo import choose_model\nfrom workbench.views.widgets import SampleRateExplorer\n"
         "view = SampleRateExplorer(path or DEMO / 'happy_en_44k.wav', model=choose_model(model)[0])\nview"]),
    "03_low_confidence_cases": nb(
        "Low-confidence cases", "Filter a run's items by confidence, finding, label, variant or speaker, and open one: you hear and see "
        "the audio exactly as it was scored (its variant's chain, its segment) beside its stored scores. "
        "Below, the embedding map: click a point to open that item in the browser.",
        "run_dir = None  # a run folder; default: the demo set under raw and telephone, run into runs/demo_low_confidence\nmodel = None",
        ["from workbench.views.reporting import demo_run\nfrom workbench.runs.driver import Variant\nfrom workbench.views.widgets import EmbeddingMap, LowConfidenceBrowser\n"
         "run_dir = run_dir or demo_run(root / 'runs' / 'demo_low_confidence', model, [Variant('raw'), Variant('telephone', ({'name': 'telephone'},))])\n"
         "browser = LowConfidenceBrowser(run_dir)\nbrowser",
         "EmbeddingMap(run_dir, browser=browser)"]),
    "04_misclassifications": nb(
        "Misclassifications", "Click a cell of the confusion matrix to list its items; compare two variants' flips.",
        "run_dir = None  # a run folder with two or more variants; default: the demo set under raw and telephone\nmodel = None",
        ["from workbench.views.reporting import demo_run\nfrom workbench.runs.driver import Variant\nfrom workbench.views.widgets import ConfusionExplorer, VariantDiff\n"
         "run_dir = run_dir or demo_run(root / 'runs' / 'demo_variants', model, [Variant('raw'), Variant('telephone', ({'name': 'telephone'},))])\n"
         "ConfusionExplorer(run_dir)",
         "VariantDiff(run_dir)"]),
    "05_long_audio": nb(
        "Long audio", "Segment a long recording by voice activity; click a span of the merged timeline (or a point of the heatmap) to play it.",
        "path = None  # a long recording; default: the demo clips joined with pauses\nsegment_dir = None  # or an existing `workbench segment` folder\nmodel = None",
        ["import numpy as np, soundfile as sf\nfrom workbench.audio.intake import load\nfrom workbench.demo import choose_model\n"
         "from workbench.runs.longform import segment_file\nfrom workbench.views.widgets import LongAudioTimeline\n"
         "if segment_dir is None:\n"
         "    if path is None:\n"
         "        clips = [load(p).samples for p in sorted(DEMO.glob('*.wav')) if 'tone' not in p.name]\n"
         "        pause = np.zeros(24000, np.float32)\n"
         "        path = root / 'runs' / 'demo_long.wav'\n"
         "        path.parent.mkdir(parents=True, exist_ok=True)\n"
         "        sf.write(path, np.concatenate([x for c in clips for x in (c, pause)]), 16000)\n"
         "    segment_dir = segment_file(path, model=choose_model(model)[0], out_dir=root / 'runs' / 'demo_long_segments').out_dir\n"
         "LongAudioTimeline(segment_dir)"]),
    "06_fusion": nb(
        "Speech + text fusion", "Speech-only, text-only, early and late fusion under speaker-independent cross-validation.",
        "run_dir = None  # a run whose manifest has text and speaker columns; default: the demo set\ntext_model = None  # sentence-transformers name or folder",
        ["from workbench.views.reporting import demo_run, fusion_section\n"
         "run_dir = run_dir or demo_run(root / 'runs' / 'demo_notebook')\n"
         "fusion = fusion_section(run_dir, text_model)"]),
}

# Report templates (package data in workbench/templates/, run by `workbench report`): no title cell — the
# first section shows the random-weights banner, then the title; the first call routes library logs to report.log;
# no cell ends in a bare expression (its value would show in the report).
TEMPLATE_DIR = HERE.parent / "workbench" / "templates"


def template(params: str, cells: list[str]) -> nbformat.NotebookNode:
    p = new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    book = new_notebook(cells=[p] + [new_code_cell(c) for c in cells])
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


TEMPLATES = {
    "experiment_report": template(
        "# Experiment report: metrics with intervals, confusion, calibration, breakdowns, worst cases and findings of one run.\n"
        "run_dir = None  # a finished run folder; default: the demo set is run into the report folder\n"
        "model = None  # for the default run: hub id, checkpoint folder or 'tiny' (default: as `make demo` chooses)\n"
        "title = 'Experiment report'\nreport_dir = '.'  # set by `workbench report`",
        ["from pathlib import Path\nfrom workbench import reporting as R\nR.setup_report(report_dir)",
         "run_dir = run_dir or R.demo_run(Path(report_dir) / 'run', model)\n"
         "summary = R.header(run_dir, title, 'Metrics with intervals, confusion, calibration, breakdowns, worst cases and findings of one run.')",
         "metrics = R.metrics_section(run_dir)",
         "calibration = R.calibration_section(run_dir)",
         "R.worst_cases(run_dir)",
         "findings = R.findings_summary(run_dir)",
         "fusion = R.fusion_section(run_dir)",
         "R.write_metrics(report_dir, {'run_dir': str(run_dir), 'random_weights': bool(summary.get('random_weights')),\n"
         "                             'model': summary.get('model', {}).get('id'), 'metrics': metrics, 'calibration': calibration,\n"
         "                             'findings': findings, 'fusion': fusion})"]),
    "variant_comparison": template(
        "# Variant comparison: Δ metrics with paired intervals, McNemar, flips and a sweep curve.\n"
        "run_dir = None  # a run folder with variants; default: the demo set under raw, telephone and trim\nbaseline = None\n"
        "sweep_path = None  # a file for the sweep; default: the 44.1 kHz demo clip\nsweep_kind = 'sample-rate'\n"
        "model = None  # for the default runs (default: as `make demo` chooses)\n"
        "title = 'Variant comparison'\nreport_dir = '.'  # set by `workbench report`",
        ["from pathlib import Path\nfrom workbench import reporting as R\nfrom workbench.runs.driver import Variant\nR.setup_report(report_dir)",
         "variants = [Variant('raw'), Variant('telephone', ({'name': 'telephone'},)), Variant('trim_20db', ({'name': 'trim', 'top_db': 20},))]\n"
         "run_dir = run_dir or R.demo_run(Path(report_dir) / 'run', model, variants)\n"
         "summary = R.header(run_dir, title, 'Δ metrics with paired intervals, McNemar, flips and a sweep curve.')",
         "comparison = R.comparison_section(run_dir, baseline)",
         "sweep = R.sweep_section(sweep_path or R.demo_clip('happy_en_44k.wav'), sweep_kind, Path(report_dir) / 'sweep', R.choose_model(model)[0])",
         "R.write_metrics(report_dir, {'run_dir': str(run_dir), 'random_weights': bool(summary.get('random_weights')),\n"
         "                             'comparison': comparison, 'sweep': sweep})"]),
}

def main() -> None:
    TEMPLATE_DIR.mkdir(exist_ok=True)
    for name, book in NOTEBOOKS.items():
        nbformat.write(book, HERE / f"{name}.ipynb")
    for name, book in TEMPLATES.items():
        nbformat.write(book, TEMPLATE_DIR / f"{name}.ipynb")
    print(f"wrote {len(NOTEBOOKS)} notebooks and {len(TEMPLATES)} templates")


if __name__ == "__main__":
    main()
