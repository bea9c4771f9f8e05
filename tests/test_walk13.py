"""The second newcomer walk through the reports in a browser (walk13): what its screenshots showed."""
import numpy as np
import pandas as pd


def _mixed_comparison():
    from test_probe import synthetic_row
    from workbench.analysis.compare import compare_results
    from workbench.labels import LABEL_KEYS

    rng = np.random.default_rng(0)

    def row(k, variant, pred, top):  # the predicted class scored `top`, the others sharing the rest
        return synthetic_row(f"i{k}", emotion=("angry", "sad")[k % 2], pred=pred, variant=variant,
                             scores={c: top if c == pred else (1 - top) / (len(LABEL_KEYS) - 1) for c in LABEL_KEYS})
    tops = rng.uniform(0.4, 0.9, (2, 40))
    tops[1] = tops[0] + rng.normal(0.0, 0.01, 40)  # small shifts around 0: the tallest bars stand under the upper left
    rows = ([row(k, "raw", ("angry", "sad")[k % 2], tops[0, k]) for k in range(40)]
            + [row(k, "loud", ("angry", "sad")[(k // 3) % 2], tops[1, k]) for k in range(40)])
    df = pd.DataFrame(rows)
    _, (c,), _ = compare_results(df, baseline="raw", n_boot=50)
    return df, c


def test_the_confidence_shift_legend_is_not_drawn_over_the_histogram():
    """The variant comparison page's Δ-confidence histogram had its 'mean shift …' legend in the upper left corner of
    the axes, over the bars (screenshot of the demo report: the legend box covered the bars at −0.02 to +0.005)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.analysis.compare import plot_comparison

    df, c = _mixed_comparison()
    fig = plot_comparison(df, c)
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    ax = fig.axes[0]
    legend = ax.get_legend().get_window_extent(renderer)
    bars = [p.get_window_extent(renderer) for p in ax.patches if p.get_height() > 0 and p.get_width() > 0
            and p.get_facecolor()[3] == 1.0]  # the histogram's bars (the interval's band is translucent)
    assert bars
    assert not any(legend.overlaps(b) for b in bars), legend
    assert "mean shift" in ax.get_legend().get_texts()[0].get_text()
    # and it stays inside the figure, clear of the other panel
    fig_box = fig.bbox
    assert fig_box.x0 <= legend.x0 and legend.x1 <= fig.axes[1].get_window_extent(renderer).x0 and legend.y0 >= fig_box.y0
    plt.close(fig)


def test_the_delta_points_stand_inside_their_panel():
    """ΔWA and ΔUAR were drawn at x = 0 and 1 on an axis from 0 to 1: each marker and its caps were cut in half by the
    panel's edges (demo variant comparison page)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from workbench.analysis.compare import plot_comparison

    df, c = _mixed_comparison()
    fig = plot_comparison(df, c)
    lo, hi = fig.axes[1].get_xlim()
    assert lo <= -0.25 and hi >= 1.25, (lo, hi)
    plt.close(fig)


def test_the_fusion_table_says_what_its_comparison_columns_are():
    """The fusion table's 'ΔUAR vs speech', 'McNemar p' and 'fixed / broke' columns had no word on the page (the rows had
    one): '27 / 1' under 'fixed / broke' left a newcomer guessing what was fixed, and against what."""
    from workbench.views.fusion_html import fusion_html

    d = {"classes": ["angry", "happy"], "folds": 2, "n_items": 8, "n_speakers": 4, "chance_uar": 0.5, "text_model": "t",
         "checks": [], "warnings": [], "excluded": {}, "late_weights": [0.5, 0.5],
         "vs_speech": {"text": {"delta_uar": [0.1, -0.1, 0.3], "mcnemar_p": 0.5, "fixed": 3, "broke": 1}},
         "metrics": {"speech": {"uar": 0.5, "uar_ci": [0.2, 0.8], "wa": 0.5, "wa_ci": [0.2, 0.8]},
                     "text": {"uar": 0.6, "uar_ci": [0.3, 0.9], "wa": 0.6, "wa_ci": [0.3, 0.9]}}}
    page = " ".join(str(fusion_html(d)).split())
    assert "3 / 1" in page
    assert ("<b>fixed / broke</b> the items it labels right where speech is wrong, and wrong where speech is right" in page
            and "<b>McNemar p</b> the test of those two counts" in page), page


def test_a_long_path_in_a_table_cell_may_break_at_its_slashes():
    """The checkpoint comparison's Runs table, its run_dir cells absolute paths, was wider than the page: its engine
    column sat behind a scroll bar (screenshot of the demo page).  A cell that is one long path may now break after a
    slash; its text is unchanged, and short cells and long words without a slash are left alone."""
    import nbformat
    import pandas as pd

    from workbench.views.html import notebook_html

    long = "/home/researcher/projects/emotion/reports/checkpoint_comparison/20261207_161906/run_float32"
    table = pd.DataFrame({"name": ["A"], "run_dir": [long], "dtype": ["float32"], "word": ["x" * 50]}).to_html(index=False)
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("", outputs=[nbformat.v4.new_output("display_data", data={"text/html": table})])]
    page = notebook_html(nb, title="t")
    cell = long.replace("/", "/<wbr>")
    assert f"<td>{cell}</td>" in page, page
    assert "<td>float32</td>" in page and f"<td>{'x' * 50}</td>" in page
    assert page.replace("<wbr>", "").count(long) == 1


def test_a_report_that_cannot_calibrate_for_want_of_items_does_not_say_it_calibrates(tmp_path, monkeypatch):
    """The report on a three-clip folder said "Not calibrated: … needs at least 4 …" and then "This page calibrates at
    alpha 0.1 with the command's default folds; the options named are …": no option was named, and it read as done."""
    from test_conformal_checks import uncalibrated_page

    html = uncalibrated_page(tmp_path, monkeypatch, 3)
    assert "Not calibrated:" in html and "calibration needs at least 4" in html, html
    assert "This page" not in html and "calibrates at alpha" not in html, html


def test_the_sample_rate_widget_figure_names_its_axes_and_its_variant(monkeypatch):
    """SampleRateExplorer's figure (notebook 02) had no time axis under its spectrograms, no axis under the score bars,
    and a legend of 'original' and 'variant' drawn over the top classes' bars: which variant was over the middle panel."""
    import matplotlib

    matplotlib.use("Agg")
    import workbench as wb
    from workbench.views import clip_views

    figs = []
    monkeypatch.setattr(clip_views, "png_widget", lambda fig: (figs.append(fig), clip_views._w().Box())[1])
    view = wb.SampleRateExplorer(wb.DEMO_DATA / "happy_en_44k.wav", model="tiny")
    view.telephone.value = True
    view.run_button.click()
    fig = figs[-1]
    fig.canvas.draw()
    spec_a, spec_b, bars = fig.axes[:3]
    assert spec_a.get_xlabel() == spec_b.get_xlabel() == "time (s)" and bars.get_xlabel() == "score"
    legend = bars.get_legend()
    assert [t.get_text() for t in legend.get_texts()] == ["original", "8000 Hz / soxr / telephone"]
    assert "8000 Hz / soxr / telephone" in spec_b.get_title()
    renderer = fig.canvas.get_renderer()
    box = legend.get_window_extent(renderer)
    assert not any(box.overlaps(p.get_window_extent(renderer)) for p in bars.patches if p.get_width() > 0)


def test_the_reports_sweep_names_the_precision_that_scored_it(tmp_path, monkeypatch):
    """The variant comparison's sweep said "scored with tiny." and showed margins of 0.0605; `workbench sweep` on the same
    clip printed 0.0607 (its --dtype auto chose bfloat16), and nothing on the page said why the digits differ."""
    from workbench.data.demoset import DEMO_DATA
    from workbench.model.ref import ModelRef
    from workbench.views import reporting

    shown = []
    monkeypatch.setattr(reporting, "show_figure", lambda fig, **kw: None)
    monkeypatch.setattr(reporting, "show_html", lambda markup: shown.append(str(markup)))
    reporting.sweep_section(DEMO_DATA / "happy_zh_onset0.wav", "sample-rate", tmp_path / "sweep",
                            ModelRef("tiny", device="cpu", dtype="float32"))
    page = " ".join(shown)
    assert ("scored with <code>tiny</code> in float32 (<code>workbench sweep</code> takes <code>--dtype auto</code> unless "
            "given <code>--dtype float32</code>).") in page, page
    assert "in float32" not in reporting.sweep_heading("/x/a.wav", "sample-rate", "tiny")  # no precision known: none said
