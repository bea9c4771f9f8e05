"""The report's figures as a reader sees them: labels that can be read (not drawn over each other)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from workbench.analysis.metrics import evaluate, plot_reliability
from workbench.labels import LABEL_KEYS

plt = pytest.importorskip("matplotlib.pyplot")


def _two_adjacent_bins(n_low: int = 40, n_high: int = 12) -> pd.DataFrame:
    """The demo run's shape: every confidence near 0.2, split over two neighbouring 1/15 bins, all wrong."""
    rows = []
    for i in range(n_low + n_high):
        conf = 0.19 if i < n_low else 0.21  # bins [0.133, 0.2) and [0.2, 0.267)
        scores = {f"score_{k}": (conf if k == "happy" else (1 - conf) / 8) for k in LABEL_KEYS}
        rows.append({"id": f"i{i}", "variant": "raw", "status": "ok", "emotion": "sad", "pred": "happy", "confidence": conf,
                     "speaker": f"s{i % 3}", **scores})
    return pd.DataFrame(rows)


def _overlapping(fig, texts) -> list[tuple[str, str]]:
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    boxes = [(t.get_text(), t.get_window_extent(renderer)) for t in texts]
    return [(a, b) for i, (a, ba) in enumerate(boxes) for b, bb in boxes[i + 1:] if ba.overlaps(bb)]


@pytest.mark.parametrize("own_axes", [True, False])
def test_reliability_bin_counts_of_neighbouring_bins_do_not_overlap(own_axes):
    rep = evaluate(_two_adjacent_bins(), n_boot=20)
    filled = [b for b in rep.reliability if b["n"]]
    assert [b["n"] for b in filled] == [40, 12]  # the two neighbouring bins of the defect ("n=40n=12")
    if own_axes:
        fig = plot_reliability(rep)
    else:
        fig, ax = plt.subplots(figsize=(4, 3.5))
        plot_reliability(rep, ax=ax)
    labels = [t for t in fig.axes[0].texts if t.get_text().startswith("n=")]
    assert sorted(t.get_text() for t in labels) == ["n=12", "n=40"]  # both counts are still said
    assert _overlapping(fig, labels) == []
    plt.close(fig)


def test_reliability_counts_stay_level_where_they_fit():
    """Rotation only where needed: counts of bins far apart read level."""
    df = _two_adjacent_bins(5, 5)
    df.loc[df.index[5:], "confidence"] = 0.9
    rep = evaluate(df, n_boot=20)
    fig = plot_reliability(rep)
    labels = [t for t in fig.axes[0].texts if t.get_text().startswith("n=")]
    assert [t.get_rotation() for t in labels] == [0.0, 0.0] and _overlapping(fig, labels) == []
    plt.close(fig)


def test_conformal_set_size_legend_covers_no_bar_and_no_coverage_label():
    """Seen in the demo report: the legend sat on the first class's bars and hid their coverage labels."""
    from workbench.analysis.calibration import calibrate, plot_set_sizes

    rng = np.random.default_rng(0)
    classes = ["angry", "happy", "neutral", "sad", "surprised"]
    rows = []
    for i in range(120):
        true = classes[i % 5]
        p = rng.dirichlet(np.ones(len(LABEL_KEYS)) * 0.3)  # near-uniform scores: the sets hold almost every class
        rows.append({"id": f"i{i}", "variant": "raw", "status": "ok", "emotion": true, "speaker": f"s{i % 6}",
                     "pred": LABEL_KEYS[int(np.argmax(p))], "confidence": float(p.max()),
                     **{f"score_{k}": float(v) for k, v in zip(LABEL_KEYS, p)}})
    rep = calibrate(pd.DataFrame(rows), by="speaker", n_boot=10)
    fig = plot_set_sizes(rep)
    ax = fig.axes[0]
    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    legend = ax.get_legend().get_window_extent(renderer)
    labels = [t for t in ax.texts if t.get_text()]
    bars = [b for b in ax.patches if b.get_height() > 0]
    assert labels and bars
    assert [t.get_text() for t in labels if t.get_window_extent(renderer).overlaps(legend)] == []
    assert [b.get_x() for b in bars if b.get_window_extent(renderer).overlaps(legend)] == []
    plt.close(fig)
