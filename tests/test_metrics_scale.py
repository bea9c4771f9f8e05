"""`metrics` at scale: a run with one speaker per clip (20,000 groups of one item) kept every group's 1000 resamples of
12 figures for gaps none of them was eligible for (2.0 GB).  The per-group analysis now folds each group's resamples into
the gaps' running extremes, and gives the same numbers."""

from __future__ import annotations

import tracemalloc

import numpy as np

from workbench.analysis.groups import analyse_groups
from workbench.analysis.group_resampling import _confusions, _scores, group_members

CLASSES = ["angry", "happy", "neutral", "sad"]


def test_a_breakdown_of_thousands_of_one_item_groups_keeps_its_memory_bounded():
    rng = np.random.default_rng(0)
    m = 2000
    t = np.asarray(CLASSES)[rng.integers(0, 4, m)]
    p = np.where(rng.random(m) < 0.5, t, "neutral")
    tracemalloc.start()
    try:
        out = analyse_groups(t, p, [f"s{i:05d}" for i in range(m)], CLASSES, by="speaker", n_boot=1000)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert len(out.table) == m and out.table["too_small"].all()
    assert peak < 40e6, peak  # every group's resamples kept: about 190 MB here


def test_the_gaps_are_those_of_every_groups_resamples_stacked():
    """By definition: each group's stratified resamples (same seed, groups in sorted order), the gap of each resample
    the largest minus the smallest over the eligible groups."""
    rng = np.random.default_rng(1)
    m = 600
    t = np.asarray(CLASSES)[rng.integers(0, 4, m)]
    p = np.where(rng.random(m) < 0.3 + 0.1 * (np.arange(m) % 6), t, "sad")
    groups = np.asarray([f"g{i % 6}" for i in range(m)])
    out = analyse_groups(t, p, groups, CLASSES, by="g", n_boot=200, seed=4)
    draw = np.random.default_rng(4)
    codes = {c: i for i, c in enumerate(CLASSES)}
    tc, pc = np.array([codes[c] for c in t]), np.array([codes[c] for c in p])
    reps = [_scores(_confusions(tc[sel], pc[sel], 4, n_boot=200, rng=draw)) for _, sel in zip(*group_members(groups))]
    stacked = np.vstack([r["uar"] for r in reps])
    lo, hi = np.percentile(stacked.max(axis=0) - stacked.min(axis=0), [2.5, 97.5])
    assert (out.disparities["uar"]["lo"], out.disparities["uar"]["hi"]) == (float(lo), float(hi))
    recall = np.vstack([r["recall"][:, 1] for r in reps])
    lo, hi = np.percentile(recall.max(axis=0) - recall.min(axis=0), [2.5, 97.5])
    assert (out.disparities["recall"]["happy"]["lo"], out.disparities["recall"]["happy"]["hi"]) == (float(lo), float(hi))


def test_the_breakdown_figures_draw_the_reports_groups_without_a_second_analysis(monkeypatch):
    """`metrics` with figures analysed every group twice (once for metrics.json, once more for each figure): the
    figure's table is now made from the report's breakdown, and is the table a second analysis gives."""
    import pandas as pd
    from test_probe import synthetic_row

    import workbench.analysis.metrics as metrics

    rng = np.random.default_rng(2)
    rows = [synthetic_row(f"i{i}", emotion=CLASSES[i % 4], pred=CLASSES[int(rng.integers(0, 4))], speaker=f"s{i % 30}") for i in range(400)]
    for i, r in enumerate(rows):
        r["gender"] = "fm"[i % 30 % 2]
    df = pd.DataFrame(rows)
    report = metrics.evaluate(df, n_boot=100, seed=3, by=("speaker", "gender"))
    for col in ("speaker", "gender"):
        again = metrics.breakdown_table(df, col, n_boot=100, seed=3)
        frame = metrics.breakdown_frame(report.breakdowns[col])
        pd.testing.assert_frame_equal(frame, again[frame.columns.tolist()], check_dtype=False)
    monkeypatch.setattr(metrics, "breakdown_table", lambda *a, **k: (_ for _ in ()).throw(AssertionError("analysed again")))
    fig = metrics.plot_breakdown(df, "gender", n_boot=100, seed=3, overall=report, table=metrics.breakdown_frame(report.breakdowns["gender"]))
    assert [t.get_text().split(" (")[0] for t in fig.axes[0].get_yticklabels()] == ["f", "m"]


def test_groups_whose_resamples_are_all_alike_give_the_numbers_of_the_full_computation():
    """One-clip groups (and groups whose clips of each class are predicted alike) skip the resample arithmetic; the
    groups after them must still get the resamples of the full computation, and their own intervals are their value."""
    from workbench.analysis.group_resampling import _interval

    rng = np.random.default_rng(5)
    m = 300
    t = np.asarray(CLASSES)[rng.integers(0, 4, m)]
    p = np.where(rng.random(m) < 0.6, t, "sad")
    groups = np.asarray([f"g{i % 4}" if i < 200 else f"one{i:03d}" for i in range(m)])
    t[(groups == "g1")], p[(groups == "g1")] = "happy", "angry"  # a big group predicted alike: 50 clips, one draw each
    out = analyse_groups(t, p, groups, CLASSES, by="g", n_boot=150, seed=8).table.set_index("group")
    draw = np.random.default_rng(8)
    codes = {c: i for i, c in enumerate(CLASSES)}
    tc, pc = np.array([codes[c] for c in t]), np.array([codes[c] for c in p])
    for name, sel in zip(*group_members(groups)):
        boot = _scores(_confusions(tc[sel], pc[sel], 4, n_boot=150, rng=draw))
        for metric in ("wa", "uar", "macro_f1"):
            assert (out.loc[name, f"{metric}_lo"], out.loc[name, f"{metric}_hi"]) == _interval(boot[metric], 0.95), (name, metric)
