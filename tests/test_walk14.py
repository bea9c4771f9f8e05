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
