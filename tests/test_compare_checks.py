"""A comparison's intervals carry the checks ``workbench metrics`` makes: zero width, classes under 5 items."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
from test_compare_flips import _rows
from test_probe import synthetic_row, write_run

from workbench.analysis.compare import compare_results, compare_runs, plot_comparison, plot_runs_comparison
from workbench.analysis.finetune.core import _figures, _flag_lines
from workbench.analysis.finetune.evaluate import scores
from workbench.analysis.fusion import FusionData, evaluate_fusion, plot_fusion
from workbench.analysis.groups import zero_width_note
from workbench.cli import main


def _always_wrong(variant, n=12):
    emotions = ["angry", "sad"] * (n // 2)
    return _rows(variant, ["neutral"] * n, emotions)


def test_zero_width_intervals_are_flagged_in_a_comparison(capsys):
    # every prediction wrong and the two variants identical: WA 0.000 [0.000, 0.000], ΔWA +0.000 [+0.000, +0.000], unflagged
    df = pd.DataFrame(_always_wrong("raw") + _always_wrong("loud"))
    reports, (c,), _ = compare_results(df, baseline="raw", n_boot=50)
    for r in reports.values():
        zero = {k for k, (lo, hi) in r.ci.items() if lo == hi}
        assert zero and set(r.interval_flags()) == zero
    assert {k for k, d in (("delta_wa", c.delta_wa), ("delta_uar", c.delta_uar), ("confidence_shift", (0, *c.confidence_shift_ci)))
            if d[1] == d[2]} == set(c.interval_flags()) != set()
    assert c.interval_flags()["delta_wa"] == zero_width_note(c.delta_wa[1], c.delta_wa[2], c.n_paired)
    assert "!! ΔWA, ΔUAR: zero-width interval" in c.render() and c.to_dict()["interval_flags"] == c.interval_flags()
    assert "zero-width" in plot_comparison(df, c).axes[1].get_title()
    # a comparison with something to resample says nothing of the kind
    mixed = pd.DataFrame(_rows("raw", ["angry", "sad", "sad", "angry"] * 3, ["angry", "sad"] * 6)
                         + _rows("loud", ["angry", "angry", "sad", "sad"] * 3, ["angry", "sad"] * 6))
    reports, (m,), _ = compare_results(mixed, baseline="raw", n_boot=200)
    # (these synthetic rows score every item with the same confidence under both variants: the shift is 0 for all)
    assert set(m.interval_flags()) == {"confidence_shift"} and "all 12 paired items shift by the same" in m.render()
    assert "ΔWA: zero-width" not in m.render() and "ΔUAR: zero-width" not in m.render()
    assert not any(r.interval_flags() for r in reports.values())


def test_compare_command_says_the_zero_width_flag_on_screen_and_in_json(tmp_path, capsys):
    rows = [{**synthetic_row(r["id"], emotion=r["emotion"], pred="neutral", variant=r["variant"])} for r in
            _always_wrong("raw") + _always_wrong("loud")]
    rf = write_run(tmp_path / "run", rows, [np.ones(4)] * len(rows))
    assert main(["compare", str(rf.path), "--bootstrap", "50", "--no-figures", "--out", str(tmp_path / "c")]) == 0
    out = capsys.readouterr().out
    assert "!! WA, UAR, macro-F1: zero-width interval [0.000, 0.000]" in out and "!! ΔWA, ΔUAR: zero-width interval" in out
    assert main(["compare", str(rf.path), "--bootstrap", "50", "--no-figures", "--out", str(tmp_path / "c2"), "--json"]) == 0
    d = json.loads(capsys.readouterr().out)
    assert "zero-width" in d["metrics"]["raw"]["flags"]["wa"] and "zero-width" in d["comparisons"][0]["interval_flags"]["delta_uar"]
    saved = json.loads((tmp_path / "c2" / "compare.json").read_text())
    assert "zero-width" in saved["metrics"]["loud"]["flags"]["uar"]
    # between runs: the screen and comparison.json
    other = write_run(tmp_path / "other", rows, [np.ones(4)] * len(rows), dtype="int8")
    cmp = compare_runs([rf, other], n_boot=50)
    assert "!! WA, UAR, macro-F1: zero-width interval" in cmp.render() and "!! ΔWA, ΔUAR: zero-width interval" in cmp.render()
    assert "zero-width" in cmp.to_dict()["metrics"]["B"]["raw"]["flags"]["wa"]
    assert "zero-width" in cmp.html() and "zero-width" in plot_runs_comparison(cmp).axes[0].get_title()


def test_finetune_figures_flag_a_zero_width_interval():
    """The figures' line and their checks' lines, from scores() itself (the checks travel as its ``flags``)."""
    truth = np.array(["a"] * 10 + ["b"] * 10)
    all_wrong = scores(truth, truth[::-1], ["a", "b"], n_boot=50, seed=0)  # every resample scores 0
    assert "UAR 0.000 [0.000, 0.000]" in _figures(all_wrong)
    assert any("zero-width" in line for line in _flag_lines(all_wrong, ""))
    half = scores(truth, np.array(["a", "b"] * 10), ["a", "b"], n_boot=50, seed=0)
    assert not any("zero-width" in line for line in _flag_lines(half, ""))


def test_fusion_flags_a_class_with_fewer_than_5_items():
    # "text UAR 0.773 [0.738, 1.000]": a 1-item class drops out of some resamples, unflagged
    rng = np.random.default_rng(0)
    classes = ["angry", "happy", "sad"]
    y = np.array(["angry"] * 15 + ["happy"] * 15 + ["sad"])
    groups = np.array([f"s{i % 5}" for i in range(len(y))])
    rows = pd.DataFrame({"id": [f"i{i}" for i in range(len(y))], "text": "x", "path": ""})
    head = rng.dirichlet(np.ones(3), len(y))
    data = FusionData(rows, classes, y, groups, rng.standard_normal((len(y), 4)), rng.standard_normal((len(y), 4)), head, "test")
    res = evaluate_fusion(data, folds=3, n_boot=50)
    small = [c for c in res.checks if "fewer than 5 items" in c]
    assert small and "(sad)" in small[0]
    assert f"!! {small[0]}" in res.render() and small[0] in res.to_dict()["checks"]
    assert "fewer than 5 items" in plot_fusion(res).axes[0].get_title()


def test_fusion_figure_keeps_every_error_bar_cap_inside_the_frame():
    """An interval ending at 1.0 (or 0.0) had its cap drawn on the frame, cut in half (fusion.png)."""
    d = {"classes": ["angry", "happy", "neutral", "sad"], "folds": 5, "n_items": 40, "checks": [],
         "metrics": {"speech": {"uar": 0.93, "uar_ci": [0.81, 1.0]}, "text": {"uar": 0.05, "uar_ci": [0.0, 0.14]},
                     "early": {"uar": 0.7, "uar_ci": None}}}
    fig = plot_fusion(d)
    ax = fig.axes[0]
    fig.canvas.draw()
    frame = ax.get_window_extent()
    caps = [ln for ln in ax.lines if ln.get_marker() == "_"]
    ys = sorted(y for ln in caps for y in ln.get_ydata())
    assert ys[0] == 0.0 and ys[-1] == 1.0  # the caps of the planted intervals' ends are drawn
    for ln in caps:
        half = ln.get_markeredgewidth() / 2 * fig.dpi / 72 + 1  # a cap's half thickness, and a pixel to spare
        for x, y in zip(ln.get_xdata(), ln.get_ydata()):
            py = ax.transData.transform((x, y))[1]
            assert frame.y0 + half <= py <= frame.y1 - half, (x, y)


def test_a_uar_below_chance_is_flagged_in_a_comparison_as_metrics_flags_it(tmp_path, capsys):
    """`workbench metrics` and `run` print BELOW CHANCE beside a UAR of 0.000 [0.000, 0.000] over 2 classes; `compare`
    showed the same UAR with its zero-width flag only, on screen and in comparison.json / compare.json."""
    rows = [{**synthetic_row(r["id"], emotion=r["emotion"], pred="neutral", variant=r["variant"])} for r in
            _always_wrong("raw") + _always_wrong("loud")]
    rf = write_run(tmp_path / "run", rows, [np.ones(4)] * len(rows))
    other = write_run(tmp_path / "other", rows, [np.ones(4)] * len(rows), dtype="int8")
    cmp = compare_runs([rf, other], n_boot=50)
    assert "!! UAR: BELOW CHANCE, interval and all (chance 0.500 over 2 classes)" in cmp.render()
    assert cmp.to_dict()["metrics"]["A"]["raw"]["flags"]["uar_chance"].startswith("BELOW CHANCE")
    assert main(["compare", str(rf.path), "--bootstrap", "50", "--no-figures", "--out", str(tmp_path / "c")]) == 0
    assert "!! UAR: BELOW CHANCE, interval and all" in capsys.readouterr().out
    saved = json.loads((tmp_path / "c" / "compare.json").read_text())
    assert saved["metrics"]["loud"]["flags"]["uar_chance"].startswith("BELOW CHANCE")


def test_a_fusion_of_a_random_weights_run_says_so_in_its_section_and_its_figure():
    """`workbench report notebooks/06_fusion.ipynb` on the demo run (tiny checkpoint) showed head and speech UARs with
    no random-weights banner anywhere: the notebook has no report header, and neither the section nor fusion.png
    carried the warning that fusion.json holds."""
    from workbench.model.network import RANDOM_WEIGHTS_BANNER
    from workbench.views.reporting import fusion_html

    d = {"classes": ["angry", "happy"], "folds": 2, "n_items": 8, "n_speakers": 4, "chance_uar": 0.5, "text_model": "t",
         "checks": [], "warnings": [], "excluded": {}, "late_weights": [0.5, 0.5], "vs_speech": {},
         "metrics": {"speech": {"uar": 0.5, "uar_ci": [0.2, 0.8], "wa": 0.5, "wa_ci": [0.2, 0.8]}}}
    assert RANDOM_WEIGHTS_BANNER not in str(fusion_html(d)) and "RANDOM" not in plot_fusion(d).axes[0].get_title()
    for marked in ({**d, "warning": RANDOM_WEIGHTS_BANNER}, {**d, "random_weights": True}):
        assert RANDOM_WEIGHTS_BANNER in str(fusion_html(marked)), marked.keys()
        assert "RANDOM WEIGHTS" in plot_fusion(marked).axes[0].get_title()


def test_notebook_06_shows_its_fusion_title_once():
    """Rendered notebook 06 showed "Speech + text fusion" twice: its page title and the section's own heading.  The
    notebook asks the section for no heading; a report (whose page is not about fusion alone) keeps it."""
    import ast
    from pathlib import Path

    import nbformat

    from workbench.views.reporting import fusion_html

    d = {"classes": ["angry", "happy"], "folds": 2, "n_items": 8, "n_speakers": 4, "chance_uar": 0.5, "text_model": "t",
         "checks": [], "warnings": [], "excluded": {}, "late_weights": [0.5, 0.5], "vs_speech": {},
         "metrics": {"speech": {"uar": 0.5, "uar_ci": [0.2, 0.8], "wa": 0.5, "wa_ci": [0.2, 0.8]}}}
    assert str(fusion_html(d)).count("Speech + text fusion") == 1
    assert "Speech + text fusion" not in str(fusion_html(d, heading=False)) and "<table" in str(fusion_html(d, heading=False))
    nb = nbformat.read(Path(__file__).parents[1] / "notebooks" / "06_fusion.ipynb", as_version=4)
    titles = [c.source for c in nb.cells if c.cell_type == "markdown" and "# Speech + text fusion" in c.source]
    calls = [node for c in nb.cells if c.cell_type == "code" for node in ast.walk(ast.parse(c.source))
             if isinstance(node, ast.Call) and getattr(node.func, "attr", None) == "fusion_section"]
    assert len(titles) == 1 and len(calls) == 1
    assert {(k.arg, getattr(k.value, "value", None)) for k in calls[0].keywords} == {("heading", False)}


def test_the_fusion_figure_names_the_transcripts_warnings():
    """fusion.png drew the text bar at chance under a title that said nothing of the warning the screen and
    fusion.json give: the transcripts carry no label information (the corpus speaks each sentence in every emotion)."""
    w = ("the transcripts carry no measurable label information across speakers: a text-only probe reaches UAR 0.250 "
         "(chance 0.250; …). Text and fusion results here measure nothing about the text")
    d = {"classes": ["angry", "happy", "neutral", "sad"], "folds": 4, "n_items": 64, "checks": [], "warnings": [w],
         "metrics": {"speech": {"uar": 0.45, "uar_ci": [0.34, 0.56]}, "text": {"uar": 0.25, "uar_ci": [0.25, 0.25]}}}
    title = plot_fusion(d).axes[0].get_title().replace("\n", " ")
    assert "!! the transcripts carry no measurable label information across speakers" in title, title
    assert "a text-only probe" not in title  # the first clause only: the figure is not the place for the numbers


def test_the_fusion_figure_grows_with_its_checks_and_keeps_its_bars_readable():
    """fusion.png of a random-weights run stacked 17 title lines of checks over a fixed 3.4 in figure: the bars were a
    strip 0.6 in high. The figure grows with the title; the axes keep the height of a figure without checks."""
    d = {"classes": ["angry", "happy", "sad"], "folds": 5, "n_items": 84, "random_weights": True,
         "warnings": ["the transcripts carry no measurable label information across speakers: a text-only probe …"],
         "checks": [f"{m} UAR 0.333 [0.333, 0.333]: AT CHANCE: the interval reaches it, so the figure cannot be told from a "
                    f"uniform guess (chance 0.333 over 3 classes)" for m in ("head", "text", "late")]
                   + [f"{m} UAR: zero-width interval [0.333, 0.333] from 84 item(s): every resample gives the same value, so "
                      "it shows no uncertainty where there is some (not a measured certainty)" for m in ("head", "text", "late")],
         "metrics": {m: {"uar": 0.333, "uar_ci": [0.333, 0.333]} for m in ("head", "speech", "text", "early", "late")}}
    plain = {**d, "checks": [], "warnings": [], "random_weights": False}
    import matplotlib.pyplot as plt

    heights, titles = [], []
    for payload in (plain, d):
        fig = plot_fusion(payload)
        fig.canvas.draw()
        heights.append(fig.axes[0].get_window_extent().height / fig.dpi)
        titles.append(fig.axes[0].title)
        plt.close(fig)
    assert heights[1] >= 0.85 * heights[0], heights  # it was a fifth of it
    assert "late UAR: zero-width interval" in titles[1].get_text().replace("\n", " ")
    # a title that carries failed checks is crimson, as every other flagged figure's (it was the one black one)
    assert titles[1].get_color() == "crimson" and titles[0].get_color() == "black"


def test_the_fusion_section_says_what_each_row_is_and_when_late_is_one_of_them():
    """Notebook 06 (and the report's fusion section) tabled head, speech, text, early and late with no word on what they
    are, and "Late-fusion head weight per fold: 0.0, 0.0, 0.0, 0.0, 0.0" beside a late row equal to the text row."""
    from workbench.views.reporting import fusion_html

    d = {"classes": ["angry", "happy"], "folds": 2, "n_items": 8, "n_speakers": 4, "chance_uar": 0.5, "text_model": "t",
         "checks": [], "warnings": [], "excluded": {}, "late_weights": [0.0, 0.0], "vs_speech": {},
         "metrics": {"speech": {"uar": 0.5, "uar_ci": [0.2, 0.8], "wa": 0.5, "wa_ci": [0.2, 0.8]}}}
    page = " ".join(str(fusion_html(d)).split())
    for words in ("<b>head</b> is the checkpoint's own classifier", "<b>speech</b> a logistic-regression probe",
                  "(the baseline every Δ is against)", "<b>early</b> the probe on both embeddings joined",
                  "w · head + (1 − w) · text probabilities"):
        assert words in page, (words, page)
    assert ("Late-fusion head weight w per fold (0: text alone, 1: head alone): 0.0, 0.0; every fold chose the text "
            "alone, so the late row is the text row.") in page, page
    mixed = " ".join(str(fusion_html({**d, "late_weights": [0.3, 0.0]})).split())
    assert "0.3, 0.0." in mixed and "so the late row is" not in mixed


def test_the_runs_figure_draws_each_runs_majority_baseline_beside_its_wa(tmp_path):
    """The title flagged "WA BELOW THE MAJORITY BASELINE" and the figure drew only the chance-UAR line (found by the walk)."""
    from workbench.analysis.groups import majority_baseline

    rows = [synthetic_row(f"i{k}", emotion="neutral" if k < 8 else "sad", pred="sad") for k in range(10)]
    a = write_run(tmp_path / "a", rows, [np.ones(4)] * len(rows))
    b = write_run(tmp_path / "b", rows, [np.ones(4)] * len(rows), dtype="int8")
    cmp = compare_runs([a, b], n_boot=50)
    ax = plot_runs_comparison(cmp).axes[0]
    wanted = majority_baseline(cmp.reports["A"]["raw"].support())
    assert wanted == ("neutral", 8, 10)
    ys = sorted({round(float(seg[0][1]), 6) for c in ax.collections for seg in c.get_segments()})
    assert 0.8 in ys  # both runs' majority baseline, 8 of 10 always neutral
    assert "majority baseline (WA)" in [t.get_text() for t in ax.get_legend().get_texts()]
    import matplotlib.pyplot as plt

    plt.close(ax.figure)
