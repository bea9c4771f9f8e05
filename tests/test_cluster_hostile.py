"""Hostile speaker columns for the cluster bootstrap: 10^5 distinct speakers, one speaker on every row, and
NaN/None/""/spaces mixed.  Memory stays bounded (a block of resamples at a time) and the numbers are those of the
definition: draw as many speakers as there are, with replacement, and take every clip of each drawn one."""

from __future__ import annotations

import tracemalloc

import numpy as np

from workbench.analysis.stats import (bootstrap_ci, cluster_draws, cluster_ids, ece_interval, paired_bootstrap_delta,
                                      resample_intervals, speaker_resampling)

MIXED = [None, float("nan"), "", " ", "s1", "s1 ", "s2", "S2", "s3", "s4", "s5", None, "s1", "s6", "s2"]


def test_ece_interval_with_a_speaker_per_row_keeps_its_memory_bounded():
    """20 000 speakers, 1000 resamples: the (resamples, items) weights at once took about 480 MB."""
    rng = np.random.default_rng(0)
    m = 20_000
    clusters, unit = speaker_resampling([f"s{i}" for i in range(m)])
    assert unit["clusters"] == m
    tracemalloc.start()
    try:
        lo, hi = ece_interval(rng.random(m), rng.random(m) < 0.5, n=1000, clusters=clusters)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert 0 <= lo <= hi <= 1
    assert peak < 150e6, peak


def test_resample_intervals_with_many_speakers_draw_in_bounded_blocks_and_the_same_numbers():
    rng = np.random.default_rng(1)
    m = 400
    t, p = rng.integers(0, 3, m), rng.integers(0, 3, m)
    clusters = [f"s{i % 150}" for i in range(m)]
    whole = resample_intervals(t, p, [0, 1, 2], n=300, clusters=clusters)
    assert resample_intervals(t, p, [0, 1, 2], n=300, clusters=clusters, block_items=500) == whole
    assert resample_intervals(t, p, [0, 1, 2], n=300, clusters=clusters, block_items=1) == whole


def _by_definition(rng, ids, n, fn, t, p):
    members = np.split(np.argsort(ids, kind="stable"), np.cumsum(np.bincount(ids))[:-1])
    out = []
    for _ in range(n):
        i = np.concatenate([members[g] for g in rng.integers(0, len(members), len(members))])
        out.append(fn(t[i], p[i]))
    return out


def test_bootstrap_ci_and_paired_delta_resample_every_clip_of_each_drawn_speaker():
    rng = np.random.default_rng(2)
    m = len(MIXED) * 20
    clusters = (MIXED * 20)
    t, p = rng.integers(0, 3, m).astype(str), rng.integers(0, 3, m).astype(str)
    acc = lambda a, b: float(np.mean(a == b))  # noqa: E731
    values = _by_definition(np.random.default_rng(0), cluster_ids(clusters), 200, acc, t, p)
    # the t-corrected (expanded) percentile interval over G speakers: percentiles at 2 Phi(sqrt(G/(G-1)) t_{G-1}) - 1
    from scipy.stats import norm, t as student
    g = len(set(cluster_ids(clusters)))
    wide = 2 * norm.cdf(np.sqrt(g / (g - 1)) * student.ppf(0.975, g - 1)) - 1
    lo, hi = np.percentile(values, [100 * (1 - wide) / 2, 100 * (1 + wide) / 2])
    assert bootstrap_ci(acc, t, p, n=200, clusters=clusters) == (float(lo), float(hi))
    delta = paired_bootstrap_delta(acc, t, p, t, n=50, clusters=clusters)
    assert delta[0] > 0 and delta[1] <= delta[0] <= delta[2]


def test_mixed_missing_speakers_are_each_their_own_cluster_and_spaces_do_not_make_a_speaker():
    clusters, unit = speaker_resampling(MIXED)
    # s1/"s1 " one speaker, S2 and s2 two; None, NaN, "", " " and the second None: five singletons
    assert unit["clusters"] == len({"s1", "s2", "S2", "s3", "s4", "s5", "s6"}) + 5
    assert len(set(cluster_ids(clusters))) == unit["clusters"]


def test_one_speaker_on_every_row_falls_back_to_items_and_says_so():
    clusters, unit = speaker_resampling(["spk"] * 100_000)
    assert clusters is None and unit["unit"] == "item" and unit["clusters"] == 1 and "only 1 speaker" in unit["note"]


def test_cluster_draws_count_every_draw():
    draws = cluster_draws(np.random.default_rng(0), 7, 5)
    assert draws.shape == (5, 7) and (draws.sum(axis=1) == 7).all()


def test_a_breakdown_over_thousands_of_speakers_lists_twenty_groups_on_screen_and_counts_the_rest():
    """`metrics` of a run with one speaker per clip (20,000 of them): the "by speaker" line and the "left out of the
    gap" line named every group, a 2 MB screen line.  The screen lists 20 and counts the rest; the JSON keeps all."""
    import pandas as pd

    from test_probe import synthetic_row
    from workbench.analysis.metrics import evaluate

    rows = [synthetic_row(f"u{i}", emotion=("happy", "sad")[i % 2], pred=("happy", "sad")[i // 2 % 2], speaker=f"spk{i:03d}")
            for i in range(300)]
    report = evaluate(pd.DataFrame(rows), n_boot=50, by=("speaker",))
    text = report.render()
    line = next(x for x in text.splitlines() if x.startswith("  by speaker: "))
    assert line.count("(n=1)") == 20 and line.endswith("… and 280 more groups (all in metrics.json)"), line[-200:]
    gap = next(x for x in text.splitlines() if x.startswith("    left out of the gap: "))
    assert gap.endswith("… and 280 more groups (all in metrics.json)") and len(gap) < 5000
    assert len(report.breakdowns["speaker"]) == 300  # what metrics.json is made from: every group


def test_a_breakdown_figure_over_thousands_of_groups_draws_the_largest_and_says_so():
    """plot_breakdown drew a 0.42-inch row per group: 20,000 speakers made an 8,400-inch figure (382 s, GBs for
    `metrics` with figures).  It draws the 40 largest and says so under the axes."""
    import matplotlib.pyplot as plt
    import pandas as pd

    from test_probe import synthetic_row
    from workbench.analysis.metrics import plot_breakdown

    rows = [synthetic_row(f"u{i}", emotion=("happy", "sad")[i % 2], pred=("happy", "sad")[i // 2 % 2],
                          speaker="big" if i < 30 else f"spk{i:03d}") for i in range(300)]
    fig = plot_breakdown(pd.DataFrame(rows), "speaker", n_boot=50)
    assert fig.get_size_inches()[1] < 30
    ticks = [t.get_text() for t in fig.axes[0].get_yticklabels()]
    assert len(ticks) == 40 and any(t.startswith("big (n=30)") for t in ticks)  # the largest group is among them
    texts = " ".join(t.get_text() for t in fig.axes[0].texts)
    assert "The 40 largest of the 271 groups drawn; metrics.json has them all." in " ".join(texts.split())
    plt.close(fig)
