#!/usr/bin/env python3
"""Write the notebooks in this folder, and the report templates in workbench/templates/, from the cell lists below.

The notebooks are thin: one ``parameters`` cell (papermill), ``import workbench as wb`` and calls into its public
names (``tests/test_notebooks.py`` checks that they use nothing else).  The package is found by import (install it
with ``make demo`` or ``pip install .``), never by climbing folders; what a notebook makes goes to ``runs/`` beside
the notebook.  Edit here, then run ``python notebooks/make_notebooks.py``: the committed notebooks and templates
are exactly what it writes (cell ids included; a test regenerates them and compares), without outputs.
"""

from __future__ import annotations

import sys
from pathlib import Path

import nbformat
from nbformat.v4 import new_code_cell, new_markdown_cell, new_notebook

HERE = Path(__file__).resolve().parent
TEMPLATE_DIR = HERE.parent / "workbench" / "templates"

SETUP = """import pathlib
import workbench as wb  # the installed package: `make demo` or `pip install .` installs it
_ = wb.route_logs()  # library log lines and warnings go to the log file, not into the notebook
DEMO = wb.DEMO_DATA  # the shipped demo clips
RUNS = pathlib.Path.cwd() / 'runs'  # what this notebook makes goes beside it"""

TELEPHONE = "[wb.Variant('raw'), wb.Variant('telephone', ({'name': 'telephone'},))]"


def _finish(book: nbformat.NotebookNode, name: str) -> nbformat.NotebookNode:
    for i, cell in enumerate(book.cells):
        cell.id = f"{name.replace('_', '-')}-{i}"  # stable ids: regenerating changes nothing
    book.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    book.metadata["language_info"] = {"name": "python"}
    return book


def _cells(cells: list[str]) -> list:
    return [new_markdown_cell(c[3:]) if c.startswith("## ") else new_code_cell(c) for c in cells]


def nb(name: str, title: str, intro: str, params: str, cells: list[str]) -> nbformat.NotebookNode:
    p = new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    return _finish(new_notebook(cells=[new_markdown_cell(f"# {title}\n\n{intro}"), p, new_code_cell(SETUP)] + _cells(cells)), name)


