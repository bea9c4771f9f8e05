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
    # the target line runs behind every size label, not through it (the RAVDESS walk: "6.6 ✗" struck through at 0.90)
    target = next(line for line in ax.lines if str(line.get_label()).startswith("target coverage"))
    sizes = [t for t in labels if t.get_text()[:1].isdigit()]
    assert sizes and all(t.get_zorder() > target.get_zorder() for t in sizes)
    assert all(t.get_bbox_patch() is not None and t.get_bbox_patch().get_facecolor()[:3] == (1.0, 1.0, 1.0) for t in sizes)
    plt.close(fig)


def _markers_cut_by_the_frame(fig) -> list[tuple[float, float]]:
    """Data points of the axes' scatter markers and line markers whose drawn disc reaches past the axes' frame."""
    ax = fig.axes[0]
    fig.canvas.draw()
    frame = ax.get_window_extent()
    to_px = fig.dpi / 72
    cut = []
    for coll in ax.collections:
        sizes = coll.get_sizes()
        for k, (x, y) in enumerate(coll.get_offsets()):
            r = np.sqrt(sizes[k % len(sizes)]) / 2 * to_px
            px, py = ax.transData.transform((x, y))
            if px - r < frame.x0 or px + r > frame.x1 or py - r < frame.y0 or py + r > frame.y1:
                cut.append((float(x), float(y)))
    for line in ax.lines:
        if line.get_marker() in ("None", None, ""):
            continue
        r = line.get_markersize() / 2 * to_px
        for x, y in zip(line.get_xdata(), line.get_ydata()):
            px, py = ax.transData.transform((x, y))
            if px - r < frame.x0 or px + r > frame.x1 or py - r < frame.y0 or py + r > frame.y1:
                cut.append((float(x), float(y)))
    return cut


def test_reliability_points_on_0_and_1_are_whole_and_small_bins_are_hollow_with_their_n():
    """A bin at confidence ~1.0 and accuracy 1.0 was cut in half by the frame; bins of 1-4 items looked like any other."""
    from matplotlib.colors import to_rgba

    from test_calibration import planted_run
    from workbench.analysis.calibration import calibrate, plot_reliability_before_after
    from workbench.analysis.calibration_plots import SMALL_BIN

    df = planted_run(n_speakers=4, per_speaker=30, t_true=1.0, seed=1)
    cols = [f"score_{k}" for k in LABEL_KEYS]
    sharp = df[cols].to_numpy() ** 2  # confident scores: the top bin's mean confidence is 0.988
    df[cols] = sharp / sharp.sum(axis=1, keepdims=True)
    df["confidence"] = df[cols].to_numpy().max(axis=1)
    rep = calibrate(df, n_boot=10, folds=4)
    bins = [b for b in rep.reliability_before if b["n"]]
    assert bins[-1]["confidence"] > 0.98 and bins[-1]["n"] > 50  # the defect's corner: the largest marker next to x = 1
    small = [(b["confidence"], b["accuracy"], b["n"]) for b in bins if b["n"] < SMALL_BIN]
    assert small  # the data has bins of fewer than 5 items
    fig = plot_reliability_before_after(rep)
    assert _markers_cut_by_the_frame(fig) == []
    ax = fig.axes[0]
    hollow = {(round(float(x), 6), round(float(y), 6)) for c in ax.collections
              if len(c.get_offsets()) and np.allclose(c.get_facecolors()[:, :3], to_rgba("white")[:3]) for x, y in c.get_offsets()}
    filled = {(round(float(x), 6), round(float(y), 6)) for c in ax.collections
              if len(c.get_offsets()) and not np.allclose(c.get_facecolors()[:, :3], to_rgba("white")[:3]) for x, y in c.get_offsets()}
    assert {(round(x, 6), round(y, 6)) for x, y, _ in small} <= hollow
    assert not {(round(b["confidence"], 6), round(b["accuracy"], 6)) for b in bins if b["n"] >= SMALL_BIN} & hollow and filled
    assert any(f"fewer than {SMALL_BIN} items" in t.get_text() for t in ax.get_legend().get_texts())
    counts = [t.get_text() for t in ax.texts]
    assert counts and set(counts) <= {f"n={n}" for *_, n in small} | {f"n={b['n']}" for b in rep.reliability_after if b["n"]}
    plt.close(fig)


def test_the_run_reliability_diagram_draws_a_mean_confidence_dot_on_1_whole():
    df = _two_adjacent_bins(5, 5)
    df.loc[df.index[5:], "confidence"] = 0.999
    df.loc[df.index[:5], "confidence"] = 0.0  # an (improbable) zero-confidence bin on the other edge
    rep = evaluate(df, n_boot=20)
    assert [round(b["confidence"], 3) for b in rep.reliability if b["n"]] == [0.0, 0.999]
    fig = plot_reliability(rep)
    assert _markers_cut_by_the_frame(fig) == []
    plt.close(fig)


def test_the_metrics_reliability_bars_follow_the_calibration_figures_hollow_bin_rule():
    """The experiment report's metrics reliability figure drew bins of n=1 and n=2 as full bars while the calibration
    figure drew bins under 5 items hollow: one rule (stats.SMALL_BIN) for both figures."""
    import matplotlib

    matplotlib.use("Agg")
    import pandas as pd

    from workbench.analysis import calibration_plots, stats
    from workbench.analysis.metrics import evaluate, plot_reliability

    assert calibration_plots.SMALL_BIN is stats.SMALL_BIN
    rows = []
    for i, conf in enumerate([0.95] * 12 + [0.55] * 2 + [0.35]):  # bins of 12, 2 and 1 items
        scores = {k: (conf if k == "happy" else (1 - conf) / 8) for k in LABEL_KEYS}
        rows.append({"id": f"u{i}", "variant": "raw", "status": "ok", "emotion": "happy" if i % 3 else "sad", "pred": "happy",
                     "confidence": conf, **{f"score_{k}": v for k, v in scores.items()}})
    r = evaluate(pd.DataFrame(rows), n_boot=10, by=())
    fig = plot_reliability(r)
    bars = fig.axes[0].patches
    n_of = {b["n"] for b in r.reliability if b["n"]}
    assert n_of == {12, 2, 1} and len(bars) == 3
    filled = sorted((round(p.get_x() + p.get_width() / 2, 2), p.get_facecolor()[3] > 0) for p in bars)
    assert [f for _, f in filled] == [False, False, True], filled  # n=1 and n=2 hollow, n=12 filled
    assert any("hollow: fewer than 5 items" in t.get_text() for t in fig.axes[0].get_legend().get_texts())
