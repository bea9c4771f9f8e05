"""The third newcomer walk through the reports in a browser (walk14): what its screenshots showed."""
import dataclasses

import pytest


def _clustered_comparison(variant="denoise_then_trim_at_30_db", baseline="raw_original_audio"):
    from test_walk13 import _mixed_comparison

    df, c = _mixed_comparison()
    df = df.replace({"variant": {"raw": baseline, "loud": variant}})
    # the demo run's case: five speakers, so the p shown is the clustered test's (compare_N.png of the demo set)
    return df, dataclasses.replace(c, baseline=baseline, variant=variant,
                                   mcnemar_clustered={"p": 1.0, "clusters": 5, "test": "clustered McNemar"})


def test_the_mcnemar_title_of_the_compare_figure_stays_inside_the_figure():
    """compare_1.png of the demo run cut its right panel's title at the figure's edge: 'vs raw: McNemar b=0 c=0 p = 1
    (clustered by speak'; and b, c were never said (right only under the baseline / only under the variant)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.analysis.compare import plot_comparison

    df, c = _clustered_comparison()
    fig = plot_comparison(df, c)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    title = fig.axes[1].title
    box = title.get_window_extent(renderer)
    assert fig.bbox.x0 <= box.x0 and box.x1 <= fig.bbox.x1 and box.y1 <= fig.bbox.y1, (box, fig.bbox)
    text = title.get_text()
    assert f"McNemar b={c.mcnemar_b} c={c.mcnemar_c} p = " in text and "each of the 5 speakers counts as one unit" in " ".join(text.split())
    assert "right only under raw_original_audio" in " ".join(text.split())
    # and clear of the left panel's title; the taller title must not push the histogram's legend onto its axis label
    assert not box.overlaps(fig.axes[0].title.get_window_extent(renderer))
    legend = fig.axes[0].get_legend().get_window_extent(renderer)
    assert not legend.overlaps(fig.axes[0].xaxis.label.get_window_extent(renderer))
    plt.close(fig)


def test_the_compare_histogram_ticks_do_not_run_into_each_other():
    """The telephone comparison's histogram labelled −0.015 … 0.015 every 0.005 under a 4-inch panel: the tick labels
    touched and read as one string ('−0.015−0.010−0.005 0.000')."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.analysis.compare import plot_comparison

    import numpy as np
    import pandas as pd

    from test_probe import synthetic_row
    from workbench.analysis.compare import compare_results
    from workbench.labels import LABEL_KEYS

    def row(k, variant, top):  # the predicted class scored `top`, the others sharing the rest
        return synthetic_row(f"i{k}", emotion="angry", pred="angry", variant=variant,
                             scores={c: top if c == "angry" else (1 - top) / (len(LABEL_KEYS) - 1) for c in LABEL_KEYS})
    shifts = np.linspace(-0.016, 0.016, 40)  # the demo's telephone shifts: −0.016 … +0.016
    df = pd.DataFrame([row(k, "raw", 0.5) for k in range(40)] + [row(k, "telephone", 0.5 + d) for k, d in enumerate(shifts)])
    _, (c,), _ = compare_results(df, baseline="raw", n_boot=20)
    fig = plot_comparison(df, c)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    lo, hi = fig.axes[0].get_xlim()
    boxes = sorted((t.get_window_extent(renderer) for t in fig.axes[0].get_xticklabels()
                    if t.get_text() and lo <= t.get_position()[0] <= hi), key=lambda b: b.x0)
    assert len(boxes) >= 3
    gaps = [b.x0 - a.x1 for a, b in zip(boxes, boxes[1:])]
    assert min(gaps) >= 4, gaps
    plt.close(fig)


def test_long_variant_names_keep_the_compare_labels_inside_their_panels():
    """With long variant names the Δ panel's axis label ('denoise_then_trim_at_30_db − raw_original_audio', turned on
    its side) ran past the panel's top and bottom, and the histogram's axis label past the figure's left edge."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.analysis.compare import plot_comparison

    df, c = _clustered_comparison()
    fig = plot_comparison(df, c)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    for ax in fig.axes:
        frame, label = ax.get_window_extent(renderer), ax.yaxis.label.get_window_extent(renderer)
        assert frame.y0 - 2 <= label.y0 and label.y1 <= frame.y1 + 2, (label, frame)
    xlabel = fig.axes[0].xaxis.label.get_window_extent(renderer)
    assert fig.bbox.x0 <= xlabel.x0 and xlabel.x1 <= fig.axes[1].yaxis.label.get_window_extent(renderer).x0
    plt.close(fig)


#: the explained-worst table's heads (views/reporting.py): nine columns, the widest table of the experiment report
_WORST_HEADS = ["method", "maps that passed every check", "insertion better than random", "deletion better than random",
                "curve check failed (NOT FAITHFUL: worse than random on one, or better on neither)", "randomisation check failed",
                "randomisation check skipped", "stability check failed (UNSTABLE)", "completeness check failed"]


@pytest.mark.browser
def test_a_wide_report_table_fits_a_narrow_window_and_a_printed_page(tmp_path):
    """At 800 px the experiment report's explained-worst table (934 px in a 768 px column) scrolled sideways, and
    printed to A4 (page.pdf) its box was cut at the page's edge: 'stability check failed (UNSTABLE)' and 'completeness
    check failed' were not on paper at all."""
    import nbformat

    from test_browser import CHROMIUM, _browser_or_skip
    from workbench.views.html import notebook_html, table_html

    _browser_or_skip()
    from playwright.sync_api import sync_playwright

    nb = nbformat.v4.new_notebook()
    cell = nbformat.v4.new_code_cell("")
    rows = [("tf-occlusion", "3 of 5", "1 of 5", "4 of 5", 1, 1, 0, 0, 0), ("ig", "0 of 5", "4 of 5", "2 of 5", 0, 0, 0, 5, 0)]
    cell.outputs = [nbformat.v4.new_output("display_data", data={"text/html": str(table_html(_WORST_HEADS, rows))})]
    nb.cells = [cell]
    page_file = tmp_path / "page.html"
    page_file.write_text(notebook_html(nb, title="t"), encoding="utf-8")
    with sync_playwright() as pw:
        browser = pw.chromium.launch(executable_path=CHROMIUM, headless=True, args=["--no-sandbox", "--disable-gpu"])
        try:
            for media, width in (("screen", 800), ("print", 794)):  # 794 px: an A4 sheet at 96 dpi
                page = browser.new_page(viewport={"width": width, "height": 900})
                page.emulate_media(media=media)
                page.goto(page_file.resolve().as_uri(), wait_until="load")
                sizes = page.evaluate("""() => [...document.querySelectorAll('table')].map(t => [t.scrollWidth, t.clientWidth,
                                          t.getBoundingClientRect().right])""")
                assert sizes
                for scroll, client, right in sizes:
                    assert scroll <= client + 1 and right <= width, (media, width, scroll, client, right)
                page.close()
        finally:
            browser.close()