NOTEBOOKS = {
    "01_conversion_trimming": (
        "Conversion and trimming", "Did intake or trimming cut the onset? Pick a chain; removed regions are shaded.",
        "path = None  # an audio file; default: a demo clip whose speech starts at sample 0",
        ["view = wb.TrimmingInspector(path or DEMO / 'happy_zh_onset0.wav')\nview"]),
    "02_sample_rate_effects": (
        "Sample-rate effects", "Does 8 kHz or telephone audio make the model unsure? Pick a source rate, a resampler, the telephone channel.",
        "path = None  # an audio file; default: the 44.1 kHz demo clip\nmodel = None  # hub id, checkpoint folder or 'tiny' (default: as make demo chooses)",
        ["view = wb.SampleRateExplorer(path or DEMO / 'happy_en_44k.wav', model=wb.choose_model(model)[0])\nview"]),
    "03_low_confidence_cases": (
        "Low-confidence cases", "Filter a run's items by confidence, finding, label, variant or speaker, and open one: you hear and see "
        "the audio exactly as it was scored (its variant's chain, its segment) beside its stored scores. "
        "Below, the embedding map: click a point to open that item in the browser.",
        "run_dir = None  # a run folder; default: the demo set under raw and telephone, run into runs/demo_low_confidence\nmodel = None  # for the default run: hub id, checkpoint folder or 'tiny' (default: as make demo chooses)",
        [f"run_dir = run_dir or wb.demo_run(RUNS / 'demo_low_confidence', model, {TELEPHONE})\n"
         "browser = wb.LowConfidenceBrowser(run_dir)\nbrowser",
         "wb.EmbeddingMap(run_dir, browser=browser)"]),
    "04_misclassifications": (
        "Misclassifications", "Click a cell of the confusion matrix to list its items; compare two variants' flips.",
        "run_dir = None  # a run folder with two or more variants; default: the demo set under raw and telephone\nmodel = None  # for the default run: hub id, checkpoint folder or 'tiny' (default: as make demo chooses)",
        [f"run_dir = run_dir or wb.demo_run(RUNS / 'demo_variants', model, {TELEPHONE})\n"
         "wb.ConfusionExplorer(run_dir)",
         "wb.VariantDiff(run_dir)"]),
    "05_long_audio": (
        "Long audio", "Segment a long recording by voice activity; click a span of the merged timeline (or a point of the heatmap) to play it.",
        "path = None  # a long recording; default: the demo clips joined with pauses\nsegment_dir = None  # or an existing `workbench segment` folder (then path is not read)\nmodel = None  # for segmenting path: hub id, checkpoint folder or 'tiny' (default: as make demo chooses)",
        ["import numpy as np, soundfile as sf\n"
         "if segment_dir is None:\n"
         "    if path is None:\n"
         "        clips = [wb.load_audio(p).samples for p in sorted(DEMO.glob('*.wav')) if 'tone' not in p.name]\n"
         "        pause = np.zeros(24000, np.float32)\n"
         "        path = RUNS / 'demo_long.wav'\n"
         "        path.parent.mkdir(parents=True, exist_ok=True)\n"
         "        sf.write(path, np.concatenate([x for c in clips for x in (c, pause)]), wb.SAMPLE_RATE)\n"
         "    segment_dir = wb.segment_file(path, model=wb.choose_model(model)[0], out_dir=RUNS / 'demo_long_segments').out_dir\n"
         "wb.LongAudioTimeline(segment_dir)"]),
    "06_fusion": (
        "Speech + text fusion", "Speech-only, text-only, early and late fusion under speaker-independent cross-validation.",
        "run_dir = None  # a run whose manifest has text and speaker columns; default: the demo set\ntext_model = None  # sentence-transformers name or folder",
        ["run_dir = run_dir or wb.demo_run(RUNS / 'demo_notebook')\n"
         "fusion = wb.reporting.fusion_section(run_dir, text_model, heading=False)  # the page's title names the section"]),
}

# Report templates (package data in workbench/templates/, run by `workbench report`): no title cell — the
# first section shows the random-weights banner, then the title; the first call routes library logs to report.log;
# no cell ends in a bare expression (its value would show in the report).
REPORT_SETUP = "from pathlib import Path\nimport workbench as wb\nR = wb.reporting  # the report sections\nR.setup_report(report_dir)"


def template(name: str, params: str, cells: list[str]) -> nbformat.NotebookNode:
    p = new_code_cell(params)
    p.metadata["tags"] = ["parameters"]
    return _finish(new_notebook(cells=[p, new_code_cell(REPORT_SETUP)] + _cells(cells)), name)