def test_the_reports_per_class_table_names_one_resampling_unit_for_all_three_intervals(tmp_path, monkeypatch):
    """The experiment report's per-class table headed 'precision [95% CI, 5 speakers]' and 'recall [95% CI, 5 speakers]'
    but 'F1 [95% bootstrap CI]': the F1 interval resamples the same speakers (the screen says 'precision, recall and F1,
    as the headline's'), yet the page left a reader to guess it resampled clips."""
    import numpy as np
    from test_probe import synthetic_row, write_run

    from workbench.views import reporting

    truth = ["angry", "happy", "sad"] * 10
    rows = [synthetic_row(f"i{k}", emotion=t, pred=("angry", "happy", "sad")[(k * 7) % 3], speaker=f"s{k % 6}")
            for k, t in enumerate(truth)]
    rf = write_run(tmp_path / "run", rows, np.zeros((len(rows), 4), dtype=np.float32))
    shown = []
    monkeypatch.setattr(reporting, "show_html", shown.append)
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **_: None)
    reporting.metrics_section(rf.path, by=[], n_boot=50)
    page = "".join(map(str, shown))
    for head in ("precision [95% CI, 6 speakers]", "recall [95% CI, 6 speakers]", "F1 [95% bootstrap CI, 6 speakers]"):
        assert head in page, head


@pytest.mark.parametrize("command", ["compare", "probe", "fuse"])
def test_the_help_says_what_the_intervals_resample(command, capsys):
    """compare, probe and fuse print 'intervals resample 5 speakers' and compare 'clustered McNemar … over the 5
    speakers', but their --help said only 'bootstrap resamples for the intervals' and never what 'clustered' meant."""
    from workbench.cli import main

    with pytest.raises(SystemExit):
        main([command, "--help"])
    text = " ".join(capsys.readouterr().out.split())
    assert "resample speakers where the manifest names them (all clips of a drawn speaker together), else clips" in text
    if command == "compare":
        assert "clustered test's: each speaker counts as one unit" in text


def test_a_sweep_interval_bound_that_rounds_to_zero_is_not_printed_as_zero():
    """`workbench sweep small.csv --kind snr` printed snr_10's change as '-0.004 [-0.009, -0.000] 3', unflagged, between
    rows flagged '≈ reference: interval holds 0': the interval did not hold 0 (its top was -0.0004), the cell said it did."""
    from workbench.runs.sweep import _confidence_cells

    row = {"mean_confidence": 0.205, "mean_confidence_ci_low": 0.19, "mean_confidence_ci_high": 0.22, "change_paired": 3,
           "reference": False, "confidence_change": -0.0044, "change_ci_low": -0.0087, "change_ci_high": -0.0004,
           "change_within_interval": False}
    _, change = _confidence_cells(row)
    assert change.startswith("-0.004 [-0.009, -0.0004] 3") and "-0.000]" not in change, change
    _, holds = _confidence_cells({**row, "change_ci_high": 0.0012, "change_within_interval": True})
    assert "[-0.009, +0.001] 3  ≈ reference" in holds, holds


def test_finetune_names_its_interval_unit_as_run_does():
    """`workbench run` printed '(n=52; …; intervals resample 5 speakers)', `workbench finetune` on the same run
    '(n=52; …; intervals over 5 speakers)': two wordings of one fact, a newcomer asked whether they differed."""
    from workbench.analysis.finetune.core import _figures

    unit = {"unit": "speaker", "clusters": 5, "short": "5 speakers", "note": "", "words": ""}
    line = _figures({"wa": 0.5, "wa_ci": (0.4, 0.6), "n": 52, "chance_uar": 0.2, "classes_present": 5, "ci_unit": unit})
    assert line.endswith("; intervals resample 5 speakers)"), line


def test_compares_mean_shift_bound_that_rounds_to_zero_keeps_its_digit():
    """The demo's telephone comparison printed and drew 'mean shift +0.002 [-0.000, +0.004]' (the bound was -0.0004)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.analysis.compare import plot_comparison

    df, c = _clustered_comparison()
    c = dataclasses.replace(c, confidence_shift_mean=0.0019, confidence_shift_ci=(-0.0004, 0.0043), n_shift=40)
    assert "[-0.0004, +0.004] (95 % t interval over items, n=40)" in c.render()
    fig = plot_comparison(df, c)
    assert "[-0.0004, +0.004]" in fig.axes[0].get_legend().get_texts()[0].get_text()
    plt.close(fig)