TEMPLATES = {
    "experiment_report": (
        "# Experiment report: metrics with intervals, confusion, calibration, breakdowns, worst cases and findings of one run.\n"
        "run_dir = None  # a finished run folder; default: the demo set is run into the report folder\n"
        "model = None  # for the default run: hub id, checkpoint folder or 'tiny' (default: as `make demo` chooses)\n"
        "title = 'Experiment report'\n"
        "fusion = False  # the speech+text fusion section: trains a text model per fold, most of the report time (default: left out, said in the page)\n"
        "report_dir = '.'  # set by `workbench report`",
        ["run_dir = run_dir or R.demo_run(Path(report_dir) / 'run', model)\n"
         "summary = R.header(run_dir, title, 'Metrics with intervals, confusion, calibration, breakdowns, worst cases and findings of one run.')",
         "metrics = R.metrics_section(run_dir)",
         "listeners = R.listeners_section(run_dir)  # only when the manifest carries listener judgements",
         "calibration = R.calibration_section(run_dir)",
         "R.worst_cases(run_dir)",
         "findings = R.findings_summary(run_dir)",
         "fusion = R.fusion_section(run_dir) if R.flag('fusion', fusion) else R.fusion_skipped(run_dir)",
         "R.write_metrics(report_dir, {'run_dir': R.published_path(run_dir), 'random_weights': bool(summary.get('random_weights')),\n"
         "                             'model': summary.get('model', {}).get('id'), 'metrics': metrics, 'calibration': calibration,\n"
         "                             'findings': findings, 'fusion': fusion, 'listeners': listeners})"]),
    "variant_comparison": (
        "# Variant comparison: Δ metrics with paired intervals, McNemar, flips and a sweep curve.\n"
        "run_dir = None  # a run folder with variants; default: the demo set under raw, telephone and trim\n"
        "baseline = None  # the variant the others are compared with; default: raw, else the run's first\n"
        "sweep_path = None  # a file for the sweep; default: the 44.1 kHz demo clip\n"
        "sweep_kind = 'sample-rate'  # what the sweep varies: sample-rate, trim, snr, denoise, pitch or tempo (as `workbench sweep --kind`)\n"
        "model = None  # for the default runs (default: as `make demo` chooses)\n"
        "title = 'Variant comparison'\nreport_dir = '.'  # set by `workbench report`",
        ["variants = [wb.Variant('raw'), wb.Variant('telephone', ({'name': 'telephone'},)), wb.Variant('trim_20db', ({'name': 'trim', 'top_db': 20},))]\n"
         "run_dir = run_dir or R.demo_run(Path(report_dir) / 'run', model, variants)\n"
         "summary = R.header(run_dir, title, 'Δ metrics with paired intervals, McNemar, flips and a sweep curve.',\n"
         "                   template='variant_comparison', baseline=baseline, sweep_kind=sweep_kind, sweep_path=sweep_path, model=model)",
         "comparison = R.comparison_section(run_dir, baseline)",
         "sweep = R.sweep_section(sweep_path or R.demo_clip('happy_en_44k.wav'), sweep_kind, Path(report_dir) / 'sweep', R.sweep_model(run_dir, model),\n"
         "                  chosen=sweep_path is not None)",
         "R.write_metrics(report_dir, {'run_dir': R.published_path(run_dir), 'random_weights': bool(summary.get('random_weights')),\n"
         "                             'comparison': comparison, 'sweep': sweep})"]),
    "checkpoint_comparison": (
        "# Checkpoint comparison: runs of one manifest (other checkpoints, precisions or engines) compared row by row: metrics with\n"
        "# intervals, paired deltas and McNemar against the first run, agreement (Cohen's kappa, top-1 agreement, score distances,\n"
        "# embedding cosines), the items where the runs disagree most, and a linear probe on each run's frozen embeddings.\n"
        "run_dirs = None  # run folders of one manifest, comma-separated or a list (relative paths start where `workbench report` runs); "
        "default: the demo set in float32, bfloat16 and with a second random checkpoint\n"
        "variant = None  # the variant to pair; default: every variant the runs share\n"
        "probe_scheme = 'speaker'  # the fold scheme (as --scheme): speaker, session, emobox or split; None skips the probe\n"
        "probe_target = None  # emotion (nine-class counterpart) or label (the corpus's own labels); default: label where a run is "
        "a fine-tuned head of another run (its emotion column holds the head's classes, its parent's the nine), else emotion\n"
        "probe_folds = 5  # the number of folds (as --folds) of the speaker scheme; was probe_k\n"
        "n_boot = 1000  # bootstrap resamples for every interval\n"
        "top = 10  # most different items listed per run pair\n"
        "model = None  # for the default demo runs\n"
        "title = 'Checkpoint comparison'\n"
        "report_dir = '.'  # set by `workbench report`",
        ["from IPython.display import HTML, display\n"
         "if not run_dirs:  # the demo set in float32 and bfloat16 (autocast)\n"
         "    chosen = wb.choose_model(model)[0]\n"
         "    run_dirs = [wb.run(wb.demo_manifest(), out_dir=Path(report_dir) / 'run_float32', model=chosen).run_dir,\n"
         "                wb.run(wb.demo_manifest(), out_dir=Path(report_dir) / 'run_bfloat16', model=wb.ModelRef(chosen, dtype='bfloat16')).run_dir]\n"
         "    if chosen == 'tiny':  # a second random checkpoint of the same shape stands in for another checkpoint\n"
         "        run_dirs.append(wb.run(wb.demo_manifest(), out_dir=Path(report_dir) / 'run_seed1', model=R.random_checkpoint('tiny', seed=1)).run_dir)\n"
         "run_dirs = [d.strip() for d in run_dirs.split(',')] if isinstance(run_dirs, str) else [str(d) for d in run_dirs]\n"
         "cmp = wb.compare_runs(run_dirs, variants=[variant] if variant else None, n_boot=n_boot)\n"
         "display(HTML(cmp.html(top=top, title=title)))",
         "R.show_figure(R.plot_runs_comparison(cmp), random_weights=cmp.random_weights, overlap=cmp.training_overlap)",
         "## The item where each pair of runs differs most: both predictions, both score vectors and the audio as it was scored. "
         "Open this page's notebook (`checkpoint_comparison.ipynb`, beside it) in JupyterLab to see more: there "
         "`wb.LowConfidenceBrowser(row.run_dir_a).select(row.id, row.variant)` opens any row of `cmp.disagreements(top)` "
         "(`cmp`: the comparison made above) in the browser, and `R.show_item(cmp.disagreements(top), i)` "
         "(`R = wb.reporting`) shows row `i`.",
         "for _, row in cmp.disagreements(1).iterrows():\n    display(*R.show_item(row))",
         "probes = {}\n"
         "if probe_target is None:  # the corpus's labels are the one target a head and its parent share (the parent's emotion\n"
         "    # column is empty for a head's own classes: its probe was 'not evaluated' beside the head's, said to repeat it)\n"
         "    probe_target = 'label' if any(R.shared_encoder_note(cmp.runs, r['name']) for r in cmp.runs) else 'emotion'\n"
         "for r in (cmp.runs if probe_scheme else []):\n"
         "    fragment, probes[r['name']] = R.probe_section(r['run_dir'], scheme=probe_scheme, folds=probe_folds, target=probe_target, n_boot=n_boot)\n"
         "    note = R.shared_encoder_note(cmp.runs, r['name'])  # a head-only fine-tune's probe is its parent's: one frozen encoder\n"
         "    if note and probes[r['name']]:\n"
         "        probes[r['name']]['shared_encoder'] = note\n"
         "    display(HTML(f\"<h3>Probe on run {R.esc(r['name'])}</h3>\" + (f'<p><b>Note:</b> {R.esc(note)}.</p>' if note else '') + fragment))",
         "R.write_metrics(report_dir, {'run_dirs': [r['run_dir'] for r in cmp.runs], 'random_weights': cmp.random_weights,\n"
         "                             'comparison': cmp.to_dict(), 'probes': probes})"]),
}


def books() -> dict[Path, nbformat.NotebookNode]:
    """Every notebook and template this script writes, by its path."""
    out = {HERE / f"{name}.ipynb": nb(name, *spec) for name, spec in NOTEBOOKS.items()}
    out.update({TEMPLATE_DIR / f"{name}.ipynb": template(name, *spec) for name, spec in TEMPLATES.items()})
    return out


def render(book: nbformat.NotebookNode) -> str:
    """The file's text exactly as written (``nbformat.writes`` plus the final newline ``nbformat.write`` adds)."""
    return nbformat.writes(book) + "\n"


def main(argv: list[str] | None = None) -> int:
    check = "--check" in (argv if argv is not None else sys.argv[1:])
    stale = []
    for path, book in books().items():
        text = render(book)
        if check:
            if not path.is_file() or path.read_text(encoding="utf-8") != text:
                stale.append(path.name)
        else:
            path.write_text(text, encoding="utf-8")
    if check:
        print("stale: " + ", ".join(stale) if stale else "every notebook and template is what this script writes")
        return 1 if stale else 0
    print(f"wrote {len(NOTEBOOKS)} notebooks and {len(TEMPLATES)} templates")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
